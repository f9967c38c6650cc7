//! Finding the session cookie in a request's `Cookie` headers, and what it says: no cookie of
//! ours, one that no secret in the ring opens, or an id.

use actix_web::http::header::{COOKIE, HeaderMap};

use super::seal::LONGEST_VALUE;
use super::secret::{CookieSecret, SecretRing};
use super::{CookieConfig, Rejection, percent};
use crate::id::SessionId;

/// How many cookies named like ours are looked at, the first ones in the request. A browser
/// sends more than one only when cookies of the name were set for several paths or domains, so
/// a few are plenty; a client that sends a thousand gets no more work done than with these.
const LOOKED_AT: usize = 4;

/// The longest value that can be ours: a sealed value with every character percent-escaped.
const LONGEST_ESCAPED: usize = 3 * LONGEST_VALUE;

/// The ids of cookies of ours that opened after the first, in the order they came.
pub(crate) type Fallbacks = [Option<Fallback>; LOOKED_AT - 1];

/// A cookie of our name after the request's own that opened: its id, whether the current secret
/// opened it, and its version stamp, as [`Incoming::Valid`] has them.
pub(crate) type Fallback = (SessionId, bool, u64);

/// What a request's cookies of our name say: the first's verdict, the ids of the others that
/// opened, and, where none opened, why the last one tried did not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cookies {
    pub(crate) incoming: Incoming,
    pub(crate) fallbacks: Fallbacks,
    pub(crate) rejection: Option<Rejection>,
}

impl Cookies {
    /// Notes a cookie that opened: the request's own if it is the first, else a fallback.
    fn found(&mut self, id: SessionId, current_key: bool, version: u64) {
        if !matches!(self.incoming, Incoming::Valid { .. }) {
            self.incoming = Incoming::Valid {
                id,
                current_key,
                version,
            };
        } else if let Some(free) = self.fallbacks.iter_mut().find(|slot| slot.is_none()) {
            *free = Some((id, current_key, version));
        }
    }
}

/// What a request's cookies say about its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Incoming {
    /// No cookie of ours.
    Absent,
    /// A cookie of ours that is forged, damaged or not an id.
    Rejected,
    /// An id that one of our secrets vouches for. The session may still be unknown or expired.
    Valid {
        /// The id.
        id: SessionId,
        /// Whether the current secret opened it in the current format; `false` means a previous
        /// one or the legacy format did, and the cookie should be sealed again.
        current_key: bool,
        /// The version of the session the response that set the cookie saved, where the cookie
        /// carries one; 0 where it does not.
        version: u64,
    },
}

impl CookieConfig {
    /// Finds the session id in the request's `Cookie` headers: the first that opens.
    #[cfg(test)]
    pub(crate) fn read(&self, headers: &HeaderMap, ring: &SecretRing) -> Incoming {
        self.read_all(headers, ring).incoming
    }

    /// Finds the session ids in the request's `Cookie` headers.
    ///
    /// Browsers may send several cookies of one name (set for different paths, or planted by a
    /// sibling subdomain); the first one that opens is the request's, and those that open after
    /// it are its fallbacks, tried in order where its session is not live. Only the first
    /// [`LOOKED_AT`] are looked at. Values that are not UTF-8 and pairs without `=` are skipped.
    /// Where cookies of ours came but none opened, the log is told why the last one tried did
    /// not.
    pub(crate) fn read_all(&self, headers: &HeaderMap, ring: &SecretRing) -> Cookies {
        let mut cookies = Cookies {
            incoming: Incoming::Absent,
            fallbacks: Fallbacks::default(),
            rejection: None,
        };
        let mut refused = None;
        for value in self.values(headers) {
            match self.open(value, ring) {
                Incoming::Rejected => refused = Some(value),
                Incoming::Valid {
                    id,
                    current_key,
                    version,
                } => cookies.found(id, current_key, version),
                Incoming::Absent => {}
            }
        }
        if let (Incoming::Absent, Some(value)) = (cookies.incoming, refused) {
            let rejection = self.rejection(value);
            rejection.log_at_debug(&self.name);
            cookies.incoming = Incoming::Rejected;
            cookies.rejection = Some(rejection);
        }
        cookies
    }

