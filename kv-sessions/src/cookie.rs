//! Reading and writing the session cookie.
//!
//! Session cookies are sealed with a key of their own, derived from the app's key (see
//! [`derive_session_key`]), never with the app's key itself, which also signs the app's own
//! cookies. A signed cookie's value is a 43-character HMAC-SHA256 tag over `<cookie name>=<id>`,
//! followed by the session id's 32 hex digits, so a value signed for another cookie name does not
//! verify as a session cookie. The tag is computed here rather than through actix-web's signed
//! jar: the keyed HMAC state is prepared once per key, and nothing is allocated to check a
//! cookie. A private cookie's value is the id sealed with AES-256-GCM by actix-web's private
//! cookie jar, which authenticates the cookie name too.
//!
//! Both are written in URL-safe base64 without padding, so a value holds only letters, digits,
//! `-` and `_`, which no client percent-encodes. Clients that percent-encode anyway (actix-web's
//! `TestRequest::cookie`, awc) are understood: escapes are decoded before a value is opened.
//!
//! kv-sessions 0.1.0 sealed cookies with the app's key itself and spelled them in standard
//! base64, as actix-web's jars do. Such legacy cookies open only while
//! [`SessionMiddlewareBuilder::accept_legacy_cookies`](crate::SessionMiddlewareBuilder::accept_legacy_cookies)
//! is on, and are then sealed again in the current format.
//!
//! A version stamp for cross-instance coherence can later follow the id after a `.`; a server
//! that predates it reads such a cookie as invalid and starts a fresh session, which is safe.

use std::fmt::Write as _;
use std::time::SystemTime;

use actix_web::cookie::{Cookie, CookieJar, Key, SameSite};
use actix_web::http::header::{COOKIE, HeaderMap, HeaderValue, InvalidHeaderValue};
use base64::Engine;
use base64::engine::GeneralPurpose;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::expiry::Expiry;
use crate::id::SessionId;

mod percent;
mod rejection;

pub(crate) use self::rejection::Rejection;

/// How the session cookie protects the id it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CookieContent {
    /// Signed with HMAC-SHA256: the client can read the id but cannot forge or alter it. The
    /// default: the id is a random token that tells a reader nothing.
    #[default]
    Signed,
    /// Encrypted and authenticated with AES-256-GCM: the client can neither read nor alter the
    /// id. The cookie's value is 80 characters, 5 more than a signed one's.
    Private,
}

/// The length of a SHA-256 block, the size HMAC pads its key to.
const HMAC_BLOCK: usize = 64;

/// The length of a cookie [`Key`]: a 32-byte signing half, then a 32-byte encryption half.
pub(crate) const KEY_LEN: usize = 64;

/// What the session cookie key is derived for. A new label gives new keys, so it names a version.
const SESSION_KEY_LABEL: &[u8] = b"kv-sessions session cookie v1";

/// A cookie key as the app gave it, and the key derived from it that seals session cookies.
#[derive(Clone)]
pub(crate) struct CookieKey {
    /// Derived from the app's key with [`derive_session_key`]; it seals every session cookie.
    session: PreparedKey,
    /// The app's key as given, which sealed the cookies of kv-sessions 0.1.0. It opens them when
    /// [`CookieConfig::accept_legacy`] says so, and seals nothing.
    given: PreparedKey,
}

impl From<Key> for CookieKey {
    fn from(key: Key) -> Self {
        Self {
            session: derive_session_key(&key).into(),
            given: key.into(),
        }
    }
}

/// A key with the HMAC state for its signing half prepared once: a tag then costs two SHA-256
/// blocks rather than four.
#[derive(Clone)]
struct PreparedKey {
    key: Key,
    mac: Hmac<Sha256>,
}

impl From<Key> for PreparedKey {
    fn from(key: Key) -> Self {
        let mac = keyed_mac(key.signing());
        Self { key, mac }
    }
}

