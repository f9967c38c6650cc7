//! Concurrent requests of one client, in the orders that used to break a session's promises.
//!
//! Each test holds one request at the app's gate (`/hold`), after its session was loaded, while
//! other requests run, then lets it finish. What the store holds is checked underneath any cache,
//! as a restart would find it.

use std::time::{Duration, SystemTime};

use actix_web::http::StatusCode;
use actix_web::http::header::COOKIE;
use kv_sessions::{Expiry, Record, SessionId};
use kv_sessions_tests::{Backend, Browser, Harness, NO_VALUE, Page, send};

kv_sessions_tests::for_every_backend!(
    a_write_held_across_a_logout_does_not_bring_the_session_back,
    a_renewal_held_across_a_logout_moves_none_of_the_users_data,
    a_renewal_held_across_a_logout_keeps_only_its_own_writes,
    a_logout_held_across_a_renewal_leaves_the_renewed_session,
    a_login_survives_reads_of_the_old_cookie_answered_after_it,
    a_write_held_across_a_renewal_is_refused_and_leaves_the_login,
    a_write_with_the_old_cookie_just_after_a_login_is_refused_and_leaves_it,
    a_write_held_while_the_session_expires_is_refused,
    a_stale_write_keeps_a_rule_set_meanwhile,
    a_stale_write_keeps_a_shortened_rule,
    concurrent_writes_never_grow_a_session_past_its_cap,
    an_expiry_from_user_input_neither_panics_nor_outlives_400_days,
    a_write_that_failed_after_the_store_applied_it_leaves_no_stale_copy,
    concurrent_writes_of_one_key_leave_one_of_them,
);

/// Starts `GET /hold?then=<steps>` with `cookie`, and returns once its session is loaded and
/// it waits at the gate. `await` the handle after opening the gate.
async fn held(harness: &Harness, cookie: &str, steps: &str) -> actix_rt::task::JoinHandle<Page> {
    let request = harness
        .server
        .get(format!("/hold?then={steps}"))
        .insert_header((COOKIE, format!("id={cookie}")));
    let page = actix_rt::spawn(send(request));
    harness.gate.arrivals(1).await;
    page
}

/// A browser logged in as alice, and its session id.
async fn logged_in(harness: &Harness) -> (Browser<'_>, SessionId) {
    let mut browser = harness.browser();
    browser.get("/put/user/alice").await;
    let id = browser.get("/id").await.body.parse().expect("an id");
    (browser, id)
}

fn removes_the_cookie(page: &Page) -> bool {
    page.cookie("id")
        .is_some_and(|cookie| cookie.max_age().is_some_and(|age| age.is_zero()))
}

fn max_age(page: &Page) -> Option<i64> {
    page.cookie("id")
        .and_then(|cookie| cookie.max_age())
        .map(|age| age.whole_seconds())
}

async fn persisted(harness: &Harness, id: &str) -> Option<Record> {
    harness.store.persisted(&id.parse().expect("an id")).await
}

async fn a_write_held_across_a_logout_does_not_bring_the_session_back(backend: Backend) {
    let harness = backend.start().await;
    let (mut browser, id) = logged_in(&harness).await;
    let cookie = browser.cookie_value().expect("cookie").to_owned();
    let writer = held(&harness, &cookie, "put:cart:1").await;

    assert!(removes_the_cookie(&browser.get("/purge").await));
    harness.gate.open(1);
    let late = writer.await.expect("join");

    assert_eq!(
        late.status,
        StatusCode::CONFLICT,
        "the write was not kept, and the client is told so"
    );
    assert!(
        late.cookie("id").is_none(),
        "its response sends no cookie, which could replace a newer one"
    );
    assert_eq!(
        harness.store.persisted(&id).await,
        None,
        "nothing was re-created"
    );
    let mut thief = harness.browser();
    thief.set_cookie_value(Some(cookie));
    assert_eq!(thief.get("/get/user").await.status, StatusCode::NOT_FOUND);
}

async fn a_renewal_held_across_a_logout_moves_none_of_the_users_data(backend: Backend) {
    let harness = backend.start().await;
    let (mut browser, id) = logged_in(&harness).await;
    let cookie = browser.cookie_value().expect("cookie").to_owned();
    let renewer = held(&harness, &cookie, "renew").await;

    browser.get("/purge").await;
    harness.gate.open(1);
    let late = renewer.await.expect("join");

    assert_eq!(late.status, StatusCode::OK);
    assert!(late.cookie("id").is_none(), "no session to hand out");
    assert_eq!(harness.store.persisted(&id).await, None);
    assert_eq!(persisted(&harness, &late.body).await, None, "nothing moved");
}