    /// The values of the first [`LOOKED_AT`] cookies named like ours, less those that are not
    /// UTF-8, which cannot be ours.
    ///
    /// Headers are split into pairs as bytes, and only a value of ours is checked as text: a
    /// byte that is not UTF-8 in another cookie does not hide ours, and a 100 KB header is not
    /// read from end to end when our name comes first.
    fn values<'h>(&'h self, headers: &'h HeaderMap) -> impl Iterator<Item = &'h str> + 'h {
        headers
            .get_all(COOKIE)
            .flat_map(|header| pairs(header.as_bytes()))
            .filter_map(|pair| split_once(pair.trim_ascii(), b'='))
            .filter(|(name, _)| *name == self.name.as_bytes())
            .take(LOOKED_AT)
            .filter_map(|(_, value)| std::str::from_utf8(value).ok())
    }

    /// What one value of our cookie says: the id that the first secret to open it finds, or
    /// [`Incoming::Rejected`]. Percent-escapes are decoded first, since some clients add them.
    /// A value that cannot be ours, by its length or its shape, is rejected before any secret
    /// is tried on it.
    pub(crate) fn open(&self, value: &str, ring: &SecretRing) -> Incoming {
        if value.len() > LONGEST_ESCAPED {
            return Incoming::Rejected;
        }
        let Some(value) = percent::decode(value) else {
            return Incoming::Rejected;
        };
        if !self.looks_sealed(&value) {
            return Incoming::Rejected;
        }
        ring.all()
            .enumerate()
            .find_map(|(index, secret)| self.open_with(&value, secret, index == 0))
            .unwrap_or(Incoming::Rejected)
    }

    /// What `secret` finds in `value`; `current` says whether it is the current secret.
    fn open_with(&self, value: &str, secret: &CookieSecret, current: bool) -> Option<Incoming> {
        if let Some((id, version)) = self.open_current(value, secret) {
            let current_key = current;
            return Some(Incoming::Valid {
                id,
                current_key,
                version,
            });
        }
        let id = self.open_legacy(value, secret)?;
        Some(Incoming::Valid {
            id,
            current_key: false,
            version: 0,
        })
    }
}

/// The `;`-separated pairs of a `Cookie` header, as `split(';')` gives them, found with
/// `memchr`, which reads a word at a time where a split tests every byte.
fn pairs(header: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(header);
    std::iter::from_fn(move || {
        let text = rest?;
        let Some(at) = memchr::memchr(b';', text) else {
            rest = None;
            return Some(text);
        };
        rest = text.get(at + 1..);
        text.get(..at)
    })
}

/// `bytes` before and after the first `separator`.
fn split_once(bytes: &[u8], separator: u8) -> Option<(&[u8], &[u8])> {
    let at = memchr::memchr(separator, bytes)?;
    Some((bytes.get(..at)?, bytes.get(at + 1..)?))
}

#[cfg(test)]
mod tests {
    use actix_web::cookie::{Cookie, Key};
    use actix_web::http::header::HeaderValue;

    use super::*;
    use crate::cookie::CookieContent;
    use crate::cookie::seal::mac_count;
    use crate::cookie::seal::tests::legacy_value;

    fn headers(cookie_headers: &[&[u8]]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in cookie_headers {
            map.append(
                COOKIE,
                HeaderValue::from_bytes(value).expect("header value"),
            );
        }
        map
    }

    fn sealed_value(config: &CookieConfig, id: SessionId, key: &Key) -> String {
        config.seal(id, None, &key.clone().into()).expect("sealed")
    }

    fn ring(key: &Key) -> SecretRing {
        key.clone().into()
    }