impl PreparedKey {
    /// The HMAC of `<name>=<text>`, ready to finalize or verify.
    fn tag(&self, name: &str, text: &str) -> Hmac<Sha256> {
        let mut mac = self.mac.clone();
        mac.update(name.as_bytes());
        mac.update(b"=");
        mac.update(text.as_bytes());
        mac
    }
}

/// The key that seals session cookies, derived from the app's `key` with HKDF-Expand (RFC 5869)
/// over [`SESSION_KEY_LABEL`], taking the master key as the pseudorandom key.
///
/// The app's key also signs and encrypts the app's own cookies through actix-web's cookie jars.
/// A signed jar tags only a cookie's value, so under the app's key an app cookie whose value a
/// client chose, such as `session=<someone's id>`, would carry a valid session cookie tag. Under
/// a key of their own, session cookies share nothing with the app's cookies.
fn derive_session_key(key: &Key) -> Key {
    Key::from(&hkdf_expand(key.master(), SESSION_KEY_LABEL)[..])
}

/// The first 64 bytes HKDF-Expand (RFC 5869) with SHA-256 makes from `prk` and `info`: a full
/// cookie key, signing half first.
fn hkdf_expand(prk: &[u8], info: &[u8]) -> [u8; KEY_LEN] {
    let prk = keyed_mac(prk);
    let first = prk
        .clone()
        .chain_update(info)
        .chain_update([1_u8])
        .finalize()
        .into_bytes();
    let second = prk
        .chain_update(first)
        .chain_update(info)
        .chain_update([2_u8])
        .finalize()
        .into_bytes();
    let mut okm = [0; KEY_LEN];
    let (start, end) = okm.split_at_mut(first.len());
    start.copy_from_slice(&first);
    end.copy_from_slice(&second);
    okm
}

/// An HMAC-SHA256 keyed with `key`, which is at most a block long (a signing half is 32 bytes, a
/// master key 64). HMAC pads a short key with zeros to a block, so padding it here changes
/// nothing, and a block-sized key cannot be refused.
fn keyed_mac(key: &[u8]) -> Hmac<Sha256> {
    debug_assert!(key.len() <= HMAC_BLOCK, "HMAC hashes longer keys first");
    let mut block = [0; HMAC_BLOCK];
    block.iter_mut().zip(key).for_each(|(b, k)| *b = *k);
    <Hmac<Sha256> as KeyInit>::new(&block.into())
}

/// The key that seals new cookies, and older keys that still open incoming ones.
#[derive(Clone)]
pub(crate) struct Keys {
    pub(crate) current: CookieKey,
    pub(crate) previous: Vec<CookieKey>,
}

impl Keys {
    /// Every key, the current one first.
    fn all(&self) -> impl Iterator<Item = &CookieKey> {
        std::iter::once(&self.current).chain(&self.previous)
    }
}

/// What a request's cookies say about its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Incoming {
    /// No cookie of ours.
    Absent,
    /// A cookie of ours that is forged, damaged or not an id.
    Rejected,
    /// An id that one of our keys vouches for. The session may still be unknown or expired.
    Valid {
        /// The id.
        id: SessionId,
        /// Whether the current key opened it in the current format; `false` means a previous key
        /// or the legacy format did, and the cookie should be sealed again.
        current_key: bool,
    },
}

/// How a signed cookie's value spells the tag it starts with.
struct TagSpelling {
    engine: GeneralPurpose,
    len: usize,
}

/// Today's spelling: URL-safe base64 without padding, 43 characters.
const TAG: TagSpelling = TagSpelling {
    engine: URL_SAFE_NO_PAD,
    len: 43,
};

/// The spelling of kv-sessions 0.1.0, which is actix-web's signed jar's: standard base64 with
/// padding, 44 characters.
const LEGACY_TAG: TagSpelling = TagSpelling {
    engine: STANDARD,
    len: 44,
};

/// Room for base64's estimate of a tag's decoded length, which counts whole groups of four
/// characters: 33 bytes for either spelling, of which a valid tag fills 32.
const TAG_ROOM: usize = 33;

