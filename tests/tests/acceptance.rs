//! The acceptance suite: the whole life of a session, run against every store.

use std::time::Duration;

use actix_web::cookie::{Key, SameSite};
use actix_web::http::StatusCode;
use actix_web::http::header::COOKIE;
use kv_sessions::test_util::CookieSealer;
use kv_sessions::{CookieContent, Expiry, SessionId};
use kv_sessions_tests::{Backend, NO_VALUE, STORE_SECRET, assert_fresh, send};

kv_sessions_tests::for_every_backend!(
    seed_example_flow_stores_and_shows_the_value,
    a_request_that_writes_nothing_creates_nothing,
    a_handler_without_session_extractors_costs_no_lookup,
    the_session_cookie_has_secure_defaults_and_follows_the_expiry,
    typed_and_untyped_handles_share_one_session_loaded_once,
    reads_do_not_save_and_writes_do,
    remove_and_clear_delete_keys,
    purge_deletes_the_session_and_removes_the_cookie,
    writes_after_purge_start_a_new_session,
    renew_after_purge_does_not_resurrect_the_session,
    renew_moves_the_data_to_a_new_id_and_deletes_the_old_one,
    writes_after_renew_keep_the_new_id,
    renew_of_a_new_session_does_nothing,
    concurrent_writes_of_different_keys_all_survive,
    a_server_error_response_saves_nothing,
    forged_cookie_starts_a_fresh_session,
    garbage_cookies_start_a_fresh_session,
    signed_cookie_for_an_unknown_id_starts_a_fresh_session,
    expired_session_is_never_returned,
    a_value_of_the_wrong_type_is_an_opaque_500,
    a_failing_store_gives_opaque_500s_and_recovers,
    a_logout_that_ends_in_a_server_error_still_signs_out,
    a_failing_save_turns_the_response_into_a_500,
    builder_settings_reach_the_set_and_the_removal_cookie,
    a_fixed_deadline_ends_the_session_however_active,
);

async fn seed_example_flow_stores_and_shows_the_value(backend: Backend) {
    let harness = backend.start().await;
    let mut browser = harness.browser();
    let first = browser.get("/").await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.body, NO_VALUE);
    let set = browser.get("/set").await;
    assert_eq!(set.status, StatusCode::SEE_OTHER);
    assert_eq!(set.location.as_deref(), Some("/"));
    assert_eq!(browser.get("/").await.body, "something");
}

async fn a_request_that_writes_nothing_creates_nothing(backend: Backend) {
    let harness = backend.start().await;
    let mut browser = harness.browser();
    for path in ["/", "/id", "/remove/x", "/clear", "/purge", "/renew"] {
        let page = browser.get(path).await;
        assert!(
            page.set_cookies.is_empty(),
            "{path} set {:?}",
            page.set_cookies
        );
    }
    assert_eq!(harness.probe.saves(), 0);
    assert_eq!(harness.probe.loads(), 0, "no cookie, nothing to load");
}

async fn a_handler_without_session_extractors_costs_no_lookup(backend: Backend) {
    let harness = backend.start().await;
    let mut browser = harness.browser();
    browser.get("/set").await;
    let loads = harness.probe.loads();
    let page = browser.get("/plain").await;
    assert_eq!(page.body, "plain");
    assert!(page.set_cookies.is_empty());
    assert_eq!(harness.probe.loads(), loads);
}

async fn the_session_cookie_has_secure_defaults_and_follows_the_expiry(backend: Backend) {
    let harness = backend.start().await;
    let mut browser = harness.browser();
    let page = browser.get("/set").await;
    let cookie = page.cookie("id").expect("session cookie");
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(cookie.secure(), Some(true));
    assert_eq!(cookie.same_site(), Some(SameSite::Lax));
    assert_eq!(cookie.path(), Some("/"));
    assert_eq!(cookie.domain(), None);
    assert_eq!(cookie.max_age().map(|age| age.whole_seconds()), Some(3600));

    let removal = browser.get("/purge").await;
    let removal = removal.cookie("id").expect("removal cookie");
    assert_eq!(removal.value(), "");
    assert_eq!(removal.max_age().map(|age| age.whole_seconds()), Some(0));
    assert_eq!(removal.http_only(), Some(true));
    assert_eq!(removal.secure(), Some(true));
    assert_eq!(removal.same_site(), Some(SameSite::Lax));
    assert_eq!(removal.path(), Some("/"));
}

