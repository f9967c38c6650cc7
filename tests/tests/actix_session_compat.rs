//! Our stores under actix-session's middleware, through `ActixSessionStore`, on every backend:
//! the life of a session as an app on actix-session (and on actix-identity) sees it, through a
//! real server, and what the adapter promises beyond it, checked against the store.
//!
//! actix-session publishes an acceptance suite for stores, `test_helpers::acceptance_test_suite`,
//! but 0.11 compiles it only into actix-session's own tests (`#[cfg(test)]`, behind no feature),
//! so no other crate can call it. The first half of this file checks the same life of a
//! session, written here: a write read back by the next request, no cookie for a request that
//! wrote nothing, the TTL on the cookie after a write and, when asked, after every request,
//! renewal, purge, a guard that reads the session through `SessionExt`, under private and signed
//! cookies.

use std::collections::HashMap;
use std::time::Duration;

use actix_identity::{Identity, IdentityMiddleware};
use actix_session::config::{
    CookieContentSecurity, PersistentSession, SessionMiddlewareBuilder, TtlExtensionPolicy,
};
use actix_session::storage::{SessionKey, SessionStore as _};
use actix_session::{Session, SessionExt, SessionMiddleware};
use actix_test::TestServer;
use actix_web::cookie::{Key, time};
use actix_web::http::{StatusCode, header};
use actix_web::{App, HttpMessage, HttpRequest, guard, web};
use kv_sessions::actix_session::{ActixSessionStore, LOADED_ENTRIES};
use kv_sessions::{Record, SessionId, SessionStore as _};
use kv_sessions_tests::{AnyStore, Backend, Browser, Gate, ScratchGuard, send};
use tempfile::TempDir;

kv_sessions_tests::for_every_backend!(
    a_value_written_in_one_request_is_read_in_the_next,
    signed_cookies_carry_the_session_too,
    a_request_that_writes_nothing_sets_no_cookie,
    reading_sends_no_cookie_and_writing_keeps_the_key_and_the_ttl,
    every_request_resends_the_cookie_when_configured_to,
    renew_moves_the_state_to_a_new_key_and_the_old_key_opens_nothing,
    purge_removes_the_cookie_and_the_session,
    a_guard_reads_the_session_through_session_ext,
    remove_deletes_one_key_and_keeps_the_others,
    clear_replaces_every_stored_entry,
    a_failing_store_answers_an_opaque_500_and_sets_no_cookie,
    a_write_past_the_size_cap_answers_500_and_keeps_the_session,
    an_identity_login_survives_the_next_request_and_logout_ends_it,
    concurrent_requests_writing_different_keys_both_keep_their_writes,
    a_write_racing_a_login_fails_and_leaves_the_new_cookie_alone,
    concurrent_writes_of_different_keys_both_survive,
    a_write_to_a_session_purged_meanwhile_fails_and_brings_nothing_back,
    a_key_minted_elsewhere_names_no_session,
    the_ttl_sets_the_deadline_and_update_ttl_moves_it,
    the_absolute_lifetime_caps_the_deadline,
    the_copy_of_the_loaded_entries_never_reaches_the_store,
);

/// The idle window that every app here gives actix-session.
const TTL: time::Duration = time::Duration::hours(1);

/// A backend's store as actix-session sees it, and what keeps the backend alive.
struct Fixture {
    store: ActixSessionStore<AnyStore>,
    key: Key,
    /// Where the app's `/hold/...` routes wait, once their session is loaded.
    gate: Gate,
    _scratch: ScratchGuard,
    _dir: TempDir,
}

/// actix-session's middleware over a backend's store, being configured.
type Builder = SessionMiddlewareBuilder<ActixSessionStore<AnyStore>>;

/// A setting of actix-session's middleware, on top of the TTL every app here has.
type Configure = fn(Builder) -> Builder;

impl Fixture {
    /// The backend's store, adapted with the defaults.
    async fn open(backend: Backend) -> Self {
        Self::adapted(backend, ActixSessionStore::new).await
    }