/// The attributes of the session cookie.
#[derive(Debug, Clone)]
pub(crate) struct CookieConfig {
    pub(crate) name: String,
    pub(crate) path: String,
    pub(crate) domain: Option<String>,
    pub(crate) secure: bool,
    pub(crate) http_only: bool,
    pub(crate) same_site: SameSite,
    pub(crate) content: CookieContent,
    /// Whether cookies of kv-sessions 0.1.0 open: sealed with the app's key as given rather than
    /// the derived one, and spelled in standard base64.
    pub(crate) accept_legacy: bool,
}

impl Default for CookieConfig {
    fn default() -> Self {
        Self {
            name: "session".to_owned(),
            path: "/".to_owned(),
            domain: None,
            secure: true,
            http_only: true,
            same_site: SameSite::Lax,
            content: CookieContent::Signed,
            accept_legacy: false,
        }
    }
}

impl CookieConfig {
    /// Finds the session id in the request's `Cookie` headers.
    ///
    /// Browsers may send several cookies of one name (set for different paths); the first one
    /// that opens wins. Headers that are not UTF-8 and pairs without `=` are skipped. Where
    /// cookies of ours came but none opened, the log is told why the last one did not.
    pub(crate) fn read(&self, headers: &HeaderMap, keys: &Keys) -> Incoming {
        let mut refused = None;
        for value in self.values(headers) {
            match self.open(value, keys) {
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

    /// What one value of our cookie says: the id that the first key to open it finds, or
    /// [`Incoming::Rejected`]. Percent-escapes are decoded first, since some clients add them.
    pub(crate) fn open(&self, value: &str, keys: &Keys) -> Incoming {
        let Some(value) = percent::decode(value) else {
            return Incoming::Rejected;
        };
        keys.all()
            .enumerate()
            .find_map(|(index, key)| self.open_with(&value, key, index == 0))
            .unwrap_or(Incoming::Rejected)
    }

    /// What `key` finds in `value`; `current` says whether it is the current key.
    fn open_with(&self, value: &str, key: &CookieKey, current: bool) -> Option<Incoming> {
        if let Some(id) = self.open_current(value, key) {
            let current_key = current;
            return Some(Incoming::Valid { id, current_key });
        }
        let id = self.open_legacy(value, key)?;
        let current_key = false;
        Some(Incoming::Valid { id, current_key })
    }

    fn open_current(&self, value: &str, key: &CookieKey) -> Option<SessionId> {
        match self.content {
            CookieContent::Signed => self.verify(value, &key.session, &TAG),
            CookieContent::Private => {
                let sealed = transcode(value, &URL_SAFE_NO_PAD, &STANDARD)?;
                self.decrypt(&sealed, &key.session.key)
            }
        }
    }

    /// Opens a cookie of kv-sessions 0.1.0, if they are accepted.
    fn open_legacy(&self, value: &str, key: &CookieKey) -> Option<SessionId> {
        if !self.accept_legacy {
            return None;
        }
        match self.content {
            CookieContent::Signed => self.verify(value, &key.given, &LEGACY_TAG),
            CookieContent::Private => self.decrypt(value, &key.given.key),
        }
    }

    /// The value of the cookie that carries `id`, sealed with `key`.
    pub(crate) fn seal(&self, id: SessionId, key: &CookieKey) -> Option<String> {
        match self.content {
            CookieContent::Signed => Some(self.sign(&id.to_string(), &key.session)),
            CookieContent::Private => {
                let sealed = self.encrypt(id, &key.session.key)?;
                transcode(&sealed, &STANDARD, &URL_SAFE_NO_PAD)
            }
        }
    }

    /// `text` signed with `key` as a signed cookie's value, whatever `text` says: for tests that
    /// send hostile values.
    #[cfg(feature = "test-util")]
    pub(crate) fn sign_text(&self, text: &str, key: &CookieKey) -> String {
        self.sign(text, &key.session)
    }

    /// Opens `sealed` as actix-web's private jar spells it, in standard base64.
    fn decrypt(&self, sealed: &str, key: &Key) -> Option<SessionId> {
        let cookie = Cookie::new(self.name.clone(), sealed.to_owned());
        let opened = CookieJar::new().private(key).decrypt(cookie)?;
        opened.value().parse().ok()
    }

    /// Seals `id` with actix-web's private jar, which spells it in standard base64.
    fn encrypt(&self, id: SessionId, key: &Key) -> Option<String> {
        let mut jar = CookieJar::new();
        jar.private_mut(key)
            .add(Cookie::new(self.name.clone(), id.to_string()));
        Some(jar.get(&self.name)?.value().to_owned())
    }

    fn verify(&self, value: &str, key: &PreparedKey, spelling: &TagSpelling) -> Option<SessionId> {
        let (tag, id) = value.split_at_checked(spelling.len)?;
        let mut digest = [0; TAG_ROOM];
        let len = spelling.engine.decode_slice(tag, &mut digest).ok()?;
        key.tag(&self.name, id)
            .verify_slice(digest.get(..len)?)
            .ok()?;
        id.parse().ok()
    }

    /// A signed value: the tag over `<name>=<text>`, then `text`.
    fn sign(&self, text: &str, key: &PreparedKey) -> String {
        let tag = key.tag(&self.name, text).finalize().into_bytes();
        let mut value = String::with_capacity(TAG.len + text.len());
        TAG.engine.encode_string(tag, &mut value);
        value.push_str(text);
        value
    }

    /// The `Set-Cookie` header of the cookie that carries `id`, sealed with `key`, living until
    /// `deadline` (or until the browser closes, under [`Expiry::OnSessionEnd`]).
    ///
    /// The error is a cookie path or domain that cannot go in a header.
    pub(crate) fn session_cookie(
        &self,
        id: SessionId,
        rule: Expiry,
        deadline: SystemTime,
        now: SystemTime,
        key: &CookieKey,
    ) -> Result<HeaderValue, InvalidHeaderValue> {
        let Some(value) = self.seal(id, key) else {
            return self.removal_cookie();
        };
        let lifetime = rule.persists_cookie().then(|| {
            let deadline = deadline.clamp(SystemTime::UNIX_EPOCH, latest_expires());
            let left = deadline.duration_since(now).unwrap_or_default();
            (whole_seconds(left), deadline)
        });
        self.header(&value, lifetime)
    }

    /// The `Set-Cookie` header that makes the browser drop the session cookie. It carries the
    /// same name, path, domain and flags as the cookie it removes, or the browser would keep the
    /// original.
    pub(crate) fn removal_cookie(&self) -> Result<HeaderValue, InvalidHeaderValue> {
        self.header("", Some((0, SystemTime::UNIX_EPOCH)))
    }

    /// A `Set-Cookie` header for `value` with this cookie's attributes, in the order the `cookie`
    /// crate writes them, and with `Max-Age` (seconds) and `Expires` where `lifetime` gives them.
    ///
    /// Written here rather than through [`Cookie`]'s `Display`, which formats `Expires` through
    /// `time`'s format descriptions: that was most of the cost of setting the cookie.
    fn header(
        &self,
        value: &str,
        lifetime: Option<(u64, SystemTime)>,
    ) -> Result<HeaderValue, InvalidHeaderValue> {
        let mut header = String::with_capacity(SET_COOKIE_ROOM + self.name.len() + value.len());
        header.push_str(&self.name);
        header.push('=');
        header.push_str(value);
        if self.http_only {
            header.push_str("; HttpOnly");
        }
        header.push_str(match self.same_site {
            SameSite::Strict => "; SameSite=Strict",
            SameSite::Lax => "; SameSite=Lax",
            SameSite::None => "; SameSite=None",
        });
        if self.secure {
            header.push_str("; Secure");
        }
        header.push_str("; Path=");
        header.push_str(&self.path);
        if let Some(domain) = &self.domain {
            header.push_str("; Domain=");
            header.push_str(domain);
        }
        if let Some((max_age, expires)) = lifetime {
            // Writing to a String cannot fail.
            let _ = write!(
                header,
                "; Max-Age={max_age}; Expires={}",
                httpdate::HttpDate::from(expires)
            );
        }
        HeaderValue::try_from(header)
    }
}

/// Room for a `Set-Cookie` header's attributes beyond the name, value, path and domain.
const SET_COOKIE_ROOM: usize = 128;

/// `value` decoded from one base64 alphabet and encoded in another. actix-web's private jar
/// speaks standard base64, whose `/` and `=` some clients escape; the cookie carries the same
/// bytes in URL-safe base64 without padding, which no client escapes.
fn transcode(value: &str, from: &impl Engine, to: &impl Engine) -> Option<String> {
    let bytes = from.decode(value).ok()?;
    Some(to.encode(bytes))
}

/// The last second a cookie's `Expires` can name, 9999-12-31 23:59:59 UTC: HTTP dates have
/// four-digit years, and `time` panics past them. No browser keeps a cookie that long anyway.
fn latest_expires() -> SystemTime {
    SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(253_402_300_799)
}

/// Whole seconds, rounded up: `Max-Age` counts seconds, and a cookie that dies a fraction of a
/// second after its session is harmless, while one that dies before it logs the user out early.
fn whole_seconds(duration: std::time::Duration) -> u64 {
    duration
        .as_secs()
        .saturating_add(u64::from(duration.subsec_nanos() > 0))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use actix_web::cookie::time::{Duration as CookieDuration, OffsetDateTime};

    use super::*;

    /// The cookie a `Set-Cookie` header sets, as a browser would read it.
    fn parsed(header: Result<HeaderValue, InvalidHeaderValue>) -> Cookie<'static> {
        let header = header.expect("a valid header");
        Cookie::parse(header.to_str().expect("ASCII").to_owned()).expect("a cookie")
    }

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
        let now = SystemTime::now();
        let cookie = config.session_cookie(id, Expiry::default(), now, now, &key.clone().into());
        parsed(cookie).value().to_owned()
    }

    fn keys(key: &Key) -> Keys {
        Keys {
            current: key.clone().into(),
            previous: Vec::new(),
        }
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
            config.read(&headers(&[header.as_bytes()]), &keys(&key)),
            valid(id)
        );
    }