    fn valid(id: SessionId) -> Incoming {
        Incoming::Valid {
            id,
            current_key: true,
            version: 0,
        }
    }

    #[test]
    fn a_signed_cookie_reads_back_as_its_id() {
        let (config, key, id) = (
            CookieConfig::default(),
            Key::generate(),
            SessionId::generate(),
        );
        let value = sealed_value(&config, id, &key);
        let header = format!("other=1; session={value}; third=3");
        assert_eq!(
            config.read(&headers(&[header.as_bytes()]), &ring(&key)),
            valid(id)
        );
    }

    #[test]
    fn percent_encoded_values_open_like_the_value_they_encode() {
        let (key, id) = (Key::generate(), SessionId::generate());
        for content in [CookieContent::Signed, CookieContent::Private] {
            let config = CookieConfig {
                content,
                ..CookieConfig::default()
            };
            let value = sealed_value(&config, id, &key);
            let escaped: String = value.bytes().map(|b| format!("%{b:02X}")).collect();
            let header = format!("session={escaped}");
            assert_eq!(
                config.read(&headers(&[header.as_bytes()]), &ring(&key)),
                valid(id),
                "{content:?}"
            );
        }
    }

    #[test]
    fn the_first_valid_cookie_of_several_wins() {
        let (config, key, id) = (
            CookieConfig::default(),
            Key::generate(),
            SessionId::generate(),
        );
        let value = sealed_value(&config, id, &key);
        let header = format!("session=forged; session={value}");
        assert_eq!(
            config.read(&headers(&[b"\xff\xfe", header.as_bytes()]), &ring(&key)),
            valid(id)
        );
    }

    #[test]
    fn absent_and_garbage_cookies_are_told_apart() {
        let (config, key) = (CookieConfig::default(), Key::generate());
        assert_eq!(config.read(&headers(&[]), &ring(&key)), Incoming::Absent);
        assert_eq!(
            config.read(&headers(&[b"a=b; ;; =; session"]), &ring(&key)),
            Incoming::Absent
        );
        assert_eq!(
            config.read(&headers(&[b"session="]), &ring(&key)),
            Incoming::Rejected
        );
    }

    #[test]
    fn previous_keys_still_open_cookies_and_say_so() {
        let config = CookieConfig::default();
        let (old, new, id) = (Key::generate(), Key::generate(), SessionId::generate());
        let header = format!("session={}", sealed_value(&config, id, &old));
        let rotated = SecretRing {
            current: new.clone().into(),
            previous: vec![Key::generate().into(), old.into()],
        };
        assert_eq!(
            config.read(&headers(&[header.as_bytes()]), &rotated),
            Incoming::Valid {
                id,
                current_key: false,
                version: 0
            }
        );
        assert_eq!(
            config.read(&headers(&[header.as_bytes()]), &ring(&new)),
            Incoming::Rejected
        );
    }

    #[test]
    fn accepted_legacy_cookies_open_under_any_key_and_ask_to_be_sealed_again() {
        let (key, id) = (Key::generate(), SessionId::generate());
        let rotated = SecretRing {
            current: Key::generate().into(),
            previous: vec![key.clone().into()],
        };
        for content in [CookieContent::Signed, CookieContent::Private] {
            let config = CookieConfig {
                content,
                accept_legacy: true,
                ..CookieConfig::default()
            };
            let value = legacy_value(&config, id, &key);
            let escaped = Cookie::new("session", value.clone()).encoded().to_string();
            for header in [format!("session={value}"), escaped] {
                for ring in [ring(&key), rotated.clone()] {
                    assert_eq!(
                        config.read(&headers(&[header.as_bytes()]), &ring),
                        Incoming::Valid {
                            id,
                            current_key: false,
                            version: 0
                        },
                        "{content:?} {header}"
                    );
                }
            }
        }
    }

