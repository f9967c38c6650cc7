//! A user's sessions, end to end on every store: a login binds its session, the user lists
//! their sessions (with label, times, and which is the request's own), and signs one out, all
//! others, or all; renewal, purge, clear and expiry keep the list true.
//!
//! The app's routes `/sessions/{user}`, `/revoke/{user}/{handle}`, `/revoke-all/{user}` and
//! `/revoke-others/{user}` extract [`UserSessions`](kv_sessions::UserSessions) in a request;
//! [`Harness::sessions`] is the middleware's own handle, used outside one.

use std::time::{Duration, SystemTime};

use actix_web::http::StatusCode;
use kv_sessions::{
    Changes, Expiry, InvalidationFeed, Record, Saved, SessionError, SessionId, SessionOwner,
    SessionStore, StoreError,
};
use kv_sessions_tests::{AnyStore, Backend, Browser, Harness, ListedSession};

kv_sessions_tests::for_every_backend!(
    a_login_lists_its_session_with_its_label_and_times,
    each_client_sees_only_its_own_session_as_current,
    a_renewal_keeps_the_session_listed_under_its_new_handle_only,
    a_purge_removes_the_session_from_the_list,
    clearing_the_session_removes_it_from_the_list,
    unbinding_keeps_the_session_but_removes_it_from_the_list,
    an_expired_session_leaves_the_list,
    a_request_that_leaves_the_binding_alone_keeps_it_listed,
    revoking_a_session_signs_its_client_out,
    revoking_another_users_session_does_nothing,
    revoke_all_signs_out_every_session_of_the_user_and_no_other,
    revoke_others_keeps_the_requests_own_session,
    the_middlewares_handle_lists_and_revokes_outside_a_request,
    a_store_that_keeps_no_bindings_answers_unsupported_never_an_empty_list,
    a_bind_with_an_empty_or_too_long_user_id_is_refused_as_an_invalid_owner,
);

/// The default idle window of the middleware, which a listed session's expiry follows.
const DEFAULT_IDLE: Duration = Duration::from_secs(3600);

/// What a store may round a stored time by (PostgreSQL keeps microseconds, others milliseconds,
/// and a test clock reads before and after a request).
const CLOCK_SLACK: Duration = Duration::from_secs(1);

/// A browser that logged in as `user` from a device called `label`, and its session id.
async fn logged_in<'h>(harness: &'h Harness, user: &str, label: &str) -> (Browser<'h>, SessionId) {
    let mut browser = harness.browser();
    let id = browser.log_in(user, label).await;
    (browser, id)
}

/// The sessions of `user`, as `browser`'s request lists them.
async fn listed(browser: &mut Browser<'_>, user: &str) -> Vec<ListedSession> {
    browser.sessions_of(user).await
}

/// The handles of `user`'s sessions, as a client with no session lists them.
async fn handles(harness: &Harness, user: &str) -> Vec<String> {
    let mut sorted: Vec<String> = listed(&mut harness.browser(), user)
        .await
        .into_iter()
        .map(|session| session.handle)
        .collect();
    sorted.sort();
    sorted
}

/// The handle a listing shows for the session `id`.
fn handle(id: &SessionId) -> String {
    id.digest().to_string()
}

fn sorted_handles(ids: &[&SessionId]) -> Vec<String> {
    let mut sorted: Vec<String> = ids.iter().map(|id| handle(id)).collect();
    sorted.sort();
    sorted
}

fn millis(at: SystemTime) -> u128 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .expect("after the epoch")
        .as_millis()
}

/// Whether `browser`'s next request finds no session: signed out, with a fresh, unbound one.
async fn signed_out(browser: &mut Browser<'_>) -> bool {
    browser.get("/get/user").await.status == StatusCode::NOT_FOUND
}

async fn a_login_lists_its_session_with_its_label_and_times(backend: Backend) {
    let harness = backend.start().await;
    let before = SystemTime::now();
    let (mut laptop, id) = logged_in(&harness, "alice", "laptop").await;
    let after = SystemTime::now();

    let sessions = listed(&mut laptop, "alice").await;
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    let session = &sessions[0];
    assert_eq!(session.handle, handle(&id));
    assert_ne!(
        session.handle,
        id.to_string(),
        "the handle is never the cookie's id"
    );
    assert_eq!(session.label.as_deref(), Some("laptop"));
    assert!(session.current, "the listing request's own session");
    let (earliest, latest) = (millis(before - CLOCK_SLACK), millis(after + CLOCK_SLACK));
    assert!(
        (earliest..=latest).contains(&session.created_at),
        "created during the login: {session:?}"
    );
    assert!(session.created_at <= session.saved_at, "{session:?}");
    let idle = session.expires_at - session.saved_at;
    assert!(
        idle.abs_diff(DEFAULT_IDLE.as_millis()) <= CLOCK_SLACK.as_millis(),
        "expires an idle window after its last save: {session:?}"
    );
    assert_eq!(
        listed(&mut laptop, "bob").await,
        [],
        "no session of another user"
    );
}