    /// What an app's signed jar makes of a value a client chose, `<cookie name>=<id>`, cut into
    /// the shape of a session cookie: the jar's tag, then the id.
    fn app_cookie_as_session_cookie(name: &str, id: SessionId, key: &Key) -> String {
        let mut jar = CookieJar::new();
        jar.signed_mut(key)
            .add(Cookie::new("comment", format!("{name}={id}")));
        let signed = jar.get("comment").expect("signed").value();
        format!("{}{id}", &signed[..44])
    }

    #[test]
    fn the_tag_differs_from_the_one_actix_webs_signed_jar_computes_under_the_same_key() {
        let (config, key, id) = (
            CookieConfig::default(),
            Key::generate(),
            SessionId::generate(),
        );
        let jar_value = app_cookie_as_session_cookie(&config.name, id, &key);
        let jar_tag = STANDARD.decode(&jar_value[..44]).expect("base64");
        let ours = sealed_value(&config, id, &key);
        let our_tag = URL_SAFE_NO_PAD.decode(&ours[..TAG.len]).expect("base64");
        assert_eq!(our_tag.len(), jar_tag.len());
        assert_ne!(our_tag, jar_tag);
    }

    #[test]
    fn an_app_cookie_signed_by_the_jar_over_name_and_id_opens_no_session() {
        let (config, key, id) = (
            CookieConfig::default(),
            Key::generate(),
            SessionId::generate(),
        );
        let header = format!(
            "session={}",
            app_cookie_as_session_cookie(&config.name, id, &key)
        );
        assert_eq!(
            config.read(&headers(&[header.as_bytes()]), &keys(&key)),
            Incoming::Rejected
        );
    }