async fn a_renewal_held_across_a_logout_keeps_only_its_own_writes(backend: Backend) {
    let harness = backend.start().await;
    let (mut browser, _) = logged_in(&harness).await;
    let cookie = browser.cookie_value().expect("cookie").to_owned();
    let renewer = held(&harness, &cookie, "renew,put:theme:dark").await;

    browser.get("/purge").await;
    harness.gate.open(1);
    let late = renewer.await.expect("join");

    let fresh = persisted(&harness, &late.body)
        .await
        .expect("a fresh session");
    assert_eq!(fresh.get("user"), None, "alice's login did not move");
    assert_eq!(fresh.get("theme"), Some("\"dark\""));
    let mut after = harness.browser();
    after.set_cookie_value(Some(late.cookie("id").expect("cookie").value().to_owned()));
    assert_eq!(after.get("/get/user").await.status, StatusCode::NOT_FOUND);
}

async fn a_logout_held_across_a_renewal_leaves_the_renewed_session(backend: Backend) {
    let harness = backend.start().await;
    let (mut browser, id) = logged_in(&harness).await;
    let cookie = browser.cookie_value().expect("cookie").to_owned();
    let logout = held(&harness, &cookie, "purge").await;

    let renewed = browser.get("/renew").await;
    harness.gate.open(1);
    let late = logout.await.expect("join");

    assert!(removes_the_cookie(&late));
    assert_eq!(harness.store.persisted(&id).await, None);
    let moved = persisted(&harness, &renewed.body).await;
    assert_eq!(
        moved.and_then(|record| record.get("user").map(str::to_owned)),
        Some("\"alice\"".to_owned()),
        "the logout named the old id, which the renewal had already retired"
    );
}

/// The page's parallel requests around a login: ten reads with the old cookie are loaded before
/// the login renews the session, ten more after it, and every one of their answers reaches the
/// browser after the login's.
async fn a_login_survives_reads_of_the_old_cookie_answered_after_it(backend: Backend) {
    const HELD: usize = 10;
    let harness = backend.start().await;
    let (mut browser, id) = logged_in(&harness).await;
    let old = browser.cookie_value().expect("cookie").to_owned();
    let mut early = Vec::new();
    for _ in 0..HELD {
        early.push(held(&harness, &old, "").await);
    }

    let login = browser.get("/renew?then=put:user:bob").await;
    let renewed = browser
        .cookie_value()
        .expect("the login's cookie")
        .to_owned();
    assert_ne!(renewed, old);
    let mut late = Vec::new();
    for _ in 0..HELD {
        let request = harness
            .server
            .get("/get/user")
            .insert_header((COOKIE, format!("id={old}")));
        late.push(send(request).await);
    }
    harness.gate.open(HELD);
    for handle in early {
        late.push(handle.await.expect("join"));
    }

    for page in &late {
        assert!(!page.status.is_server_error(), "{}", page.body);
        assert!(
            page.cookie("id").is_none(),
            "a read of a gone session sent a cookie"
        );
        browser.receive(page);
    }
    assert_eq!(browser.cookie_value(), Some(renewed.as_str()));
    assert_eq!(
        browser.get("/get/user").await.body,
        "bob",
        "still signed in"
    );
    assert_eq!(harness.store.persisted(&id).await, None);
    assert_eq!(login.status, StatusCode::OK);
}

async fn a_write_held_across_a_renewal_is_refused_and_leaves_the_login(backend: Backend) {
    let harness = backend.start().await;
    let (mut browser, _) = logged_in(&harness).await;
    let cookie = browser.cookie_value().expect("cookie").to_owned();
    let writer = held(&harness, &cookie, "put:cart:1").await;

    let login = browser.get("/renew").await;
    harness.gate.open(1);
    let late = writer.await.expect("join");
    browser.receive(&late);

    assert_eq!(late.status, StatusCode::CONFLICT, "the write was not kept");
    assert!(
        late.cookie("id").is_none(),
        "no anonymous cookie over the login's"
    );
    assert_eq!(browser.get("/get/user").await.body, "alice");
    assert_eq!(browser.get("/get/cart").await.status, StatusCode::NOT_FOUND);
    let retry = browser.get("/put/cart/1").await;
    assert_eq!(retry.status, StatusCode::OK);
    assert_eq!(
        browser.get("/id").await.body,
        login.body,
        "the retry wrote to the renewed session"
    );
}