async fn each_client_sees_only_its_own_session_as_current(backend: Backend) {
    let harness = backend.start().await;
    let (mut laptop, laptop_id) = logged_in(&harness, "alice", "laptop").await;
    let (mut phone, phone_id) = logged_in(&harness, "alice", "phone").await;

    for (browser, own, other) in [
        (&mut laptop, &laptop_id, &phone_id),
        (&mut phone, &phone_id, &laptop_id),
    ] {
        let sessions = listed(browser, "alice").await;
        assert_eq!(sessions.len(), 2, "{sessions:?}");
        let current: Vec<&str> = sessions
            .iter()
            .filter(|session| session.current)
            .map(|session| session.handle.as_str())
            .collect();
        assert_eq!(current, [handle(own)], "one current session, its own");
        assert!(
            sessions
                .iter()
                .any(|session| session.handle == handle(other))
        );
    }
    let outside = listed(&mut harness.browser(), "alice").await;
    assert!(
        outside.iter().all(|session| !session.current),
        "a client with no session has none current: {outside:?}"
    );
}

async fn a_renewal_keeps_the_session_listed_under_its_new_handle_only(backend: Backend) {
    let harness = backend.start().await;
    let (mut laptop, old) = logged_in(&harness, "alice", "laptop").await;

    let renewed: SessionId = laptop.get("/renew").await.body.parse().expect("an id");
    assert_ne!(renewed, old);

    let sessions = listed(&mut laptop, "alice").await;
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!(
        sessions[0].handle,
        handle(&renewed),
        "the old handle is gone"
    );
    assert_eq!(
        sessions[0].label.as_deref(),
        Some("laptop"),
        "the binding moved whole"
    );
    assert!(sessions[0].current);
}

async fn a_purge_removes_the_session_from_the_list(backend: Backend) {
    let harness = backend.start().await;
    let (mut laptop, _) = logged_in(&harness, "alice", "laptop").await;
    let (_phone, phone_id) = logged_in(&harness, "alice", "phone").await;

    laptop.get("/purge").await;

    assert_eq!(handles(&harness, "alice").await, [handle(&phone_id)]);
}

async fn clearing_the_session_removes_it_from_the_list(backend: Backend) {
    let harness = backend.start().await;
    let (mut laptop, _) = logged_in(&harness, "alice", "laptop").await;
    let (_phone, phone_id) = logged_in(&harness, "alice", "phone").await;

    laptop.get("/clear").await;

    assert_eq!(handles(&harness, "alice").await, [handle(&phone_id)]);
}

async fn unbinding_keeps_the_session_but_removes_it_from_the_list(backend: Backend) {
    let harness = backend.start().await;
    let (mut laptop, id) = logged_in(&harness, "alice", "laptop").await;

    laptop.get("/do?then=unbind").await;

    assert_eq!(handles(&harness, "alice").await, Vec::<String>::new());
    assert_eq!(
        laptop.get("/get/user").await.body,
        "alice",
        "its data stays"
    );
    let record = harness.store.persisted(&id).await.expect("still stored");
    assert_eq!(record.owner(), None);
    assert_eq!(record.saved_at(), None, "only a bound session has one");
}

async fn an_expired_session_leaves_the_list(backend: Backend) {
    let idle = Duration::from_secs(1);
    let harness = backend
        .start_with(|builder| builder.default_expiry(Expiry::OnInactivity(idle)))
        .await;
    let (_laptop, id) = logged_in(&harness, "alice", "laptop").await;
    assert_eq!(handles(&harness, "alice").await, [handle(&id)]);

    actix_rt::time::sleep(idle + Duration::from_millis(500)).await;

    assert_eq!(handles(&harness, "alice").await, Vec::<String>::new());
}