    #[test]
    fn session_keys_are_derived_with_hkdf_expand() {
        // RFC 5869, test case 1: the PRK and info it gives, and the first 42 bytes of its OKM.
        let prk = hex("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5");
        let info = hex("f0f1f2f3f4f5f6f7f8f9");
        let okm = hex(concat!(
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf",
            "34007208d5b887185865"
        ));
        assert_eq!(hkdf_expand(&prk, &info)[..okm.len()], okm[..]);
    }

    #[test]
    fn the_session_key_is_fixed_by_the_app_key_and_shares_nothing_with_it() {
        let key = Key::generate();
        let derived = derive_session_key(&key);
        assert_eq!(derived.master(), derive_session_key(&key).master());
        assert_ne!(derived.signing(), key.signing());
        assert_ne!(derived.encryption(), key.encryption());
        let other = derive_session_key(&Key::generate());
        assert_ne!(derived.master(), other.master());
    }

    fn hex(digits: &str) -> Vec<u8> {
        (0..digits.len())
            .step_by(2)
            .map(|at| u8::from_str_radix(&digits[at..at + 2], 16).expect("hex"))
            .collect()
    }

    #[test]
    fn the_value_is_a_tag_then_the_id() {
        let (config, key, id) = (
            CookieConfig::default(),
            Key::generate(),
            SessionId::generate(),
        );
        let value = sealed_value(&config, id, &key);
        assert_eq!(value.len(), 43 + 32);
        let (tag, rest) = value.split_at(43);
        assert_eq!(URL_SAFE_NO_PAD.decode(tag).map(|tag| tag.len()), Ok(32));
        assert_eq!(rest, id.to_string());
    }