/// A request of the login's page that reaches the server after the renewal: its session is
/// gone, as an expired one would be, but a fresh session would put an anonymous cookie over the
/// login's.
async fn a_write_with_the_old_cookie_just_after_a_login_is_refused_and_leaves_it(backend: Backend) {
    let harness = backend.start().await;
    let (mut browser, _) = logged_in(&harness).await;
    let old = browser.cookie_value().expect("cookie").to_owned();
    browser.get("/renew").await;

    let request = harness
        .server
        .get("/put/cart/1")
        .insert_header((COOKIE, format!("id={old}")));
    let late = send(request).await;
    browser.receive(&late);

    assert_eq!(late.status, StatusCode::CONFLICT, "the write was not kept");
    assert!(
        late.cookie("id").is_none(),
        "no anonymous cookie over the login's"
    );
    assert_eq!(
        browser.get("/get/user").await.body,
        "alice",
        "still signed in"
    );
    assert_eq!(browser.get("/get/cart").await.status, StatusCode::NOT_FOUND);
}

async fn a_write_held_while_the_session_expires_is_refused(backend: Backend) {
    let harness = backend.start().await;
    let mut browser = harness.browser();
    let soon = SystemTime::now() + Duration::from_secs(2);
    let until = soon
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("after 1970");
    browser
        .get(&format!(
            "/do?then=put:user:alice,until:{}",
            until.as_secs()
        ))
        .await;
    let cookie = browser.cookie_value().expect("cookie").to_owned();
    let writer = held(&harness, &cookie, "put:cart:1").await;

    let deadline = SystemTime::UNIX_EPOCH + Duration::from_secs(until.as_secs());
    while SystemTime::now() <= deadline + Duration::from_millis(100) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    harness.gate.open(1);
    let late = writer.await.expect("join");

    assert_eq!(late.status, StatusCode::CONFLICT, "the write was not kept");
    assert!(late.cookie("id").is_none());
    assert_eq!(browser.get("/get/cart").await.status, StatusCode::NOT_FOUND);
    assert_eq!(browser.get("/put/cart/1").await.status, StatusCode::OK);
    assert_eq!(
        browser.get("/get/cart").await.body,
        "1",
        "a fresh session took it"
    );
}

async fn a_stale_write_keeps_a_rule_set_meanwhile(backend: Backend) {
    let harness = backend.start().await;
    let (mut browser, id) = logged_in(&harness).await;
    let cookie = browser.cookie_value().expect("cookie").to_owned();
    let writer = held(&harness, &cookie, "put:cart:1").await;

    let month = 30 * 86_400;
    assert_eq!(max_age(&browser.get("/remember").await), Some(month));
    harness.gate.open(1);
    let late = writer.await.expect("join");

    assert_eq!(
        max_age(&late),
        Some(month),
        "the stale write kept the new rule"
    );
    let stored = harness.store.persisted(&id).await.expect("stored");
    assert_eq!(
        stored.expiry(),
        Some(Expiry::OnInactivity(Duration::from_secs(month as u64)))
    );
    assert_eq!(stored.get("cart"), Some("\"1\""));
}

async fn a_stale_write_keeps_a_shortened_rule(backend: Backend) {
    let harness = backend.start().await;
    let (mut browser, _) = logged_in(&harness).await;
    browser.get("/remember").await;
    let cookie = browser.cookie_value().expect("cookie").to_owned();
    let writer = held(&harness, &cookie, "put:cart:1").await;

    assert_eq!(max_age(&browser.get("/do?then=sudo").await), Some(300));
    harness.gate.open(1);
    let late = writer.await.expect("join");

    assert_eq!(
        max_age(&late),
        Some(300),
        "the sudo window was not stretched"
    );
}

async fn concurrent_writes_never_grow_a_session_past_its_cap(backend: Backend) {
    let cap = 32 * 1024;
    let harness = backend
        .start_with(|builder| builder.max_session_size(cap))
        .await;
    let (browser, id) = logged_in(&harness).await;
    let cookie = browser.cookie_value().expect("cookie").to_owned();
    let mut writers = Vec::new();
    for i in 0..10 {
        writers.push(held(&harness, &cookie, &format!("big:k{i}:10240")).await);
    }
    harness.gate.open(10);
    let mut statuses = Vec::new();
    for writer in writers {
        let page = writer.await.expect("join");
        if page.status != StatusCode::OK {
            assert_eq!(page.body, "Internal Server Error");
            assert!(page.set_cookies.is_empty(), "no cookie for a refused write");
        }
        statuses.push(page.status);
    }

    let accepted = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(
        accepted, 3,
        "only the writes that fit were told OK: {statuses:?}"
    );
    let stored = harness.store.persisted(&id).await.expect("stored");
    let size: usize = stored.entries().map(|(k, v)| k.len() + v.len()).sum();
    assert!(size <= cap, "{size} bytes stored under a cap of {cap}");
    let mut browser = browser;
    assert_eq!(
        browser.get("/put/small/x").await.status,
        StatusCode::OK,
        "the session still takes writes that fit"
    );
}

