//! The session cookie's settings, and the `Set-Cookie` headers that set and remove it.

use std::fmt::Write as _;
use std::time::SystemTime;

use actix_web::cookie::SameSite;
use actix_web::http::header::{HeaderValue, InvalidHeaderValue};

use super::CookieContent;
use super::secret::CookieSecret;
use crate::expiry::Expiry;
use crate::id::SessionId;

/// The attributes of the session cookie, and how its value is sealed.
#[derive(Debug, Clone)]
pub(crate) struct CookieConfig {
    pub(crate) name: String,
    pub(crate) path: String,
    pub(crate) domain: Option<String>,
    pub(crate) secure: bool,
    pub(crate) http_only: bool,
    pub(crate) same_site: SameSite,
    pub(crate) content: CookieContent,
    /// Whether cookies of earlier builds open: sealed with the app's key as given rather than the
    /// secret derived from it, and spelled in standard base64.
    pub(crate) accept_legacy: bool,
}

impl CookieConfig {
    /// What breaks the rule of the name's `__Host-` or `__Secure-` prefix, which browsers match
    /// in any case, if anything does.
    pub(crate) fn broken_prefix_rule(&self) -> Option<String> {
        let name = &self.name;
        let prefix = |p: &str| {
            name.get(..p.len())
                .is_some_and(|n| n.eq_ignore_ascii_case(p))
        };
        let host = prefix("__Host-");
        if !(host || prefix("__Secure-")) {
            return None;
        }
        let fix = "rename the cookie without the prefix, or keep the defaults it needs";
        if !self.secure {
            return Some(format!("a cookie named `{name}` needs `Secure`; {fix}"));
        }
        if host && self.domain.is_some() {
            return Some(format!("a cookie named `{name}` needs no `Domain`; {fix}"));
        }
        if host && self.path != "/" {
            let path = &self.path;
            return Some(format!(
                "a cookie named `{name}` needs `Path=/`, not `{path}`; {fix}"
            ));
        }
        None
    }
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

/// Room for a `Set-Cookie` header's attributes beyond the name, value, path and domain.
const SET_COOKIE_ROOM: usize = 128;

impl CookieConfig {
    /// The `Set-Cookie` header of the cookie that carries `id`, stamped with `version` where one
    /// is given, sealed with `secret`, living until `deadline` (or until the browser closes,
    /// under [`Expiry::OnSessionEnd`]).
    ///
    /// The error is a cookie path or domain that cannot go in a header.
    pub(crate) fn session_cookie(
        &self,
        id: SessionId,
        version: Option<u64>,
        rule: Expiry,
        deadline: SystemTime,
        now: SystemTime,
        secret: &CookieSecret,
    ) -> Result<HeaderValue, InvalidHeaderValue> {
        let Some(value) = self.seal(id, version, secret) else {
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
    /// Written here rather than through [`Cookie`](actix_web::cookie::Cookie)'s `Display`, which formats `Expires` through
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
    use actix_web::cookie::{Cookie, Key};

    use super::*;

    /// The cookie a `Set-Cookie` header sets, as a browser would read it.
    fn parsed(header: Result<HeaderValue, InvalidHeaderValue>) -> Cookie<'static> {
        let header = header.expect("a valid header");
        Cookie::parse(header.to_str().expect("ASCII").to_owned()).expect("a cookie")
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
            None,
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
        let secret = CookieSecret::from(Key::generate());
        let id = SessionId::generate();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let deadline = now + Duration::from_millis(3_599_500);
        let header = config
            .session_cookie(id, None, Expiry::default(), deadline, now, &secret)
            .expect("a valid header");
        let value = config.seal(id, None, &secret).expect("a sealed id");
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
        let (config, secret, id) = (
            CookieConfig::default(),
            CookieSecret::from(Key::generate()),
            SessionId::generate(),
        );
        let now = SystemTime::now();
        let minute = Duration::from_secs(60);
        let idle = parsed(config.session_cookie(
            id,
            None,
            Expiry::OnInactivity(minute),
            now + minute * 2,
            now,
            &secret,
        ));
        assert_eq!(idle.max_age(), Some(CookieDuration::seconds(120)));
        assert!(idle.expires_datetime().is_some());
        let browser = parsed(config.session_cookie(
            id,
            None,
            Expiry::OnSessionEnd(minute),
            now + minute,
            now,
            &secret,
        ));
        assert_eq!(browser.max_age(), None);
        assert_eq!(browser.expires(), None);
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
        let (config, secret, id) = (
            CookieConfig::default(),
            CookieSecret::from(Key::generate()),
            SessionId::generate(),
        );
        let now = SystemTime::now();
        let rule = Expiry::default();

        let header = config.session_cookie(id, None, rule, far_future(), now, &secret);
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

        let early = parsed(config.session_cookie(id, None, rule, far_past(), now, &secret));
        assert_eq!(early.max_age(), Some(CookieDuration::ZERO));
        assert_eq!(early.expires_datetime(), Some(OffsetDateTime::UNIX_EPOCH));
    }
}