async fn typed_and_untyped_handles_share_one_session_loaded_once(backend: Backend) {
    let harness = backend.start().await;
    let mut browser = harness.browser();
    let page = browser.get("/shared").await;
    assert_eq!(page.body, r#"Some("from demo") Some(7)"#);
    let loads = harness.probe.loads();
    assert_eq!(browser.get("/shared").await.body, page.body);
    assert_eq!(harness.probe.loads(), loads + 1);
    assert_eq!(browser.get("/").await.body, "from demo");
    assert_eq!(browser.get("/get-number/counter.n").await.body, "Some(7)");
}

async fn reads_do_not_save_and_writes_do(backend: Backend) {
    let harness = backend.start().await;
    let mut browser = harness.browser();
    assert_eq!(browser.get("/count").await.body, "1");
    assert_eq!(browser.get("/count").await.body, "2");
    let saves = harness.probe.saves();
    let page = browser.get("/").await;
    assert!(page.set_cookies.is_empty());
    assert_eq!(harness.probe.saves(), saves);
    assert_eq!(browser.get("/count").await.body, "3");
    assert_eq!(harness.probe.saves(), saves + 1);
}

async fn remove_and_clear_delete_keys(backend: Backend) {
    let harness = backend.start().await;
    let mut browser = harness.browser();
    browser.get("/put/a/1").await;
    browser.get("/put/b/2").await;
    assert_eq!(browser.get("/remove/a").await.body, "removed");
    assert_eq!(browser.get("/remove/a").await.body, "absent");
    assert_eq!(browser.get("/get/b").await.body, "2");
    let id = browser.get("/id").await.body;
    browser.get("/clear").await;
    assert_eq!(browser.get("/get/b").await.status, StatusCode::NOT_FOUND);
    assert_eq!(browser.get("/id").await.body, id, "clear keeps the session");
}

async fn purge_deletes_the_session_and_removes_the_cookie(backend: Backend) {
    let harness = backend.start().await;
    let mut browser = harness.browser();
    browser.get("/set").await;
    let stolen = browser.cookie_value().expect("cookie").to_owned();
    let page = browser.get("/purge").await;
    assert_eq!(page.body, "none");
    assert_eq!(browser.cookie_value(), None);
    assert_eq!(browser.get("/").await.body, NO_VALUE);

    let mut thief = harness.browser();
    thief.set_cookie_value(Some(stolen));
    let replay = thief.get("/").await;
    assert_eq!(replay.body, NO_VALUE, "a purged id is dead");
    assert!(
        replay.cookie("id").is_none(),
        "only the purging response removes the cookie"
    );
}

async fn writes_after_purge_start_a_new_session(backend: Backend) {
    let harness = backend.start().await;
    let mut browser = harness.browser();
    browser.get("/put/old/1").await;
    let old = browser.get("/id").await.body;
    let new = browser.get("/purge?then=put").await;
    assert!(new.cookie("id").is_some_and(|c| !c.value().is_empty()));
    let new_id = browser.get("/id").await.body;
    assert_ne!(new_id, old);
    assert_eq!(browser.get("/get/after").await.body, "yes");
    assert_eq!(browser.get("/get/old").await.status, StatusCode::NOT_FOUND);
}

async fn renew_after_purge_does_not_resurrect_the_session(backend: Backend) {
    let harness = backend.start().await;
    let mut browser = harness.browser();
    browser.get("/put/secret/1").await;
    let stolen = browser.cookie_value().expect("cookie").to_owned();
    let page = browser.get("/purge?then=renew").await;
    assert_eq!(page.body, "none");
    assert_eq!(browser.cookie_value(), None);
    let mut thief = harness.browser();
    thief.set_cookie_value(Some(stolen));
    assert_eq!(thief.get("/get/secret").await.status, StatusCode::NOT_FOUND);
}

async fn renew_moves_the_data_to_a_new_id_and_deletes_the_old_one(backend: Backend) {
    let harness = backend.start().await;
    let mut browser = harness.browser();
    browser.get("/put/user/alice").await;
    let before = browser.cookie_value().expect("cookie").to_owned();
    let old_id = browser.get("/id").await.body;
    let renewed = browser.get("/renew").await;
    assert_ne!(renewed.body, old_id);
    assert_ne!(browser.cookie_value(), Some(before.as_str()));
    assert_eq!(browser.get("/id").await.body, renewed.body);
    assert_eq!(browser.get("/get/user").await.body, "alice");

    let mut fixated = harness.browser();
    fixated.set_cookie_value(Some(before));
    assert_eq!(fixated.get("/get/user").await.status, StatusCode::NOT_FOUND);
}

async fn writes_after_renew_keep_the_new_id(backend: Backend) {
    let harness = backend.start().await;
    let mut browser = harness.browser();
    browser.get("/put/user/alice").await;
    let renewed = browser.get("/renew?then=put").await.body;
    assert_eq!(browser.get("/id").await.body, renewed);
    assert_eq!(browser.get("/get/after").await.body, "yes");
    assert_eq!(browser.get("/get/user").await.body, "alice");
}

async fn renew_of_a_new_session_does_nothing(backend: Backend) {
    let harness = backend.start().await;
    let mut browser = harness.browser();
    let page = browser.get("/renew").await;
    assert_eq!(page.body, "none");
    assert!(page.set_cookies.is_empty());
    assert_eq!(harness.probe.saves(), 0);
}

async fn concurrent_writes_of_different_keys_all_survive(backend: Backend) {
    let harness = backend.start().await;
    let mut browser = harness.browser();
    browser.get("/put/seed/0").await;
    let cookie = format!("id={}", browser.cookie_value().expect("cookie"));
    let writers = 40;
    let requests: Vec<_> = (0..writers)
        .map(|i| {
            let request = harness
                .server
                .get(format!("/put/k{i}/v{i}"))
                .insert_header((COOKIE, cookie.clone()));
            actix_rt::spawn(send(request))
        })
        .collect();
    for request in requests {
        assert_eq!(request.await.expect("join").status, StatusCode::OK);
    }
    for i in 0..writers {
        let page = browser.get(&format!("/get/k{i}")).await;
        assert_eq!(page.body, format!("v{i}"), "key k{i} was lost");
    }
    assert_eq!(browser.get("/get/seed").await.body, "0");
}

async fn a_server_error_response_saves_nothing(backend: Backend) {
    let harness = backend.start().await;
    let mut browser = harness.browser();
    let page = browser.get("/fail/a/1").await;
    assert_eq!(page.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(page.set_cookies.is_empty());
    assert_eq!(harness.probe.saves(), 0);

    browser.get("/put/a/1").await;
    browser.get("/fail/a/2").await;
    assert_eq!(browser.get("/get/a").await.body, "1");
    let id = browser.get("/id").await.body;
    let page = browser.get("/fail-after?then=renew,put:b:2").await;
    assert_eq!(page.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(page.set_cookies.is_empty(), "no renewal, no cookie");
    assert_eq!(
        browser.get("/id").await.body,
        id,
        "the session was not renewed"
    );
    assert_eq!(browser.get("/get/b").await.status, StatusCode::NOT_FOUND);
}

async fn a_logout_that_ends_in_a_server_error_still_signs_out(backend: Backend) {
    let harness = backend.start().await;
    let mut browser = harness.browser();
    browser.get("/put/user/alice").await;
    let id: SessionId = browser.get("/id").await.body.parse().expect("an id");
    let cookie = browser.cookie_value().expect("cookie").to_owned();

    let page = browser.get("/fail-after?then=purge,put:after:1").await;
    assert_eq!(page.status, StatusCode::INTERNAL_SERVER_ERROR);
    let removal = page.cookie("id").expect("the purge removes the cookie");
    assert_eq!(removal.value(), "");
    assert_eq!(
        harness.store.persisted(&id).await,
        None,
        "the purge was carried out"
    );
    let mut thief = harness.browser();
    thief.set_cookie_value(Some(cookie));
    assert_eq!(thief.get("/get/user").await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        browser.get("/get/after").await.status,
        StatusCode::NOT_FOUND,
        "the write after the purge was discarded with the failed response"
    );
}

async fn forged_cookie_starts_a_fresh_session(backend: Backend) {
    let harness = backend.start().await;
    let mut victim = harness.browser();
    victim.get("/set").await;
    let genuine = victim.cookie_value().expect("cookie").to_owned();
    let id: SessionId = victim.get("/id").await.body.parse().expect("an id");
    let forger = CookieSealer::new(&Key::generate(), "id", CookieContent::Signed);
    let forged = forger.seal(id);
    assert_eq!(
        forger.open(&forged),
        Some(id),
        "well formed, under another key"
    );
    let mut attacker = harness.browser();
    attacker.set_cookie_value(Some(forged));
    assert_fresh(&attacker.get("/").await);

    let mut tampered = genuine.into_bytes();
    tampered[0] = if tampered[0] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ascii");
    attacker.set_cookie_value(Some(tampered.clone()));
    assert_fresh(&attacker.get("/").await);

    for cookie in [forger.seal(id), tampered] {
        let mut writer = harness.browser();
        writer.set_cookie_value(Some(cookie));
        assert_eq!(
            writer.get("/count").await.body,
            "1",
            "a write starts afresh"
        );
        let issued = writer.cookie_value().expect("a new cookie").to_owned();
        let sealer = CookieSealer::new(&harness.key, "id", CookieContent::Signed);
        assert_ne!(
            sealer.open(&issued),
            Some(id),
            "the victim's id is never adopted"
        );
    }
    let stored = harness
        .store
        .persisted(&id)
        .await
        .expect("the victim's session");
    assert_eq!(stored.version(), 1, "no forged request wrote to it");
    assert_eq!(victim.get("/").await.body, "something");
}

async fn garbage_cookies_start_a_fresh_session(backend: Backend) {
    let harness = backend.start().await;
    let long = "x".repeat(4000);
    for value in ["", "=", "garbage", "%00%ff", "a.b.c", long.as_str()] {
        let mut browser = harness.browser();
        browser.set_cookie_value(Some(value.to_owned()));
        let page = browser.get("/").await;
        assert_eq!(page.status, StatusCode::OK, "cookie {value:?}");
        assert_eq!(page.body, NO_VALUE);
    }
    let request = harness
        .server
        .get("/")
        .insert_header((COOKIE, "id=1; id=2; other=3; ;;; =; id"));
    assert_eq!(send(request).await.body, NO_VALUE);
    assert_eq!(
        harness.probe.saves(),
        0,
        "reads with garbage create nothing"
    );

    let sealer = CookieSealer::new(&harness.key, "id", CookieContent::Signed);
    for value in ["garbage", "%00%ff", long.as_str()] {
        let mut writer = harness.browser();
        writer.set_cookie_value(Some(value.to_owned()));
        assert_eq!(writer.get("/count").await.body, "1", "cookie {value:?}");
        let issued = writer.cookie_value().expect("a new cookie");
        assert!(
            sealer.open(issued).is_some(),
            "a valid cookie replaces {value:?}"
        );
    }
}

async fn signed_cookie_for_an_unknown_id_starts_a_fresh_session(backend: Backend) {
    let harness = backend.start().await;
    let mut browser = harness.browser();
    let sealer = CookieSealer::new(&harness.key, "id", CookieContent::Signed);
    let unknown = SessionId::generate();
    let cookie = sealer.seal(unknown);
    assert_eq!(
        sealer.open(&cookie),
        Some(unknown),
        "signed with the server's key"
    );
    browser.set_cookie_value(Some(cookie));
    assert_fresh(&browser.get("/").await);
    assert_eq!(
        harness.probe.loads(),
        1,
        "the id was looked up, not rejected"
    );
    let page = browser.get("/set").await;
    let issued = page.cookie("id").expect("new cookie").value();
    let issued = sealer.open(issued).expect("a cookie the server sealed");
    assert_ne!(
        issued, unknown,
        "an id the server did not issue is never adopted"
    );
}

async fn expired_session_is_never_returned(backend: Backend) {
    let harness = backend
        .start_with(|builder| builder.default_expiry(Expiry::OnInactivity(Duration::from_secs(1))))
        .await;
    let mut browser = harness.browser();
    let page = browser.get("/set").await;
    assert_eq!(
        page.cookie("id")
            .and_then(|c| c.max_age())
            .map(|a| a.whole_seconds()),
        Some(1)
    );
    assert_eq!(browser.get("/").await.body, "something");
    let expired = browser.cookie_value().expect("cookie").to_owned();
    actix_rt::time::sleep(Duration::from_millis(1100)).await;
    browser.set_cookie_value(Some(expired));
    assert_fresh(&browser.get("/").await);
}

async fn a_value_of_the_wrong_type_is_an_opaque_500(backend: Backend) {
    let harness = backend.start().await;
    let mut browser = harness.browser();
    browser.get("/put/counter.n/not-a-number").await;
    let page = browser.get("/count").await;
    assert_eq!(page.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(page.body, "Internal Server Error");
    let untyped = browser.get("/get-number/counter.n").await;
    assert_eq!(untyped.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        !untyped.body.contains("invalid type"),
        "serde's message leaked"
    );
    assert_eq!(browser.get("/get/counter.n").await.body, "not-a-number");
}

async fn a_failing_store_gives_opaque_500s_and_recovers(backend: Backend) {
    let harness = backend.start().await;
    let mut browser = harness.browser();
    browser.get("/set").await;
    harness.probe.set_failing(true);
    let page = browser.get("/").await;
    assert_eq!(page.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!page.body.contains(STORE_SECRET) && !page.body.contains("hunter2"));
    assert_eq!(page.body, "Internal Server Error");
    assert_eq!(browser.get("/plain").await.status, StatusCode::OK);
    harness.probe.set_failing(false);
    assert_eq!(browser.get("/").await.body, "something");
}

async fn a_failing_save_turns_the_response_into_a_500(backend: Backend) {
    let harness = backend.start().await;
    let mut browser = harness.browser();
    browser.get("/put/a/1").await;
    let cookie = browser.cookie_value().expect("cookie").to_owned();
    harness.probe.set_failing_saves(true);
    let page = browser.get("/set").await;
    harness.probe.set_failing_saves(false);
    assert_eq!(page.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(page.body, "Internal Server Error");
    assert!(
        page.set_cookies.is_empty(),
        "no cookie for a write that failed"
    );
    assert_eq!(browser.cookie_value(), Some(cookie.as_str()));
    assert_eq!(
        browser.get("/").await.body,
        NO_VALUE,
        "the failed write did not persist"
    );
    assert_eq!(browser.get("/get/a").await.body, "1");
}

async fn builder_settings_reach_the_set_and_the_removal_cookie(backend: Backend) {
    let harness = backend
        .start_with(|builder| {
            builder
                .cookie_path("/")
                .cookie_domain(Some("example.test".to_owned()))
                .cookie_secure(false)
                .cookie_http_only(false)
                .cookie_same_site(SameSite::Strict)
                .default_expiry(Expiry::OnSessionEnd(Duration::from_secs(60)))
        })
        .await;
    let mut browser = harness.browser();
    let set = browser.get("/set").await;
    let removal = browser.get("/purge").await;
    for cookie in [set.cookie("id"), removal.cookie("id")] {
        let cookie = cookie.expect("cookie");
        assert_ne!(cookie.secure(), Some(true));
        assert_ne!(cookie.http_only(), Some(true));
        assert_eq!(cookie.same_site(), Some(SameSite::Strict));
        assert_eq!(cookie.domain(), Some("example.test"));
        assert_eq!(cookie.path(), Some("/"));
    }
    let set = set.cookie("id").expect("cookie");
    assert_eq!(set.max_age(), None, "a browser-session cookie");
    assert_eq!(set.expires(), None);
}

async fn a_fixed_deadline_ends_the_session_however_active(backend: Backend) {
    let deadline = std::time::SystemTime::now() + Duration::from_secs(2);
    let harness = backend
        .start_with(|builder| builder.default_expiry(Expiry::AtDateTime(deadline)))
        .await;
    let mut browser = harness.browser();
    let page = browser.get("/count").await;
    let max_age = page
        .cookie("id")
        .and_then(|c| c.max_age())
        .expect("max-age");
    assert!(max_age.whole_seconds() <= 2, "{max_age}");
    assert_eq!(browser.get("/count").await.body, "2");
    let cookie = browser.cookie_value().expect("cookie").to_owned();
    let left = deadline
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default();
    actix_rt::time::sleep(left + Duration::from_millis(100)).await;
    browser.set_cookie_value(Some(cookie));
    assert_eq!(
        browser.get("/count").await.body,
        "1",
        "a new session after the deadline"
    );
}