    #[test]
    fn values_hold_only_characters_that_no_client_escapes() {
        let key = Key::generate();
        for content in [CookieContent::Signed, CookieContent::Private] {
            let config = CookieConfig {
                content,
                ..CookieConfig::default()
            };
            for _ in 0..64 {
                let value = sealed_value(&config, SessionId::generate(), &key);
                assert!(
                    value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                    "{content:?}: {value}"
                );
            }
        }
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
                config.read(&headers(&[header.as_bytes()]), &keys(&key)),
                valid(id),
                "{content:?}"
            );
        }
    }

    #[test]
    fn a_cookie_signed_by_another_key_is_rejected() {
        let config = CookieConfig::default();
        let value = sealed_value(&config, SessionId::generate(), &Key::generate());
        let header = format!("session={value}");
        assert_eq!(
            config.read(&headers(&[header.as_bytes()]), &keys(&Key::generate())),
            Incoming::Rejected
        );
    }

    #[test]
    fn a_signature_does_not_carry_over_to_another_cookie_name() {
        let key = Key::generate();
        let other = CookieConfig {
            name: "other".to_owned(),
            ..CookieConfig::default()
        };
        let value = sealed_value(&other, SessionId::generate(), &key);
        let header = format!("session={value}");
        assert_eq!(
            CookieConfig::default().read(&headers(&[header.as_bytes()]), &keys(&key)),
            Incoming::Rejected
        );
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
            config.read(&headers(&[b"\xff\xfe", header.as_bytes()]), &keys(&key)),
            valid(id)
        );
    }

    #[test]
    fn absent_and_garbage_cookies_are_told_apart() {
        let (config, key) = (CookieConfig::default(), Key::generate());
        assert_eq!(config.read(&headers(&[]), &keys(&key)), Incoming::Absent);
        assert_eq!(
            config.read(&headers(&[b"a=b; ;; =; session"]), &keys(&key)),
            Incoming::Absent
        );
        assert_eq!(
            config.read(&headers(&[b"session="]), &keys(&key)),
            Incoming::Rejected
        );
    }

    #[test]
    fn removal_cookies_keep_every_attribute_of_the_cookie_they_remove() {
        let config = CookieConfig {
            name: "__Host-id".to_owned(),
            domain: Some("example.com".to_owned()),
            same_site: SameSite::Strict,
            ..CookieConfig::default()
        };
        let now = SystemTime::now();
        let set = parsed(config.session_cookie(
            SessionId::generate(),
            Expiry::default(),
            now + Duration::from_secs(60),
            now,
            &Key::generate().into(),
        ));
        let removal = parsed(config.removal_cookie());
        assert_eq!(removal.name(), set.name());
        assert_eq!(removal.path(), set.path());
        assert_eq!(removal.domain(), set.domain());
        assert_eq!(removal.secure(), set.secure());
        assert_eq!(removal.http_only(), set.http_only());
        assert_eq!(removal.same_site(), set.same_site());
        assert_eq!(removal.max_age(), Some(CookieDuration::ZERO));
        assert_eq!(removal.expires_datetime(), Some(OffsetDateTime::UNIX_EPOCH));
        assert_eq!(removal.value(), "");
    }

    #[test]
    fn the_header_spells_every_attribute() {
        let config = CookieConfig {
            domain: Some("example.com".to_owned()),
            ..CookieConfig::default()
        };
        let key = CookieKey::from(Key::generate());
        let id = SessionId::generate();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let deadline = now + Duration::from_millis(3_599_500);
        let header = config
            .session_cookie(id, Expiry::default(), deadline, now, &key)
            .expect("a valid header");
        let value = config.seal(id, &key).expect("a sealed id");
        assert_eq!(
            header.to_str().expect("ASCII"),
            format!(
                "session={value}; HttpOnly; SameSite=Lax; Secure; Path=/; Domain=example.com; \
                 Max-Age=3600; Expires=Tue, 14 Nov 2023 23:13:19 GMT"
            )
        );
        let removal = config.removal_cookie().expect("a valid header");
        assert_eq!(
            removal.to_str().expect("ASCII"),
            "session=; HttpOnly; SameSite=Lax; Secure; Path=/; Domain=example.com; Max-Age=0; \
             Expires=Thu, 01 Jan 1970 00:00:00 GMT"
        );
    }

    #[test]
    fn a_path_that_cannot_go_in_a_header_is_an_error() {
        let config = CookieConfig {
            path: "/\n".to_owned(),
            ..CookieConfig::default()
        };
        assert!(config.removal_cookie().is_err());
    }

    #[test]
    fn the_cookie_lifetime_follows_the_deadline() {
        let (config, key, id) = (
            CookieConfig::default(),
            CookieKey::from(Key::generate()),
            SessionId::generate(),
        );
        let now = SystemTime::now();
        let minute = Duration::from_secs(60);
        let idle = parsed(config.session_cookie(
            id,
            Expiry::OnInactivity(minute),
            now + minute * 2,
            now,
            &key,
        ));
        assert_eq!(idle.max_age(), Some(CookieDuration::seconds(120)));
        assert!(idle.expires_datetime().is_some());
        let browser = parsed(config.session_cookie(
            id,
            Expiry::OnSessionEnd(minute),
            now + minute,
            now,
            &key,
        ));
        assert_eq!(browser.max_age(), None);
        assert_eq!(browser.expires(), None);
    }

    #[test]
    fn private_cookies_hide_the_id_and_open_only_with_their_key() {
        let config = CookieConfig {
            content: CookieContent::Private,
            ..CookieConfig::default()
        };
        let (key, id) = (Key::generate(), SessionId::generate());
        let value = sealed_value(&config, id, &key);
        assert!(!value.contains(&id.to_string()));
        assert_eq!(value.len(), 80, "a nonce, the id and a tag: 60 bytes");
        let header = format!("session={value}");
        assert_eq!(
            config.read(&headers(&[header.as_bytes()]), &keys(&key)),
            valid(id)
        );
        assert_eq!(
            config.read(&headers(&[header.as_bytes()]), &keys(&Key::generate())),
            Incoming::Rejected
        );
        let signed_reader = CookieConfig::default();
        assert_eq!(
            signed_reader.read(&headers(&[header.as_bytes()]), &keys(&key)),
            Incoming::Rejected
        );
    }

    #[test]
    fn previous_keys_still_open_cookies_and_say_so() {
        let config = CookieConfig::default();
        let (old, new, id) = (Key::generate(), Key::generate(), SessionId::generate());
        let header = format!("session={}", sealed_value(&config, id, &old));
        let rotated = Keys {
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
            config.read(&headers(&[header.as_bytes()]), &keys(&new)),
            Incoming::Rejected
        );
    }

    /// A cookie of kv-sessions 0.1.0 for `id`: sealed with `key` itself and spelled as
    /// actix-web's jars spell it. A signed one is what an app's signed jar makes of
    /// `<name>=<id>`, the hole that derived keys close.
    fn legacy_value(config: &CookieConfig, id: SessionId, key: &Key) -> String {
        if config.content == CookieContent::Signed {
            return app_cookie_as_session_cookie(&config.name, id, key);
        }
        let mut jar = CookieJar::new();
        jar.private_mut(key)
            .add(Cookie::new(config.name.clone(), id.to_string()));
        jar.get(&config.name).expect("sealed").value().to_owned()
    }

    #[test]
    fn legacy_cookies_are_rejected_unless_accepted() {
        let (key, id) = (Key::generate(), SessionId::generate());
        for content in [CookieContent::Signed, CookieContent::Private] {
            let config = CookieConfig {
                content,
                ..CookieConfig::default()
            };
            let header = format!("session={}", legacy_value(&config, id, &key));
            assert_eq!(
                config.read(&headers(&[header.as_bytes()]), &keys(&key)),
                Incoming::Rejected,
                "{content:?}"
            );
        }
    }

    #[test]
    fn accepted_legacy_cookies_open_under_any_key_and_ask_to_be_sealed_again() {
        let (key, id) = (Key::generate(), SessionId::generate());
        let rotated = Keys {
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
                for keys in [keys(&key), rotated.clone()] {
                    assert_eq!(
                        config.read(&headers(&[header.as_bytes()]), &keys),
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

    /// The latest time the platform's clock holds, give or take: far past year 9999.
    fn far_future() -> SystemTime {
        std::iter::successors(Some(u64::MAX), |secs| Some(secs / 2))
            .find_map(|secs| SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs)))
            .expect("a time after the epoch")
    }

    /// The earliest time the platform's clock holds, give or take.
    fn far_past() -> SystemTime {
        std::iter::successors(Some(u64::MAX), |secs| Some(secs / 2))
            .find_map(|secs| SystemTime::UNIX_EPOCH.checked_sub(Duration::from_secs(secs)))
            .expect("a time before the epoch")
    }

    #[test]
    fn deadlines_beyond_what_cookie_dates_can_say_are_clamped_instead_of_panicking() {
        let (config, key, id) = (
            CookieConfig::default(),
            CookieKey::from(Key::generate()),
            SessionId::generate(),
        );
        let now = SystemTime::now();
        let rule = Expiry::default();

        let header = config.session_cookie(id, rule, far_future(), now, &key);
        let text = header.as_ref().map(|header| header.to_str());
        assert!(
            matches!(text, Ok(Ok(text)) if text.ends_with("; Expires=Fri, 31 Dec 9999 23:59:59 GMT")),
            "{header:?}"
        );
        let late = parsed(header);
        let expires = late.expires_datetime().expect("expires");
        assert_eq!(
            (expires.year(), expires.month() as u8, expires.day()),
            (9999, 12, 31)
        );
        let max_age = late.max_age().expect("max-age");
        let reached = OffsetDateTime::from(now) + max_age;
        assert!(
            (reached - expires).abs() <= CookieDuration::SECOND,
            "{max_age}"
        );

        let early = parsed(config.session_cookie(id, rule, far_past(), now, &key));
        assert_eq!(early.max_age(), Some(CookieDuration::ZERO));
        assert_eq!(early.expires_datetime(), Some(OffsetDateTime::UNIX_EPOCH));
    }
}
