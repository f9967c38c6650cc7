//! Revoking a user's sessions while their requests are under way: the rows of the concurrency
//! table for revoke-all.
//!
//! Each `held` test holds one request at the app's gate (`/hold`), after its session was
//! loaded, while a revoke-all runs, then lets it finish. Each `racing` test fires requests at
//! the server's two worker threads at once, with no order forced, over several rounds, and
//! checks what must hold whatever the order. What the store holds is checked beneath any cache.

use actix_web::http::StatusCode;
use actix_web::http::header::COOKIE;
use kv_sessions::SessionId;
use kv_sessions_tests::{Backend, Browser, Harness, Page, send};

kv_sessions_tests::for_every_backend!(
    a_write_held_across_a_revoke_all_does_not_bring_the_session_back,
    a_bind_held_across_a_revoke_all_does_not_bring_the_session_back,
    a_renewal_held_across_a_revoke_all_leaves_no_session,
    renewals_racing_a_revoke_all_leave_no_session_of_the_user,
    a_login_held_across_a_revoke_all_survives_and_is_listed,
    logins_racing_a_revoke_all_are_each_revoked_or_listed,
    two_revoke_alls_at_once_share_out_every_session,
);

/// How many times a `racing` test repeats its race.
const ROUNDS: usize = 5;

/// How many sessions of the user take part in each round of a race.
const SESSIONS: usize = 4;

/// Starts `GET /hold?then=<steps>` with `cookie`, and returns once its session is loaded and
/// it waits at the gate. `await` the handle after opening the gate.
async fn held(harness: &Harness, cookie: &str, steps: &str) -> actix_rt::task::JoinHandle<Page> {
    let page = fire(harness, cookie, &format!("/hold?then={steps}"));
    harness.gate.arrivals(1).await;
    page
}

/// Starts `GET path` with the session cookie `cookie` (none where empty), without waiting.
fn fire(harness: &Harness, cookie: &str, path: &str) -> actix_rt::task::JoinHandle<Page> {
    let mut request = harness.server.get(path);
    if !cookie.is_empty() {
        request = request.insert_header((COOKIE, format!("id={cookie}")));
    }
    actix_rt::spawn(send(request))
}

/// A browser signed in as alice, its session id and its cookie.
async fn alice(harness: &Harness) -> (Browser<'_>, SessionId, String) {
    let mut browser = harness.browser();
    let id = browser.log_in("alice", "laptop").await;
    let cookie = browser.cookie_value().expect("a cookie").to_owned();
    (browser, id, cookie)
}

/// The handles of alice's sessions, sorted, as a client with no session lists them.
async fn alices_handles(harness: &Harness) -> Vec<String> {
    let mut handles: Vec<String> = harness
        .browser()
        .sessions_of("alice")
        .await
        .into_iter()
        .map(|session| session.handle)
        .collect();
    handles.sort();
    handles
}

/// Whether the session of `cookie` is gone: a request with it finds no user.
async fn signed_out(harness: &Harness, cookie: &str) -> bool {
    let page = fire(harness, cookie, "/get/user").await.expect("join");
    page.status == StatusCode::NOT_FOUND
}

async fn revoke_all(harness: &Harness) -> u64 {
    harness
        .sessions
        .revoke_all("alice")
        .await
        .expect("revoke-all")
}

async fn a_write_held_across_a_revoke_all_does_not_bring_the_session_back(backend: Backend) {
    held_across_a_revoke_all_does_not_bring_the_session_back(backend, "put:cart:1").await;
}

async fn a_bind_held_across_a_revoke_all_does_not_bring_the_session_back(backend: Backend) {
    held_across_a_revoke_all_does_not_bring_the_session_back(backend, "bind:alice:laptop").await;
}

/// A request of alice's that changes her session with `steps` is held after its load, while a
/// revoke-all signs her out: its save is refused, and nothing comes back.
async fn held_across_a_revoke_all_does_not_bring_the_session_back(backend: Backend, steps: &str) {
    let harness = backend.start().await;
    let (_, id, cookie) = alice(&harness).await;
    let writer = held(&harness, &cookie, steps).await;

    assert_eq!(revoke_all(&harness).await, 1);
    harness.gate.open(1);
    let late = writer.await.expect("join");

    assert_eq!(
        late.status,
        StatusCode::CONFLICT,
        "{steps}: the save was not kept"
    );
    assert!(
        late.cookie("id").is_none(),
        "{steps}: no cookie to hand out"
    );
    assert_eq!(harness.store.persisted(&id).await, None, "{steps}");
    assert_eq!(alices_handles(&harness).await, Vec::<String>::new());
    assert!(signed_out(&harness, &cookie).await, "{steps}");
}

/// The renewal loaded the session before the revoke-all, and moves it after: it finds the old
/// id gone, and creates nothing.
async fn a_renewal_held_across_a_revoke_all_leaves_no_session(backend: Backend) {
    let harness = backend.start().await;
    let (_, id, cookie) = alice(&harness).await;
    let renewer = held(&harness, &cookie, "renew").await;

    assert_eq!(revoke_all(&harness).await, 1);
    harness.gate.open(1);
    let late = renewer.await.expect("join");

    assert_eq!(late.status, StatusCode::OK);
    assert!(late.cookie("id").is_none(), "no session to hand out");
    assert_eq!(harness.store.persisted(&id).await, None);
    if let Ok(renewed) = late.body.parse::<SessionId>() {
        assert_eq!(
            harness.store.persisted(&renewed).await,
            None,
            "nothing moved"
        );
    }
    assert_eq!(alices_handles(&harness).await, Vec::<String>::new());
}