async fn an_expiry_from_user_input_neither_panics_nor_outlives_400_days(backend: Backend) {
    // Without an absolute lifetime, which would cut every rule to 30 days first.
    let harness = backend
        .start_with(|builder| builder.absolute_lifetime(None))
        .await;
    let longest = Expiry::LONGEST.as_secs() as i64;
    for steps in ["forever", "until:253402300800", "until:9000000000000"] {
        let (mut browser, _) = logged_in(&harness).await;
        let page = browser.get(&format!("/do?then={steps}")).await;
        assert_eq!(page.status, StatusCode::OK, "{steps}");
        let age = max_age(&page).expect("a persistent cookie");
        assert!((longest - 2..=longest).contains(&age), "{steps}: {age}");
        assert_eq!(browser.get("/get/user").await.body, "alice", "{steps}");
    }
}

async fn a_write_that_failed_after_the_store_applied_it_leaves_no_stale_copy(backend: Backend) {
    let harness = backend.start().await;
    let mut browser = harness.browser();
    browser.get("/put/a/1").await;
    assert_eq!(browser.get("/get/a").await.body, "1");

    harness.store.faults().fail_after_writes(true);
    let failed = browser.get("/put/a/2").await;
    harness.store.faults().fail_after_writes(false);

    assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        browser.get("/get/a").await.body,
        "2",
        "every read agrees with the store, which applied the write"
    );
}

async fn concurrent_writes_of_one_key_leave_one_of_them(backend: Backend) {
    let harness = backend.start().await;
    let (mut browser, id) = logged_in(&harness).await;
    let cookie = browser.cookie_value().expect("cookie").to_owned();
    let first = held(&harness, &cookie, "put:theme:light").await;
    let second = held(&harness, &cookie, "put:theme:dark").await;
    harness.gate.open(2);
    first.await.expect("join");
    second.await.expect("join");
    let theme = browser.get("/get/theme").await.body;
    assert!(theme == "light" || theme == "dark", "{theme}");
    let stored = harness.store.persisted(&id).await.expect("stored");
    assert_eq!(stored.get("theme"), Some(format!("\"{theme}\"").as_str()));
    assert_eq!(stored.get("user"), Some("\"alice\""));
}

/// The cache can drop any entry, so a purge must stay a purge even when the cache forgot it
/// while a load of the purged session was still reading the store.
#[actix_rt::test]
async fn a_load_racing_a_logout_never_caches_the_purged_session() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sled = kv_sessions::SledStore::open(dir.path().join("sessions.sled")).expect("sled");
    let cache = kv_sessions::MokaStore::new(16);
    let store = kv_sessions_tests::AnyStore::cached(cache.clone(), sled);
    let harness = Harness::start(dir, store, actix_web::cookie::Key::generate(), |b| b);
    let (mut browser, id) = logged_in(&harness).await;
    let cookie = browser.cookie_value().expect("cookie").to_owned();
    // The cache forgets the session, as eviction would, so that the next load reads the store.
    kv_sessions::SessionCache::invalidate(&cache, &id).await;

    let store_gate = kv_sessions_tests::Gate::default();
    harness.store.faults().hold_loads(Some(store_gate.clone()));
    let reader = harness
        .server
        .get("/get/user")
        .insert_header((COOKIE, format!("id={cookie}")));
    let reader = actix_rt::spawn(send(reader));
    store_gate.arrivals(1).await;
    harness.store.faults().hold_loads(None);

    assert!(removes_the_cookie(&browser.get("/purge").await));
    flood(&harness, 64).await;
    store_gate.open(1);
    assert_eq!(
        reader.await.expect("join").body,
        "alice",
        "it read before the purge"
    );

    assert_eq!(kv_sessions::SessionCache::get(&cache, &id).await, None);
    let mut thief = harness.browser();
    thief.set_cookie_value(Some(cookie));
    assert_eq!(thief.get("/").await.body, NO_VALUE);
}

/// Creates `count` sessions, more than a small cache holds.
async fn flood(harness: &Harness, count: usize) {
    for _ in 0..count {
        harness.browser().get("/set").await;
    }
}
