//! Keeping responses that carry a session cookie out of shared caches.
//!
//! A `Set-Cookie` with a live id on a response that a CDN or a shared proxy stores would hand one
//! user's session to every later visitor of that URL. A deadline refresh or a re-seal after a key
//! rotation can add such a header to any GET, including one the app marked `public`. So every
//! response that sets or removes the session cookie leaves the middleware private:
//!
//! | the app's `Cache-Control` | sent |
//! |---|---|
//! | none | `no-store` |
//! | has `no-store` or `private` | unchanged |
//! | anything else | `private`, then the app's directives minus `public` and `s-maxage` |
//!
//! The app's own freshness rules (`max-age`, `no-cache`, `must-revalidate`) still reach the
//! browser's private cache; only shared caches are kept out.

use actix_web::http::header::{CACHE_CONTROL, HeaderMap, HeaderValue};

/// Makes the response whose headers are `headers` uncacheable by shared caches, keeping any
/// stricter rule the app set.
pub(crate) fn keep_private(headers: &mut HeaderMap) {
    let set: Result<Vec<&str>, _> = headers.get_all(CACHE_CONTROL).map(|v| v.to_str()).collect();
    let value = match set {
        Ok(set) if set.is_empty() => HeaderValue::from_static("no-store"),
        Ok(set) => match privatised(&set.join(",")) {
            Some(value) => value,
            None => return,
        },
        // Not text: nothing can tell what it allowed.
        Err(_) => HeaderValue::from_static("no-store"),
    };
    headers.insert(CACHE_CONTROL, value);
}

/// The app's `Cache-Control` directives made private, or `None` where they already keep shared
/// caches out.
fn privatised(text: &str) -> Option<HeaderValue> {
    let directives: Vec<&str> = text.split(',').map(str::trim).collect();
    let name = |directive: &str| {
        let name = directive.split('=').next().unwrap_or_default();
        name.trim().to_ascii_lowercase()
    };
    if directives
        .iter()
        .any(|d| matches!(name(d).as_str(), "no-store" | "private"))
    {
        return None;
    }
    let kept = directives
        .iter()
        .filter(|d| !d.is_empty() && !matches!(name(d).as_str(), "public" | "s-maxage"));
    let value = std::iter::once("private")
        .chain(kept.copied())
        .collect::<Vec<_>>()
        .join(", ");
    Some(HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("no-store")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn after(app: Option<&'static str>) -> String {
        let mut headers = HeaderMap::new();
        if let Some(value) = app {
            headers.insert(CACHE_CONTROL, HeaderValue::from_static(value));
        }
        keep_private(&mut headers);
        let value = headers.get(CACHE_CONTROL).expect("a Cache-Control");
        value.to_str().expect("text").to_owned()
    }

    #[test]
    fn a_response_the_app_left_alone_is_not_stored() {
        assert_eq!(after(None), "no-store");
    }

    #[test]
    fn a_stricter_rule_of_the_app_stands() {
        for strict in [
            "no-store",
            "private, max-age=60",
            "Private",
            "no-cache, no-store",
        ] {
            assert_eq!(after(Some(strict)), strict);
        }
    }

    #[test]
    fn a_public_rule_becomes_private_and_keeps_its_freshness() {
        assert_eq!(
            after(Some("public, max-age=3600, s-maxage=86400")),
            "private, max-age=3600"
        );
        assert_eq!(
            after(Some("max-age=0, must-revalidate")),
            "private, max-age=0, must-revalidate"
        );
        assert_eq!(after(Some("PUBLIC")), "private");
    }

    #[test]
    fn every_cache_control_header_of_the_app_counts() {
        let mut headers = HeaderMap::new();
        headers.append(CACHE_CONTROL, HeaderValue::from_static("public"));
        headers.append(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        keep_private(&mut headers);
        assert_eq!(headers.get_all(CACHE_CONTROL).count(), 2, "no-store stands");
    }
}