/// Each of alice's sessions renews itself while a revoke-all runs on the other worker: whether
/// a renewal lands before the revoke-all lists the session, between its listings, or after it
/// deleted the old id, no session of alice's survives.
async fn renewals_racing_a_revoke_all_leave_no_session_of_the_user(backend: Backend) {
    let harness = backend.start().await;
    for round in 0..ROUNDS {
        let mut cookies = Vec::new();
        for _ in 0..SESSIONS {
            cookies.push(alice(&harness).await.2);
        }
        let renewals: Vec<_> = cookies
            .iter()
            .map(|cookie| fire(&harness, cookie, "/renew"))
            .collect();
        let revoked = fire(&harness, "", "/revoke-all/alice").await.expect("join");

        assert_eq!(
            revoked.status,
            StatusCode::OK,
            "round {round}: {}",
            revoked.body
        );
        for (renewal, old) in renewals.into_iter().zip(&cookies) {
            let page = renewal.await.expect("join");
            assert!(
                !page.status.is_server_error(),
                "round {round}: {}",
                page.body
            );
            let cookie = page
                .cookie("id")
                .map_or(old.as_str(), |cookie| cookie.value());
            assert!(
                signed_out(&harness, cookie).await,
                "round {round}: a renewed session escaped the revoke-all"
            );
        }
        assert_eq!(
            alices_handles(&harness).await,
            Vec::<String>::new(),
            "round {round}"
        );
    }
}

/// A visitor's login is held after its load, while a revoke-all of alice signs out her other
/// session: the login saves after the revoke-all returned, so it survives, and it is listed.
async fn a_login_held_across_a_revoke_all_survives_and_is_listed(backend: Backend) {
    let harness = backend.start().await;
    let (_, laptop, _) = alice(&harness).await;
    let mut visitor = harness.browser();
    visitor.get("/put/cart/1").await;
    let cookie = visitor.cookie_value().expect("a cookie").to_owned();
    let login = held(&harness, &cookie, "renew,bind:alice:phone,put:user:alice").await;

    assert_eq!(revoke_all(&harness).await, 1);
    harness.gate.open(1);
    let page = login.await.expect("join");
    visitor.receive(&page);

    let phone: SessionId = page.body.parse().expect("the login's id");
    assert_eq!(harness.store.persisted(&laptop).await, None);
    assert!(harness.store.persisted(&phone).await.is_some());
    assert_eq!(visitor.get("/get/user").await.body, "alice");
    assert_eq!(alices_handles(&harness).await, [phone.digest().to_string()]);
}

/// Visitors log in as alice while a revoke-all of alice runs on the other worker. Either
/// outcome is allowed for each login; whichever it was, the list agrees with what is live, and
/// every session alice had is revoked or listed, once.
async fn logins_racing_a_revoke_all_are_each_revoked_or_listed(backend: Backend) {
    let harness = backend.start().await;
    for round in 0..ROUNDS {
        let mut visitors = Vec::new();
        for _ in 0..SESSIONS {
            let mut visitor = harness.browser();
            visitor.get("/put/cart/1").await;
            visitors.push(visitor.cookie_value().expect("a cookie").to_owned());
        }
        let (_, earlier, _) = alice(&harness).await;
        let logins: Vec<_> = visitors
            .iter()
            .map(|cookie| {
                fire(
                    &harness,
                    cookie,
                    "/renew?then=bind:alice:phone,put:user:alice",
                )
            })
            .collect();
        let revoked = fire(&harness, "", "/revoke-all/alice").await.expect("join");
        assert_eq!(
            revoked.status,
            StatusCode::OK,
            "round {round}: {}",
            revoked.body
        );
        let revoked: usize = revoked.body.parse().expect("a count");

        let mut live = Vec::new();
        for login in logins {
            let page = login.await.expect("join");
            assert_eq!(page.status, StatusCode::OK, "round {round}: {}", page.body);
            let id: SessionId = page.body.parse().expect("the login's id");
            if harness.store.persisted(&id).await.is_some() {
                live.push(id.digest().to_string());
            }
        }
        assert_eq!(
            harness.store.persisted(&earlier).await,
            None,
            "round {round}"
        );
        live.sort();
        assert_eq!(alices_handles(&harness).await, live, "round {round}");
        assert_eq!(
            revoked + live.len(),
            SESSIONS + 1,
            "round {round}: each of alice's sessions was revoked or is live"
        );
        harness
            .sessions
            .revoke_all("alice")
            .await
            .expect("clean up");
    }
}

/// Two revoke-alls of alice at once, one on each worker: both succeed, and between them they
/// revoke each of her sessions exactly once.
async fn two_revoke_alls_at_once_share_out_every_session(backend: Backend) {
    let harness = backend.start().await;
    for round in 0..ROUNDS {
        let mut cookies = Vec::new();
        for _ in 0..SESSIONS {
            cookies.push(alice(&harness).await.2);
        }
        let first = fire(&harness, "", "/revoke-all/alice");
        let second = fire(&harness, "", "/revoke-all/alice");
        let mut total = 0;
        for revoke in [first, second] {
            let page = revoke.await.expect("join");
            assert_eq!(page.status, StatusCode::OK, "round {round}: {}", page.body);
            total += page.body.parse::<usize>().expect("a count");
        }

        assert_eq!(total, SESSIONS, "round {round}: each revoked once");
        assert_eq!(
            alices_handles(&harness).await,
            Vec::<String>::new(),
            "round {round}"
        );
        for cookie in &cookies {
            assert!(signed_out(&harness, cookie).await, "round {round}");
        }
    }
}
