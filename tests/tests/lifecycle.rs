//! Expiry, key rotation, cookie modes and size limits, run against every store.

use std::time::Duration;

use actix_web::cookie::Key;
use actix_web::http::StatusCode;
use kv_sessions::{CookieContent, Expiry};
use kv_sessions_tests::{Backend, Harness, NO_VALUE};

kv_sessions_tests::for_every_backend!(
    reads_keep_an_idle_session_alive,
    a_read_soon_after_a_save_writes_nothing,
    a_session_keeps_its_own_expiry_across_requests,
    the_absolute_lifetime_ends_an_active_session,
    the_absolute_lifetime_holds_across_a_renewal,
    cookies_sealed_with_a_previous_key_are_accepted_and_resealed,
    private_cookies_hide_the_id_and_work_end_to_end,
    a_host_prefixed_cookie_name_works_end_to_end,
    a_write_past_the_size_limit_fails_and_changes_nothing,
);

fn max_age(page: &kv_sessions_tests::Page) -> Option<i64> {
    page.cookie("id")
        .and_then(|cookie| cookie.max_age())
        .map(|age| age.whole_seconds())
}

async fn reads_keep_an_idle_session_alive(backend: Backend) {
    let idle = Duration::from_secs(2);
    let harness = backend
        .start_with(|builder| builder.default_expiry(Expiry::OnInactivity(idle)))
        .await;
    let mut browser = harness.browser();
    browser.get("/set").await;
    let saves = harness.probe.saves();
    for _ in 0..5 {
        actix_rt::time::sleep(Duration::from_millis(700)).await;
        let page = browser.get("/").await;
        assert_eq!(page.body, "something", "a session in use never expires");
        assert_eq!(
            max_age(&page),
            Some(2),
            "the refreshed cookie follows the deadline"
        );
    }
    assert_eq!(
        harness.probe.saves(),
        saves + 5,
        "one deadline write per read past the threshold"
    );
}

async fn a_read_soon_after_a_save_writes_nothing(backend: Backend) {
    let harness = backend
        .start_with(|builder| builder.refresh_after(0.5))
        .await;
    let mut browser = harness.browser();
    browser.get("/set").await;
    let saves = harness.probe.saves();
    for _ in 0..10 {
        let page = browser.get("/").await;
        assert!(page.set_cookies.is_empty());
    }
    assert_eq!(harness.probe.saves(), saves);
}

async fn a_session_keeps_its_own_expiry_across_requests(backend: Backend) {
    let harness = backend.start().await;
    let mut browser = harness.browser();
    let month = 30 * 86_400;
    assert_eq!(max_age(&browser.get("/remember").await), Some(month));
    assert_eq!(
        max_age(&browser.get("/count").await),
        Some(month),
        "the rule was stored"
    );
    let mut other = harness.browser();
    assert_eq!(
        max_age(&other.get("/count").await),
        Some(3600),
        "others keep the default"
    );
}

async fn the_absolute_lifetime_ends_an_active_session(backend: Backend) {
    the_absolute_lifetime_holds_across(backend, "/count").await;
}

async fn the_absolute_lifetime_holds_across_a_renewal(backend: Backend) {
    the_absolute_lifetime_holds_across(backend, "/renew").await;
}

/// A session capped at two seconds from its creation is used through `path` a second in, and is
/// gone a second later, whatever `path` did to it.
async fn the_absolute_lifetime_holds_across(backend: Backend, path: &str) {
    let harness = backend
        .start_with(|builder| builder.absolute_lifetime(Duration::from_secs(2)))
        .await;
    let mut browser = harness.browser();
    assert_eq!(max_age(&browser.get("/count").await), Some(2));
    actix_rt::time::sleep(Duration::from_millis(1000)).await;
    let page = browser.get(path).await;
    assert_eq!(page.status, StatusCode::OK, "{path}");
    assert!(
        max_age(&page).is_some_and(|age| age <= 1),
        "{path}: the cap does not move"
    );
    let cookie = browser.cookie_value().expect("cookie").to_owned();
    actix_rt::time::sleep(Duration::from_millis(1100)).await;
    browser.set_cookie_value(Some(cookie));
    assert_eq!(
        browser.get("/count").await.body,
        "1",
        "{path}: past the cap the session is gone"
    );
}

