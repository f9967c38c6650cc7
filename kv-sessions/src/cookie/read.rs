//! Finding the session cookie in a request's `Cookie` headers, and what it says: no cookie of
//! ours, one that no secret in the ring opens, or an id.

use actix_web::http::header::{COOKIE, HeaderMap};

use super::secret::{CookieSecret, SecretRing};
use super::{CookieConfig, percent};
use crate::id::SessionId;

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
    },
}

impl CookieConfig {
    /// Finds the session id in the request's `Cookie` headers.
    ///
    /// Browsers may send several cookies of one name (set for different paths); the first one
    /// that opens wins. Headers that are not UTF-8 and pairs without `=` are skipped. Where
    /// cookies of ours came but none opened, the log is told why the last one did not.
    pub(crate) fn read(&self, headers: &HeaderMap, ring: &SecretRing) -> Incoming {
        let mut refused = None;
        for value in self.values(headers) {
            match self.open(value, ring) {
                Incoming::Rejected => refused = Some(value),
                incoming => return incoming,
            }
        }
        let Some(value) = refused else {
            return Incoming::Absent;
        };
        self.log_rejection(value);
        Incoming::Rejected
    }

    /// The values of every cookie named like ours.
    fn values<'h>(&'h self, headers: &'h HeaderMap) -> impl Iterator<Item = &'h str> + 'h {
        headers
            .get_all(COOKIE)
            .filter_map(|header| header.to_str().ok())
            .flat_map(|header| header.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .filter(|(name, _)| *name == self.name)
            .map(|(_, value)| value)
    }

    /// What one value of our cookie says: the id that the first secret to open it finds, or
    /// [`Incoming::Rejected`]. Percent-escapes are decoded first, since some clients add them.
    pub(crate) fn open(&self, value: &str, ring: &SecretRing) -> Incoming {
        let Some(value) = percent::decode(value) else {
            return Incoming::Rejected;
        };
        ring.all()
            .enumerate()
            .find_map(|(index, secret)| self.open_with(&value, secret, index == 0))
            .unwrap_or(Incoming::Rejected)
    }

    /// What `secret` finds in `value`; `current` says whether it is the current secret.
    fn open_with(&self, value: &str, secret: &CookieSecret, current: bool) -> Option<Incoming> {
        if let Some(id) = self.open_current(value, secret) {
            let current_key = current;
            return Some(Incoming::Valid { id, current_key });
        }
        let id = self.open_legacy(value, secret)?;
        let current_key = false;
        Some(Incoming::Valid { id, current_key })
    }
}

#[cfg(test)]
mod tests {
    use actix_web::cookie::{Cookie, Key};
    use actix_web::http::header::HeaderValue;

    use super::*;
    use crate::cookie::CookieContent;
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
        config.seal(id, &key.clone().into()).expect("sealed")
    }

    fn ring(key: &Key) -> SecretRing {
        key.clone().into()
    }

    fn valid(id: SessionId) -> Incoming {
        Incoming::Valid {
            id,
            current_key: true,
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
                current_key: false
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
                            current_key: false
                        },
                        "{content:?} {header}"
                    );
                }
            }
        }
    }
}