    /// A ring of the current secret and three previous ones, none of them `key`'s.
    fn ring_of_four() -> SecretRing {
        SecretRing {
            current: Key::generate().into(),
            previous: (0..3).map(|_| Key::generate().into()).collect(),
        }
    }

    /// A `Cookie` header of `count` session cookies, each with `value`.
    fn repeated(value: &str, count: usize) -> String {
        vec![format!("session={value}"); count].join("; ")
    }

    #[test]
    fn only_the_first_cookies_of_our_name_are_tried() {
        let (config, key, id) = (
            CookieConfig::default(),
            Key::generate(),
            SessionId::generate(),
        );
        let forged = sealed_value(&config, id, &Key::generate());
        let value = sealed_value(&config, id, &key);
        let tried = format!("{}; session={value}", repeated(&forged, LOOKED_AT - 1));
        let past = format!("{}; session={value}", repeated(&forged, LOOKED_AT));
        assert_eq!(
            config.read(&headers(&[tried.as_bytes()]), &ring(&key)),
            valid(id)
        );
        assert_eq!(
            config.read(&headers(&[past.as_bytes()]), &ring(&key)),
            Incoming::Rejected
        );
    }

    #[test]
    fn a_thousand_forged_cookies_cost_no_more_macs_than_the_first_few() {
        let ring = ring_of_four();
        for content in [CookieContent::Signed, CookieContent::Private] {
            let config = CookieConfig {
                content,
                accept_legacy: true,
                ..CookieConfig::default()
            };
            let forged = sealed_value(&config, SessionId::generate(), &Key::generate());
            let header = repeated(&forged, 1_000);
            mac_count::take();
            assert_eq!(
                config.read(&headers(&[header.as_bytes()]), &ring),
                Incoming::Rejected
            );
            let formats = 2;
            let bound = LOOKED_AT * ring.all().count() * formats;
            let macs = mac_count::take();
            assert!(0 < macs && macs <= bound, "{content:?}: {macs} MACs");
        }
    }

    #[test]
    fn values_that_cannot_be_ours_cost_no_mac() {
        let ring = ring_of_four();
        for content in [CookieContent::Signed, CookieContent::Private] {
            let config = CookieConfig {
                content,
                accept_legacy: true,
                ..CookieConfig::default()
            };
            let sealed = sealed_value(&config, SessionId::generate(), &Key::generate());
            let not_ours = [
                format!("{sealed}A"),
                sealed[1..].to_owned(),
                sealed.replacen(|c: char| c.is_ascii_alphanumeric(), "!", 1),
                "A".repeat(1_000),
                "%41".repeat(100),
            ];
            for value in not_ours {
                let header = repeated(&value, 1_000);
                mac_count::take();
                assert_eq!(
                    config.read(&headers(&[header.as_bytes()]), &ring),
                    Incoming::Rejected
                );
                assert_eq!(mac_count::take(), 0, "{content:?}: {value:.20}");
            }
        }
    }

    #[test]
    fn pairs_are_what_splitting_at_each_semicolon_gives() {
        for header in ["", ";", "a=b", "a=b; c=d;", ";;x; y=1 ;"] {
            let ours: Vec<&[u8]> = pairs(header.as_bytes()).collect();
            let split: Vec<&[u8]> = header.split(';').map(str::as_bytes).collect();
            assert_eq!(ours, split, "{header:?}");
        }
    }

    #[test]
    fn a_byte_that_is_not_utf_8_skips_only_the_value_it_is_in() {
        let (config, key, id) = (
            CookieConfig::default(),
            Key::generate(),
            SessionId::generate(),
        );
        let value = sealed_value(&config, id, &key);
        let mut header = b"other=\xff; session=\xfe; ".to_vec();
        header.extend_from_slice(format!("session={value}").as_bytes());
        assert_eq!(config.read(&headers(&[&header]), &ring(&key)), valid(id));
        assert_eq!(
            config.read(&headers(&[b"session=\xfe"]), &ring(&key)),
            Incoming::Absent
        );
    }
}