async fn a_request_that_leaves_the_binding_alone_keeps_it_listed(backend: Backend) {
    let harness = backend.start().await;
    let (mut laptop, id) = logged_in(&harness, "alice", "laptop").await;
    let first = listed(&mut laptop, "alice").await;

    actix_rt::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(laptop.get("/put/cart/1").await.status, StatusCode::OK);

    let later = listed(&mut laptop, "alice").await;
    assert_eq!(later.len(), 1, "{later:?}");
    assert_eq!(later[0].handle, handle(&id));
    assert_eq!(later[0].label.as_deref(), Some("laptop"));
    assert_eq!(later[0].created_at, first[0].created_at);
    assert!(
        later[0].saved_at > first[0].saved_at,
        "the write is the session's last save: {first:?} then {later:?}"
    );
    let record = harness.store.persisted(&id).await.expect("stored");
    assert_eq!(record.owner().map(SessionOwner::user), Some("alice"));
    assert_eq!(record.get("cart"), Some("\"1\""));
}

async fn revoking_a_session_signs_its_client_out(backend: Backend) {
    let harness = backend.start().await;
    let (mut laptop, laptop_id) = logged_in(&harness, "alice", "laptop").await;
    let (mut phone, phone_id) = logged_in(&harness, "alice", "phone").await;

    let revoked = laptop
        .get(&format!("/revoke/alice/{}", handle(&phone_id)))
        .await;

    assert_eq!(revoked.body, "true");
    assert!(signed_out(&mut phone).await, "the phone's next request");
    assert_eq!(harness.store.persisted(&phone_id).await, None);
    let seen_by_phone = listed(&mut phone, "alice").await;
    assert_eq!(seen_by_phone.len(), 1, "{seen_by_phone:?}");
    assert_eq!(seen_by_phone[0].handle, handle(&laptop_id));
    assert!(
        !seen_by_phone[0].current,
        "the phone's fresh session is not alice's"
    );
    assert_eq!(laptop.get("/get/user").await.body, "alice");
    let again = laptop
        .get(&format!("/revoke/alice/{}", handle(&phone_id)))
        .await;
    assert_eq!(again.body, "false", "nothing left to revoke");
}

async fn revoking_another_users_session_does_nothing(backend: Backend) {
    let harness = backend.start().await;
    let (mut alice, _) = logged_in(&harness, "alice", "laptop").await;
    let (mut bob, bob_id) = logged_in(&harness, "bob", "phone").await;
    let (mut anonymous, anonymous_id) = {
        let mut browser = harness.browser();
        browser.get("/put/cart/1").await;
        let id: SessionId = browser.get("/id").await.body.parse().expect("an id");
        (browser, id)
    };

    for target in [&bob_id, &anonymous_id] {
        let page = alice
            .get(&format!("/revoke/alice/{}", handle(target)))
            .await;
        assert_eq!(page.body, "false", "a handle that is not alice's");
    }

    assert_eq!(bob.get("/get/user").await.body, "bob");
    assert_eq!(anonymous.get("/get/cart").await.body, "1");
    assert_eq!(handles(&harness, "bob").await, [handle(&bob_id)]);
}

async fn revoke_all_signs_out_every_session_of_the_user_and_no_other(backend: Backend) {
    let harness = backend.start().await;
    let (mut laptop, _) = logged_in(&harness, "alice", "laptop").await;
    let (mut phone, _) = logged_in(&harness, "alice", "phone").await;
    let (mut bob, bob_id) = logged_in(&harness, "bob", "phone").await;

    assert_eq!(laptop.get("/revoke-all/alice").await.body, "2");

    assert!(
        signed_out(&mut laptop).await,
        "the request's own session too"
    );
    assert!(signed_out(&mut phone).await);
    assert_eq!(handles(&harness, "alice").await, Vec::<String>::new());
    assert_eq!(bob.get("/get/user").await.body, "bob");
    assert_eq!(handles(&harness, "bob").await, [handle(&bob_id)]);
}

async fn revoke_others_keeps_the_requests_own_session(backend: Backend) {
    let harness = backend.start().await;
    let (mut laptop, laptop_id) = logged_in(&harness, "alice", "laptop").await;
    let (mut phone, _) = logged_in(&harness, "alice", "phone").await;
    let (mut tablet, _) = logged_in(&harness, "alice", "tablet").await;

    assert_eq!(laptop.get("/revoke-others/alice").await.body, "2");

    assert_eq!(laptop.get("/get/user").await.body, "alice");
    assert!(signed_out(&mut phone).await);
    assert!(signed_out(&mut tablet).await);
    let left = listed(&mut laptop, "alice").await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].handle, handle(&laptop_id));
    assert!(left[0].current);
}

