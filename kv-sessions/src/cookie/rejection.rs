//! Why a session cookie opened no session, told to the log at `debug` level.
//!
//! A refused cookie never fails a request (the request gets a fresh session), so without these
//! lines a user whose sessions vanish sees nothing at all. The most telling reason is a cookie
//! that looks right but that no key vouches for: the key changed, at a restart or between the
//! workers or instances of an app. No line carries the cookie's value or the id in it.

use super::{CookieConfig, percent};

/// Why a cookie named like ours opened no session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// The value is not one this middleware writes: cut short, altered out of shape, or another
    /// app's cookie of the same name.
    Malformed,
    /// The value has the shape of a sealed id, but neither the current key nor a previous one
    /// opens it: it was forged, or sealed with another key.
    BadSignature,
    /// The value opened, but the store holds no live session under its id: the session expired,
    /// was purged or renewed away, or was never issued by this store.
    NoLiveSession,
}

impl Rejection {
    /// Tells the log why the cookie named `cookie` was refused, where `debug` lines are kept.
    pub(super) fn log_at_debug(self, cookie: &str) {
        if tracing::enabled!(tracing::Level::DEBUG) {
            self.log(cookie);
        }
    }

    /// Tells the log why the cookie named `cookie` was refused.
    pub(crate) fn log(self, cookie: &str) {
        match self {
            Self::Malformed => tracing::debug!(
                cookie,
                "session cookie rejected, malformed: its value is not one this middleware \
                 writes; the request gets a fresh session"
            ),
            Self::BadSignature => tracing::debug!(
                cookie,
                "session cookie rejected, bad signature: neither the current key nor a previous \
                 one opens it, so it was forged or sealed with another key (a key that changed \
                 at a restart, or that differs between workers or instances: load one fixed key, \
                 once, before `HttpServer::new`); the request gets a fresh session"
            ),
            Self::NoLiveSession => tracing::debug!(
                cookie,
                "session cookie rejected, no live session: the store holds no session under its \
                 id (expired, purged, renewed, or never issued here); the request gets a fresh \
                 session"
            ),
        }
    }
}

impl CookieConfig {
    /// Why `value`, which none of the keys opened, was refused. It takes a second look at the
    /// value, its shape only: no key is tried again.
    pub(super) fn rejection(&self, value: &str) -> Rejection {
        let sealed = percent::decode(value).is_some_and(|value| self.looks_sealed(&value));
        if sealed {
            Rejection::BadSignature
        } else {
            Rejection::Malformed
        }
    }
}

#[cfg(test)]
mod tests {
    use actix_web::cookie::Key;

    use super::*;
    use crate::cookie::CookieContent;
    use crate::cookie::secret::CookieSecret;
    use crate::id::SessionId;

    fn sealed(config: &CookieConfig, key: &Key) -> String {
        let secret = CookieSecret::from(key.clone());
        config
            .seal(SessionId::generate(), None, &secret)
            .expect("sealed")
    }

    fn configs() -> [CookieConfig; 2] {
        [CookieContent::Signed, CookieContent::Private].map(|content| CookieConfig {
            content,
            ..CookieConfig::default()
        })
    }

    #[test]
    fn a_value_sealed_by_another_key_has_a_bad_signature() {
        for config in configs() {
            let value = sealed(&config, &Key::generate());
            assert_eq!(config.rejection(&value), Rejection::BadSignature);
            let escaped: String = value.bytes().map(|b| format!("%{b:02X}")).collect();
            assert_eq!(config.rejection(&escaped), Rejection::BadSignature);
        }
    }

    #[test]
    fn a_value_out_of_shape_is_malformed() {
        for config in configs() {
            let value = sealed(&config, &Key::generate());
            for broken in [
                String::new(),
                "garbage".to_owned(),
                value[..value.len() - 1].to_owned(),
                format!("{value}A"),
                value.replacen(|c: char| c.is_ascii_alphanumeric(), "!", 1),
                "%zz".to_owned(),
            ] {
                assert_eq!(config.rejection(&broken), Rejection::Malformed, "{broken}");
            }
        }
    }

    #[test]
    fn a_signed_value_whose_id_is_not_an_id_is_malformed() {
        let config = CookieConfig::default();
        let secret = CookieSecret::from(Key::generate());
        let value = config.sign("not-an-id-but-signed-all-the-same", &secret.derived);
        assert_eq!(config.rejection(&value), Rejection::Malformed);
    }
}