    /// The backend's store, adapted by `adapt`.
    async fn adapted(
        backend: Backend,
        adapt: impl FnOnce(AnyStore) -> ActixSessionStore<AnyStore>,
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = backend.open(dir.path()).await;
        Self {
            _scratch: store.scratch_guard(),
            store: adapt(store),
            key: Key::generate(),
            gate: Gate::default(),
            _dir: dir,
        }
    }

    /// The test app under actix-session's middleware over this store, with actix-identity's
    /// middleware inside it, as the actix-identity docs set them up.
    fn serve(&self, configure: Configure) -> TestServer {
        let (store, key) = (self.store.clone(), self.key.clone());
        let gate = web::Data::new(self.gate.clone());
        actix_test::start(move || {
            let builder = SessionMiddleware::builder(store.clone(), key.clone())
                .session_lifecycle(PersistentSession::default().session_ttl(TTL));
            App::new()
                .app_data(gate.clone())
                .wrap(IdentityMiddleware::default())
                .wrap(configure(builder).build())
                .configure(routes)
        })
    }

    /// The record the store holds under an actix-session key.
    async fn record(&self, key: &SessionKey) -> Option<Record> {
        let id: SessionId = key.as_ref().parse().expect("one of our ids");
        self.store.store().load(&id).await.expect("load")
    }
}

/// actix-session's defaults: private (encrypted) cookies.
fn defaults(builder: Builder) -> Builder {
    builder
}

fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/get/{key}", web::get().to(get))
        .route("/set/{key}/{value}", web::get().to(set))
        .route("/hold/set/{key}/{value}", web::get().to(hold_and_set))
        .route("/remove/{key}", web::get().to(remove))
        .route("/clear-and-set/{key}/{value}", web::get().to(clear_and_set))
        .route(
            "/renew",
            web::get().to(|session: Session| async move {
                session.renew();
                "renewed"
            }),
        )
        .route(
            "/purge",
            web::get().to(|session: Session| async move {
                session.purge();
                "purged"
            }),
        )
        .route("/login/{user}", web::get().to(login))
        .route("/whoami", web::get().to(whoami))
        .route(
            "/logout",
            web::get().to(|identity: Identity| async move {
                identity.logout();
                "signed out"
            }),
        )
        .service(
            web::scope("/members")
                .guard(guard::fn_guard(|ctx| {
                    ctx.get_session().contains_key("user")
                }))
                .route("", web::get().to(|| async { "welcome" })),
        );
}

async fn get(session: Session, key: web::Path<String>) -> String {
    let value = session.get::<String>(&key).expect("a string");
    value.unwrap_or_else(|| "none".to_owned())
}

async fn set(session: Session, path: web::Path<(String, String)>) -> &'static str {
    let (key, value) = path.into_inner();
    session.insert(key, value).expect("serializable");
    "set"
}

async fn hold_and_set(
    session: Session,
    gate: web::Data<Gate>,
    path: web::Path<(String, String)>,
) -> &'static str {
    gate.pass().await;
    set(session, path).await
}

async fn remove(session: Session, key: web::Path<String>) -> &'static str {
    session.remove(&key);
    "removed"
}

async fn clear_and_set(session: Session, path: web::Path<(String, String)>) -> &'static str {
    let (key, value) = path.into_inner();
    session.clear();
    session.insert(key, value).expect("serializable");
    "replaced"
}

async fn login(request: HttpRequest, user: web::Path<String>) -> &'static str {
    Identity::login(&request.extensions(), user.into_inner()).expect("login");
    "signed in"
}

async fn whoami(identity: Option<Identity>) -> String {
    identity.map_or_else(
        || "anonymous".to_owned(),
        |identity| identity.id().expect("id"),
    )
}

/// actix-session's name for its cookie.
const COOKIE: &str = "id";