async fn cookies_sealed_with_a_previous_key_are_accepted_and_resealed(backend: Backend) {
    let harness = backend.start().await;
    let mut browser = harness.browser();
    browser.get("/set").await;
    let old_cookie = browser.cookie_value().expect("cookie").to_owned();
    drop(browser);
    let (dir, store, old_key) = harness.stop().await;

    let new_key = Key::generate();
    let rotated = Harness::start(dir, store, new_key.clone(), |builder| {
        builder.previous_keys([Key::generate(), old_key])
    });
    let mut browser = rotated.browser();
    browser.set_cookie_value(Some(old_cookie.clone()));
    let page = browser.get("/").await;
    assert_eq!(page.body, "something");
    let resealed = browser.cookie_value().expect("cookie").to_owned();
    assert_ne!(
        resealed, old_cookie,
        "the cookie is sealed again with the current key"
    );
    assert_eq!(max_age(&page).map(|age| age > 3500), Some(true));
    drop(browser);
    let (dir, store, _) = rotated.stop().await;

    let retired = Harness::start(dir, store, new_key, |builder| builder);
    let mut browser = retired.browser();
    browser.set_cookie_value(Some(resealed));
    assert_eq!(browser.get("/").await.body, "something");
    browser.set_cookie_value(Some(old_cookie));
    assert_eq!(
        browser.get("/").await.body,
        NO_VALUE,
        "a retired key opens nothing"
    );
}

async fn private_cookies_hide_the_id_and_work_end_to_end(backend: Backend) {
    let harness = backend
        .start_with(|builder| builder.cookie_content(CookieContent::Private))
        .await;
    let mut browser = harness.browser();
    browser.get("/set").await;
    assert_eq!(browser.get("/").await.body, "something");
    let id = browser.get("/id").await.body;
    let cookie = browser.cookie_value().expect("cookie").to_owned();
    assert!(
        !cookie.contains(&id),
        "the id is not readable in the cookie"
    );
    let mut tampered = cookie.into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    browser.set_cookie_value(Some(String::from_utf8(tampered).expect("ascii")));
    assert_eq!(browser.get("/").await.body, NO_VALUE);
}

async fn a_host_prefixed_cookie_name_works_end_to_end(backend: Backend) {
    let harness = backend
        .start_with(|builder| builder.cookie_name("__Host-session"))
        .await;
    let mut browser = harness.browser_for("__Host-session");
    let set = browser.get("/set").await;
    assert_eq!(browser.get("/").await.body, "something");
    let removal = browser.get("/purge").await;
    for cookie in [
        set.cookie("__Host-session"),
        removal.cookie("__Host-session"),
    ] {
        let cookie = cookie.expect("cookie");
        assert_eq!(cookie.secure(), Some(true), "__Host- requires Secure");
        assert_eq!(cookie.path(), Some("/"), "__Host- requires Path=/");
        assert_eq!(cookie.domain(), None, "__Host- forbids Domain");
    }
    assert_eq!(browser.cookie_value(), None);
}

async fn a_write_past_the_size_limit_fails_and_changes_nothing(backend: Backend) {
    let harness = backend
        .start_with(|builder| builder.max_session_size(1024))
        .await;
    let mut browser = harness.browser();
    assert_eq!(browser.get("/big/500").await.status, StatusCode::OK);
    let saves = harness.probe.saves();
    let page = browser.get("/big/2000").await;
    assert_eq!(page.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(page.body, "Internal Server Error");
    assert_eq!(harness.probe.saves(), saves);
    assert_eq!(
        browser.get("/get/big").await.body.len(),
        500,
        "the stored session is unchanged"
    );
    assert_eq!(
        browser.get("/big/900").await.status,
        StatusCode::OK,
        "a replacement counts once"
    );
}
