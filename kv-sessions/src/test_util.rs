//! Session cookies without a server, for tests and benchmarks: enabled by the `test-util`
//! feature.
//!
//! A test that writes a session straight into a store, forges a cookie under another key, or
//! sends hostile values needs cookie values that a [`SessionMiddleware`](crate::SessionMiddleware)
//! would set. [`CookieSealer`] makes them with the middleware's own code, so a test never carries
//! a copy of the cookie format that could drift from it. The session itself goes into the store
//! through [`Changes::insert`](crate::Changes::insert), which takes values as
//! [`Session::insert`](crate::Session::insert) does.

use std::fmt;

use actix_web::cookie::Key;

use crate::cookie::{CookieConfig, CookieContent, Incoming, SecretRing};
use crate::id::SessionId;

/// Seals ids into session cookie values, and opens them, exactly as a middleware built with the
/// same key, cookie name and [`CookieContent`] does.
///
/// ```
/// use actix_web::cookie::Key;
/// use kv_sessions::test_util::CookieSealer;
/// use kv_sessions::{CookieContent, SessionId};
///
/// let key = Key::generate(); // the key the middleware under test was built with
/// let sealer = CookieSealer::new(&key, "session", CookieContent::Signed);
/// let id = SessionId::generate();
/// let value = sealer.seal(id);
/// assert_eq!(sealer.open(&value), Some(id));
/// let header = format!("session={value}"); // a `Cookie` header that carries session `id`
/// # let _ = header;
/// ```
#[derive(Clone)]
pub struct CookieSealer {
    cookie: CookieConfig,
    keys: SecretRing,
}

impl CookieSealer {
    /// A sealer for the cookie `name` of a middleware built with `key` and
    /// [`cookie_content`](crate::SessionMiddlewareBuilder::cookie_content) `content`.
    pub fn new(key: &Key, name: impl Into<String>, content: CookieContent) -> Self {
        let cookie = CookieConfig {
            name: name.into(),
            content,
            ..CookieConfig::default()
        };
        let keys = SecretRing::from(key.clone());
        Self { cookie, keys }
    }

    /// The cookie value that carries session `id`, as the middleware sets it.
    ///
    /// # Panics
    ///
    /// If actix-web's private cookie jar fails to encrypt `id`, which it does not do.
    pub fn seal(&self, id: SessionId) -> String {
        self.cookie
            .seal(id, None, &self.keys.current)
            .expect("actix-web's private jar encrypts every value")
    }

    /// The cookie value that carries session `id` stamped with `version`, as a middleware over a
    /// store with an invalidation feed sets it after saving that version.
    ///
    /// # Panics
    ///
    /// If actix-web's private cookie jar fails to encrypt the text, which it does not do.
    pub fn seal_at(&self, id: SessionId, version: u64) -> String {
        self.cookie
            .seal(id, Some(version), &self.keys.current)
            .expect("actix-web's private jar encrypts every value")
    }

    /// `text` signed as a signed cookie's value is, whatever it says and whatever this sealer's
    /// [`CookieContent`]: what a client holding the key could send. The middleware opens it
    /// only if `text` is an id.
    pub fn sign_text(&self, text: &str) -> String {
        self.cookie.sign_text(text, &self.keys.current)
    }

    /// The id that `value` carries, if the middleware would accept it as its cookie's value,
    /// percent-encoded or not.
    pub fn open(&self, value: &str) -> Option<SessionId> {
        match self.cookie.open(value, &self.keys) {
            Incoming::Valid { id, .. } => Some(id),
            Incoming::Absent | Incoming::Rejected => None,
        }
    }
}

/// Shows the cookie name and content, never the key.
impl fmt::Debug for CookieSealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CookieSealer")
            .field("name", &self.cookie.name)
            .field("content", &self.cookie.content)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_id_opens_with_the_same_key_and_name_only() {
        let (key, id) = (Key::generate(), SessionId::generate());
        for content in [CookieContent::Signed, CookieContent::Private] {
            let sealer = CookieSealer::new(&key, "session", content);
            let value = sealer.seal(id);
            assert_eq!(sealer.open(&value), Some(id), "{content:?}");
            let other_key = CookieSealer::new(&Key::generate(), "session", content);
            assert_eq!(other_key.open(&value), None, "{content:?}");
            let other_name = CookieSealer::new(&key, "other", content);
            assert_eq!(other_name.open(&value), None, "{content:?}");
        }
    }

    #[test]
    fn signed_text_opens_only_when_it_is_an_id() {
        let sealer = CookieSealer::new(&Key::generate(), "session", CookieContent::Signed);
        let id = SessionId::generate();
        assert_eq!(sealer.open(&sealer.sign_text(&id.to_string())), Some(id));
        assert_eq!(sealer.sign_text(&id.to_string()), sealer.seal(id));
        assert_eq!(sealer.open(&sealer.sign_text("not an id")), None);
    }

    #[test]
    fn debug_output_shows_no_key() {
        let sealer = CookieSealer::new(&Key::generate(), "session", CookieContent::Private);
        assert_eq!(
            format!("{sealer:?}"),
            r#"CookieSealer { name: "session", content: Private, .. }"#
        );
    }
}