async fn a_value_written_in_one_request_is_read_in_the_next(backend: Backend) {
    let fixture = Fixture::open(backend).await;
    let server = fixture.serve(defaults);
    let mut browser = Browser::new(&server, COOKIE);
    let set = browser.get("/set/colour/blue").await;
    assert_eq!(set.status, StatusCode::OK);
    assert!(
        set.cookie(COOKIE).is_some(),
        "a new session sets its cookie"
    );
    assert_eq!(browser.get("/get/colour").await.body, "blue");
}

async fn signed_cookies_carry_the_session_too(backend: Backend) {
    let fixture = Fixture::open(backend).await;
    let server =
        fixture.serve(|builder| builder.cookie_content_security(CookieContentSecurity::Signed));
    let mut browser = Browser::new(&server, COOKIE);
    browser.get("/set/colour/blue").await;
    assert_eq!(browser.get("/get/colour").await.body, "blue");
}

async fn a_request_that_writes_nothing_sets_no_cookie(backend: Backend) {
    let fixture = Fixture::open(backend).await;
    let server = fixture.serve(defaults);
    let mut browser = Browser::new(&server, COOKIE);
    let page = browser.get("/get/colour").await;
    assert_eq!(page.body, "none");
    assert!(page.set_cookies.is_empty(), "{:?}", page.set_cookies);
}

async fn reading_sends_no_cookie_and_writing_keeps_the_key_and_the_ttl(backend: Backend) {
    let fixture = Fixture::open(backend).await;
    // Signed, so that the same key gives the same cookie value.
    let server =
        fixture.serve(|builder| builder.cookie_content_security(CookieContentSecurity::Signed));
    let mut browser = Browser::new(&server, COOKIE);
    let created = browser.get("/set/a/1").await;
    let first = created.cookie(COOKIE).expect("set").clone();
    assert_eq!(first.max_age(), Some(TTL));

    let read = browser.get("/get/a").await;
    assert_eq!(read.body, "1");
    assert!(read.set_cookies.is_empty(), "{:?}", read.set_cookies);

    let written = browser.get("/set/b/2").await;
    let second = written.cookie(COOKIE).expect("set again");
    assert_eq!(second.value(), first.value(), "the session keeps its key");
    assert_eq!(second.max_age(), Some(TTL));
    assert_eq!(browser.get("/get/a").await.body, "1");
    assert_eq!(browser.get("/get/b").await.body, "2");
}

async fn every_request_resends_the_cookie_when_configured_to(backend: Backend) {
    let fixture = Fixture::open(backend).await;
    let server = fixture.serve(|builder| {
        builder.session_lifecycle(
            PersistentSession::default()
                .session_ttl(TTL)
                .session_ttl_extension_policy(TtlExtensionPolicy::OnEveryRequest),
        )
    });
    let mut browser = Browser::new(&server, COOKIE);
    browser.get("/set/a/1").await;
    let read = browser.get("/get/a").await;
    assert_eq!(read.body, "1");
    let refreshed = read
        .cookie(COOKIE)
        .expect("the cookie comes back on a read");
    assert_eq!(refreshed.max_age(), Some(TTL));
}

async fn renew_moves_the_state_to_a_new_key_and_the_old_key_opens_nothing(backend: Backend) {
    let fixture = Fixture::open(backend).await;
    let server = fixture.serve(defaults);
    let mut browser = Browser::new(&server, COOKIE);
    browser.get("/set/user/ferris").await;
    let old = browser.cookie_value().expect("a cookie").to_owned();

    let renewed = browser.get("/renew").await;
    assert!(renewed.cookie(COOKIE).is_some(), "the new key is sent");
    assert_eq!(browser.get("/get/user").await.body, "ferris");

    browser.set_cookie_value(Some(old));
    let stale = browser.get("/get/user").await;
    assert_eq!(stale.body, "none");
    assert!(stale.set_cookies.is_empty(), "{:?}", stale.set_cookies);
}