async fn the_middlewares_handle_lists_and_revokes_outside_a_request(backend: Backend) {
    let harness = backend.start().await;
    let (_laptop, laptop_id) = logged_in(&harness, "alice", "laptop").await;
    let (mut phone, phone_id) = logged_in(&harness, "alice", "phone").await;
    let sessions = &harness.sessions;
    assert_eq!(sessions.current(), None);

    let listed = sessions.list("alice").await.expect("list");
    let mut seen: Vec<String> = listed.iter().map(|s| s.handle().to_string()).collect();
    seen.sort();
    assert_eq!(seen, sorted_handles(&[&laptop_id, &phone_id]));
    assert!(listed.iter().all(|session| !session.is_current()));
    assert!(
        listed
            .windows(2)
            .all(|w| w[0].created_at() <= w[1].created_at()),
        "oldest first"
    );

    assert!(
        sessions
            .revoke("alice", phone_id.digest())
            .await
            .expect("revoke")
    );
    assert!(signed_out(&mut phone).await);
    assert_eq!(
        sessions.revoke_others("alice").await.expect("revoke"),
        1,
        "outside a request, no session is spared"
    );
    assert_eq!(sessions.list("alice").await.expect("list"), []);
    assert_eq!(sessions.revoke_all("alice").await.expect("revoke"), 0);
}

/// The backend's store, behind a store of an app's own that keeps no bindings.
async fn a_store_that_keeps_no_bindings_answers_unsupported_never_an_empty_list(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = backend.open(dir.path()).await;
    let _scratch = store.scratch_guard();
    let harness = Harness::start(
        dir,
        AnyStore::plain(Unbound(store)),
        actix_web::cookie::Key::generate(),
        |builder| builder.cookie_name("id"),
    );
    let (mut laptop, _) = logged_in(&harness, "alice", "laptop").await;

    let page = laptop.get("/sessions/alice").await;
    assert_eq!(page.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(page.body, "Internal Server Error", "no internals leak");
    let sessions = &harness.sessions;
    assert!(matches!(
        sessions.list("alice").await,
        Err(SessionError::Store(StoreError::Unsupported(_)))
    ));
    let handle = laptop
        .get("/id")
        .await
        .body
        .parse::<SessionId>()
        .expect("an id")
        .digest();
    assert!(matches!(
        sessions.revoke("alice", handle).await,
        Err(SessionError::Store(StoreError::Unsupported(_)))
    ));
    assert!(matches!(
        sessions.revoke_all("alice").await,
        Err(SessionError::Store(StoreError::Unsupported(_)))
    ));
    assert_eq!(
        laptop.get("/get/user").await.body,
        "alice",
        "nothing revoked"
    );
}

/// A store of an app's own that forwards the session operations and leaves the binding's
/// provided methods as they are.
#[derive(Debug, Clone)]
struct Unbound(AnyStore);

impl SessionStore for Unbound {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        self.0.load(id).await
    }

    async fn create(&self, id: &SessionId, changes: &Changes) -> Result<Saved, StoreError> {
        self.0.create(id, changes).await
    }

    async fn update(&self, id: &SessionId, changes: &Changes) -> Result<Saved, StoreError> {
        self.0.update(id, changes).await
    }

    async fn renew(
        &self,
        old: &SessionId,
        new: &SessionId,
        changes: &Changes,
    ) -> Result<Saved, StoreError> {
        self.0.renew(old, new, changes).await
    }

    async fn delete(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        self.0.delete(id).await
    }

    fn invalidations(&self) -> Option<InvalidationFeed> {
        self.0.invalidations()
    }
}

async fn a_bind_with_an_empty_or_too_long_user_id_is_refused_as_an_invalid_owner(backend: Backend) {
    let harness = backend.start().await;
    let mut browser = harness.browser();
    let longest = "u".repeat(SessionOwner::MAX_USER_LEN);
    let too_long = "u".repeat(SessionOwner::MAX_USER_LEN + 1);

    let empty = browser.get("/bind?user=").await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(empty.body, "invalid owner: 0 bytes");
    assert!(
        empty.cookie("id").is_none(),
        "a refused bind creates nothing"
    );
    let long = browser.get(&format!("/bind?user={too_long}")).await;
    assert_eq!(long.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(long.body, "invalid owner: 257 bytes");
    assert!(
        long.cookie("id").is_none(),
        "a refused bind creates nothing"
    );
    assert_eq!(handles(&harness, &too_long).await, Vec::<String>::new());

    let bound = browser.get(&format!("/bind?user={longest}")).await;
    assert_eq!(bound.body, "bound", "256 bytes is within the limit");
    let id: SessionId = browser.get("/id").await.body.parse().expect("an id");
    assert_eq!(handles(&harness, &longest).await, [handle(&id)]);
}
