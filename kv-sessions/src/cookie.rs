//! Reading and writing the session cookie.
//!
//! The cookie's value is the session id's 32 hex digits, signed with HMAC-SHA256 by actix-web's
//! signed cookie jar; the signature also covers the cookie's name. A version stamp for
//! cross-instance coherence can later follow the id after a `.`; a server that predates it
//! reads such a cookie as invalid and starts a fresh session, which is safe.

use std::time::SystemTime;

use actix_web::cookie::time::{Duration as CookieDuration, OffsetDateTime};
use actix_web::cookie::{Cookie, CookieJar, Key, SameSite};
use actix_web::http::header::{COOKIE, HeaderMap};

use crate::expiry::Expiry;
use crate::id::SessionId;

/// What a request's cookies say about its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Incoming {
    /// No cookie of ours.
    Absent,
    /// A cookie of ours that is forged, damaged or not an id.
    Rejected,
    /// A correctly signed id. The session may still be unknown or expired.
    Signed(SessionId),
}

/// The attributes of the session cookie.
#[derive(Debug, Clone)]
pub(crate) struct CookieConfig {
    pub(crate) name: String,
    pub(crate) path: String,
    pub(crate) domain: Option<String>,
    pub(crate) secure: bool,
    pub(crate) http_only: bool,
    pub(crate) same_site: SameSite,
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
        }
    }
}

impl CookieConfig {
    /// Finds the session id in the request's `Cookie` headers.
    ///
    /// Browsers may send several cookies of one name (set for different paths); the first one
    /// that verifies wins. Headers that are not UTF-8 and pairs without `=` are skipped.
    pub(crate) fn read(&self, headers: &HeaderMap, key: &Key) -> Incoming {
        let mut incoming = Incoming::Absent;
        for value in self.values(headers) {
            match self.verify(value, key) {
                Some(id) => return Incoming::Signed(id),
                None => incoming = Incoming::Rejected,
            }
        }
        incoming
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

    fn verify(&self, value: &str, key: &Key) -> Option<SessionId> {
        let cookie = Cookie::new(self.name.clone(), value.to_owned());
        let verified = CookieJar::new().signed(key).verify(cookie)?;
        verified.value().parse().ok()
    }

    /// The signed cookie that carries `id`, with a lifetime that follows `expiry`.
    pub(crate) fn session_cookie(
        &self,
        id: SessionId,
        expiry: Expiry,
        now: SystemTime,
        key: &Key,
    ) -> Cookie<'static> {
        let mut cookie = self.base(id.to_string());
        match expiry {
            Expiry::OnInactivity(idle) => cookie.set_max_age(to_cookie_duration(idle)),
            Expiry::AtDateTime(at) => {
                let left = at.duration_since(now).unwrap_or_default();
                cookie.set_max_age(to_cookie_duration(left));
                cookie.set_expires(OffsetDateTime::from(at));
            }
            Expiry::OnSessionEnd(_) => {}
        }
        let mut jar = CookieJar::new();
        jar.signed_mut(key).add(cookie);
        jar.delta().next().cloned().unwrap_or_else(|| self.removal_cookie())
    }

    /// A cookie that makes the browser drop the session cookie. It carries the same name, path,
    /// domain and flags as the cookie it removes, or the browser would keep the original.
    pub(crate) fn removal_cookie(&self) -> Cookie<'static> {
        let mut cookie = self.base(String::new());
        cookie.make_removal();
        cookie
    }

    fn base(&self, value: String) -> Cookie<'static> {
        let mut cookie = Cookie::new(self.name.clone(), value);
        cookie.set_path(self.path.clone());
        if let Some(domain) = &self.domain {
            cookie.set_domain(domain.clone());
        }
        cookie.set_secure(self.secure);
        cookie.set_http_only(self.http_only);
        cookie.set_same_site(self.same_site);
        cookie
    }
}

fn to_cookie_duration(duration: std::time::Duration) -> CookieDuration {
    CookieDuration::seconds(i64::try_from(duration.as_secs()).unwrap_or(i64::MAX))
}