async fn purge_removes_the_cookie_and_the_session(backend: Backend) {
    let fixture = Fixture::open(backend).await;
    let server = fixture.serve(defaults);
    let mut browser = Browser::new(&server, COOKIE);
    browser.get("/set/user/ferris").await;
    let old = browser.cookie_value().expect("a cookie").to_owned();

    let purged = browser.get("/purge").await;
    let removal = purged.cookie(COOKIE).expect("a removal cookie");
    assert_eq!(removal.max_age(), Some(time::Duration::ZERO));
    assert_eq!(browser.cookie_value(), None);

    browser.set_cookie_value(Some(old));
    assert_eq!(browser.get("/get/user").await.body, "none");
}

async fn a_guard_reads_the_session_through_session_ext(backend: Backend) {
    let fixture = Fixture::open(backend).await;
    let server = fixture.serve(defaults);
    let mut browser = Browser::new(&server, COOKIE);
    assert_eq!(browser.get("/members").await.status, StatusCode::NOT_FOUND);
    browser.get("/set/user/ferris").await;
    let admitted = browser.get("/members").await;
    assert_eq!(admitted.status, StatusCode::OK);
    assert_eq!(admitted.body, "welcome");
}

async fn remove_deletes_one_key_and_keeps_the_others(backend: Backend) {
    let fixture = Fixture::open(backend).await;
    let server = fixture.serve(defaults);
    let mut browser = Browser::new(&server, COOKIE);
    browser.get("/set/a/1").await;
    browser.get("/set/b/2").await;
    browser.get("/remove/a").await;
    assert_eq!(browser.get("/get/a").await.body, "none");
    assert_eq!(browser.get("/get/b").await.body, "2");
}

async fn clear_replaces_every_stored_entry(backend: Backend) {
    let fixture = Fixture::open(backend).await;
    let server = fixture.serve(defaults);
    let mut browser = Browser::new(&server, COOKIE);
    browser.get("/set/a/1").await;
    browser.get("/set/b/2").await;
    browser.get("/clear-and-set/c/3").await;
    assert_eq!(browser.get("/get/a").await.body, "none");
    assert_eq!(browser.get("/get/b").await.body, "none");
    assert_eq!(browser.get("/get/c").await.body, "3");
}

async fn a_failing_store_answers_an_opaque_500_and_sets_no_cookie(backend: Backend) {
    let fixture = Fixture::open(backend).await;
    let server = fixture.serve(defaults);
    let mut browser = Browser::new(&server, COOKIE);
    browser.get("/set/a/1").await;
    fixture.store.store().faults().fail_after_writes(true);

    for path in ["/set/b/2", "/renew"] {
        let failed = browser.get(path).await;
        assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR, "{path}");
        assert_eq!(
            failed.body, "",
            "{path}: nothing of the cause reaches the client"
        );
        assert!(
            failed.set_cookies.is_empty(),
            "{path}: {:?}",
            failed.set_cookies
        );
    }
    let mut newcomer = Browser::new(&server, COOKIE);
    let failed = newcomer.get("/set/a/1").await;
    assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(failed.body, "");
}

async fn a_write_past_the_size_cap_answers_500_and_keeps_the_session(backend: Backend) {
    let fixture = Fixture::adapted(backend, |store| {
        ActixSessionStore::new(store).max_session_size(64)
    })
    .await;
    let server = fixture.serve(defaults);
    let mut browser = Browser::new(&server, COOKIE);
    assert_eq!(browser.get("/set/a/1").await.status, StatusCode::OK);
    let large = format!("/set/b/{}", "x".repeat(100));
    let refused = browser.get(&large).await;
    assert_eq!(refused.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(refused.body, "");
    assert_eq!(browser.get("/get/a").await.body, "1");
    assert_eq!(browser.get("/get/b").await.body, "none");
}

async fn an_identity_login_survives_the_next_request_and_logout_ends_it(backend: Backend) {
    let fixture = Fixture::open(backend).await;
    let server = fixture.serve(defaults);
    let mut browser = Browser::new(&server, COOKIE);
    assert_eq!(browser.get("/whoami").await.body, "anonymous");
    assert_eq!(browser.get("/login/ferris").await.status, StatusCode::OK);
    let signed_in = browser.cookie_value().expect("a cookie").to_owned();
    assert_eq!(browser.get("/whoami").await.body, "ferris");

    assert_eq!(browser.get("/logout").await.body, "signed out");
    assert_eq!(browser.get("/whoami").await.body, "anonymous");
    browser.set_cookie_value(Some(signed_in));
    assert_eq!(
        browser.get("/whoami").await.body,
        "anonymous",
        "a logout ends the session"
    );
}

async fn concurrent_requests_writing_different_keys_both_keep_their_writes(backend: Backend) {
    let fixture = Fixture::open(backend).await;
    let server = fixture.serve(defaults);
    let mut browser = Browser::new(&server, COOKIE);
    browser.get("/set/a/0").await;
    let cookie = format!("{COOKIE}={}", browser.cookie_value().expect("a cookie"));

    // Both requests load the session before either saves.
    let requests = ["/hold/set/b/1", "/hold/set/c/2"].map(|path| {
        let request = server
            .get(path)
            .insert_header((header::COOKIE, cookie.clone()));
        actix_rt::spawn(send(request))
    });
    fixture.gate.arrivals(2).await;
    fixture.gate.open(2);
    for request in requests {
        assert_eq!(request.await.expect("join").status, StatusCode::OK);
    }

    assert_eq!(browser.get("/get/a").await.body, "0");
    assert_eq!(browser.get("/get/b").await.body, "1");
    assert_eq!(browser.get("/get/c").await.body, "2");
}

async fn a_write_racing_a_login_fails_and_leaves_the_new_cookie_alone(backend: Backend) {
    let fixture = Fixture::open(backend).await;
    let server = fixture.serve(defaults);
    let mut browser = Browser::new(&server, COOKIE);
    browser.get("/set/user/ferris").await;
    let cookie = format!("{COOKIE}={}", browser.cookie_value().expect("a cookie"));

    let request = server
        .get("/hold/set/visits/1")
        .insert_header((header::COOKIE, cookie));
    let racing = actix_rt::spawn(send(request));
    fixture.gate.arrivals(1).await;
    browser.get("/renew").await;
    fixture.gate.open(1);
    let refused = racing.await.expect("join");

    assert_eq!(refused.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(refused.body, "");
    assert!(refused.set_cookies.is_empty(), "{:?}", refused.set_cookies);
    browser.receive(&refused);
    assert_eq!(browser.get("/get/user").await.body, "ferris");
    assert_eq!(
        browser.get("/get/visits").await.body,
        "none",
        "the write was not kept"
    );
}

/// A state of string entries, as actix-session keeps them (JSON text).
fn state(entries: &[(&str, &str)]) -> HashMap<String, String> {
    entries
        .iter()
        .map(|(key, value)| (key.to_string(), format!("\"{value}\"")))
        .collect()
}

/// A second handle on an actix-session key, which is not `Clone`.
fn same(key: &SessionKey) -> SessionKey {
    SessionKey::try_from(key.as_ref().to_owned()).expect("a valid key")
}

/// The stored entries of `record`, as a map.
fn entries(record: &Record) -> HashMap<String, String> {
    record
        .entries()
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
}

/// How long after its creation `record` ends.
fn lifetime(record: &Record) -> Duration {
    let deadline = record.expires_at().duration_since(record.created_at());
    deadline.expect("a deadline after the creation")
}

async fn concurrent_writes_of_different_keys_both_survive(backend: Backend) {
    let fixture = Fixture::open(backend).await;
    let store = &fixture.store;
    let key = store
        .save(state(&[("a", "1"), ("c", "3")]), &TTL)
        .await
        .expect("save");
    let mut first = store.load(&key).await.expect("load").expect("live");
    let mut second = store.load(&key).await.expect("load").expect("live");

    first.insert("a".to_owned(), "\"10\"".to_owned());
    second.insert("b".to_owned(), "\"2\"".to_owned());
    second.remove("c");
    let kept = store.update(same(&key), first, &TTL).await.expect("update");
    assert_eq!(kept, key);
    store
        .update(same(&key), second, &TTL)
        .await
        .expect("update");

    let record = fixture.record(&key).await.expect("live");
    assert_eq!(entries(&record), state(&[("a", "10"), ("b", "2")]));
}

async fn a_write_to_a_session_purged_meanwhile_fails_and_brings_nothing_back(backend: Backend) {
    let fixture = Fixture::open(backend).await;
    let store = &fixture.store;
    let key = store
        .save(state(&[("user", "ferris")]), &TTL)
        .await
        .expect("save");
    let mut loaded = store.load(&key).await.expect("load").expect("live");

    store.delete(&key).await.expect("a logout elsewhere");
    loaded.insert("visits".to_owned(), "1".to_owned());
    let refused = store.update(same(&key), loaded, &TTL).await;
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(store.load(&key).await.expect("load"), None);
}

async fn a_key_minted_elsewhere_names_no_session(backend: Backend) {
    let fixture = Fixture::open(backend).await;
    let store = &fixture.store;
    let foreign = actix_session::storage::generate_session_key();
    assert_eq!(store.load(&foreign).await.expect("load"), None);
    store
        .update_ttl(&foreign, &TTL)
        .await
        .expect("nothing to refresh");
    store.delete(&foreign).await.expect("nothing to delete");
    let refused = store.update(foreign, state(&[("a", "1")]), &TTL).await;
    assert!(refused.is_err(), "{refused:?}");
}

async fn the_ttl_sets_the_deadline_and_update_ttl_moves_it(backend: Backend) {
    let fixture = Fixture::open(backend).await;
    let store = &fixture.store;
    let key = store
        .save(state(&[("a", "1")]), &time::Duration::minutes(1))
        .await
        .expect("save");
    let created = fixture.record(&key).await.expect("live");
    assert_eq!(lifetime(&created), Duration::from_secs(60));

    store
        .update_ttl(&key, &time::Duration::hours(2))
        .await
        .expect("refresh");
    let refreshed = fixture.record(&key).await.expect("live");
    assert!(lifetime(&refreshed) >= Duration::from_secs(2 * 3600));
    assert_eq!(entries(&refreshed), state(&[("a", "1")]));
}

async fn the_absolute_lifetime_caps_the_deadline(backend: Backend) {
    let cap = Duration::from_secs(30 * 60);
    let fixture = Fixture::adapted(backend, |store| {
        ActixSessionStore::new(store).absolute_lifetime(cap)
    })
    .await;
    let key = fixture
        .store
        .save(state(&[("a", "1")]), &time::Duration::days(1))
        .await
        .expect("save");
    let record = fixture.record(&key).await.expect("live");
    assert_eq!(lifetime(&record), cap);
}

async fn the_copy_of_the_loaded_entries_never_reaches_the_store(backend: Backend) {
    let fixture = Fixture::open(backend).await;
    let store = &fixture.store;
    let key = store.save(state(&[("a", "1")]), &TTL).await.expect("save");
    let mut loaded = store.load(&key).await.expect("load").expect("live");
    assert!(loaded.contains_key(LOADED_ENTRIES));

    loaded.insert("b".to_owned(), "\"2\"".to_owned());
    store
        .update(same(&key), loaded.clone(), &TTL)
        .await
        .expect("update");
    let updated = fixture.record(&key).await.expect("live");
    assert_eq!(entries(&updated), state(&[("a", "1"), ("b", "2")]));

    // A renewal saves the loaded state, copy included, under a new key.
    let renewed = store.save(loaded, &TTL).await.expect("save");
    let moved = fixture.record(&renewed).await.expect("live");
    assert_eq!(entries(&moved), state(&[("a", "1"), ("b", "2")]));
}
