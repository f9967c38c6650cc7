//! The session cookie as clients hold it: which values open a session, which do not, and the
//! dates it carries.

use std::time::{Duration, SystemTime};

use actix_web::App;
use actix_web::cookie::time::OffsetDateTime;
use actix_web::cookie::{Cookie, CookieJar, Key};
use actix_web::http::StatusCode;
use actix_web::http::header::COOKIE;
use actix_web::test::{TestRequest, call_service, init_service, read_body};
use kv_sessions::test_util::CookieSealer;
use kv_sessions::{
    Changes, CookieContent, Expiry, InvalidationFeed, MokaStore, Record, Saved, SessionId,
    SessionMiddleware, SessionStore, StoreError,
};
use kv_sessions_tests::{Backend, assert_fresh, routes, send};

kv_sessions_tests::for_every_backend!(
    an_app_cookie_signed_by_actix_webs_jar_never_opens_a_session,
    accepted_legacy_cookies_keep_their_session_and_are_sealed_again,
    a_deadline_past_year_9999_still_gets_a_working_session_cookie,
);

/// The value actix-web's signed jar gives an app cookie holding `text`, under the app's `key`.
fn signed_by_the_app(key: &Key, text: &str) -> String {
    let mut jar = CookieJar::new();
    jar.signed_mut(key)
        .add(Cookie::new("comment", text.to_owned()));
    jar.get("comment").expect("signed").value().to_owned()
}

/// The cookie earlier builds of kv-sessions set for session `id` under `key`: the tag actix-web's signed
/// jar computes over `id=<id>`, then the id. It is also what a client makes of an app cookie
/// that the app signs under the same key over a value the client chose, `id=<id>`.
fn legacy_cookie(key: &Key, id: &str) -> String {
    let app_cookie = signed_by_the_app(key, &format!("id={id}"));
    let (tag, text) = app_cookie.split_at(44);
    assert_eq!(text, format!("id={id}"));
    format!("{tag}{id}")
}

async fn an_app_cookie_signed_by_actix_webs_jar_never_opens_a_session(backend: Backend) {
    let harness = backend.start().await;
    let mut victim = harness.browser();
    victim.get("/set").await;
    let id = victim.get("/id").await.body;

    let mut attacker = harness.browser();
    attacker.set_cookie_value(Some(legacy_cookie(&harness.key, &id)));
    assert_fresh(&attacker.get("/").await);
    assert_eq!(harness.probe.saves(), 1, "only the victim's write");
}

async fn accepted_legacy_cookies_keep_their_session_and_are_sealed_again(backend: Backend) {
    let harness = backend
        .start_with(|builder| builder.accept_legacy_cookies(true))
        .await;
    let mut first = harness.browser();
    first.get("/set").await;
    let id = first.get("/id").await.body;
    let legacy = legacy_cookie(&harness.key, &id);
    let sealer = CookieSealer::new(&harness.key, "id", CookieContent::Signed);
    assert_eq!(sealer.open(&legacy), None, "not in the current format");

    let mut upgraded = harness.browser();
    upgraded.set_cookie_value(Some(legacy.clone()));
    let page = upgraded.get("/").await;
    assert_eq!(page.body, "something");
    let resealed = page.cookie("id").expect("sealed again").value();
    let resealed = sealer.open(resealed).map(|id| id.to_string());
    assert_eq!(resealed, Some(id.clone()), "in the current format");
    assert_eq!(upgraded.get("/id").await.body, id);
    assert!(
        upgraded.get("/").await.set_cookies.is_empty(),
        "sealed once"
    );

    let escaped = Cookie::new("id", legacy).encoded().to_string();
    assert!(escaped.contains("%3D"), "{escaped}");
    let request = harness.server.get("/").insert_header((COOKIE, escaped));
    assert_eq!(send(request).await.body, "something");
}

/// The cookie's dates stop at year 9999, where HTTP dates do; how far before that a deadline
/// lands is the expiry rules' business.
async fn a_deadline_past_year_9999_still_gets_a_working_session_cookie(backend: Backend) {
    let year_21970 = SystemTime::UNIX_EPOCH + Duration::from_secs(20_000 * 365 * 24 * 60 * 60);
    let harness = backend
        .start_with(|builder| builder.default_expiry(Expiry::AtDateTime(year_21970)))
        .await;
    let mut browser = harness.browser();
    let page = browser.get("/set").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let cookie = page.cookie("id").expect("a session cookie");
    let expires = cookie.expires_datetime().expect("an expiry date");
    let now = OffsetDateTime::from(SystemTime::now());
    assert!(expires > now && expires.year() <= 9999, "{expires}");
    assert!(cookie.max_age().is_some_and(|age| age.is_positive()));
    assert_eq!(browser.get("/").await.body, "something");
}

#[actix_rt::test]
async fn a_signed_cookie_from_a_test_response_keeps_the_session_in_the_next_test_request() {
    keeps_the_session_through_test_requests(CookieContent::Signed).await;
}

#[actix_rt::test]
async fn a_private_cookie_from_a_test_response_keeps_the_session_in_the_next_test_request() {
    keeps_the_session_through_test_requests(CookieContent::Private).await;
}

/// The recipe of users' own tests: take the cookie from one response and hand it to the next
/// request with `TestRequest::cookie`, which percent-encodes its value.
async fn keeps_the_session_through_test_requests(content: CookieContent) {
    let sessions = SessionMiddleware::builder(MokaStore::new(100), Key::generate())
        .cookie_name("id")
        .cookie_content(content)
        .build();
    let app = init_service(App::new().wrap(sessions).configure(routes)).await;
    let set = call_service(&app, TestRequest::get().uri("/set").to_request()).await;
    let cookie = set
        .response()
        .cookies()
        .find(|cookie| cookie.name() == "id");
    let cookie = cookie.expect("a session cookie").into_owned();
    let sent = cookie.stripped().encoded().to_string();
    assert_eq!(sent, format!("id={}", cookie.value()), "nothing to escape");

    let request = TestRequest::get().uri("/").cookie(cookie).to_request();
    let page = call_service(&app, request).await;
    assert_eq!(read_body(page).await, "something");
}

/// A store in memory that offers an invalidation feed, as a shared store does.
struct Announcing {
    store: MokaStore,
    feed: InvalidationFeed,
}

impl SessionStore for Announcing {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        self.store.load(id).await
    }

    async fn create(&self, id: &SessionId, changes: &Changes) -> Result<Saved, StoreError> {
        self.store.create(id, changes).await
    }

    async fn update(&self, id: &SessionId, changes: &Changes) -> Result<Saved, StoreError> {
        self.store.update(id, changes).await
    }

    async fn delete(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        self.store.delete(id).await
    }

    fn invalidations(&self) -> Option<InvalidationFeed> {
        Some(self.feed.clone())
    }
}

#[actix_rt::test]
async fn over_a_store_with_a_feed_the_cookie_carries_the_version_each_save_stored() {
    let key = Key::generate();
    let store = MokaStore::new(100);
    let announcing = Announcing {
        store: store.clone(),
        feed: InvalidationFeed::new(InvalidationFeed::DEFAULT_MAX_STALENESS),
    };
    let sessions = SessionMiddleware::builder(announcing, key.clone())
        .cookie_name("id")
        .build();
    let app = init_service(App::new().wrap(sessions).configure(routes)).await;
    let sealer = CookieSealer::new(&key, "id", CookieContent::Signed);

    let set = call_service(&app, TestRequest::get().uri("/set").to_request()).await;
    let first = set.response().cookies().find(|c| c.name() == "id");
    let first = first.expect("a session cookie").into_owned();
    let id = sealer.open(first.value()).expect("opens");
    assert_eq!(
        first.value(),
        sealer.seal_at(id, 1),
        "stamped with version 1"
    );

    let again = TestRequest::get().uri("/set").cookie(first.clone());
    let again = call_service(&app, again.to_request()).await;
    let second = again.response().cookies().find(|c| c.name() == "id");
    let second = second.expect("a save sets the cookie").into_owned();
    assert_eq!(
        second.value(),
        sealer.seal_at(id, 2),
        "stamped with version 2"
    );

    let plain = SessionMiddleware::builder(store, key.clone())
        .cookie_name("id")
        .build();
    let plain = init_service(App::new().wrap(plain).configure(routes)).await;
    let read = TestRequest::get().uri("/").cookie(second);
    let read = call_service(&plain, read.to_request()).await;
    assert_eq!(
        read_body(read).await,
        "something",
        "an instance whose store has no feed still reads a stamped cookie"
    );
    let unstamped = call_service(&plain, TestRequest::get().uri("/set").to_request()).await;
    let unstamped = unstamped.response().cookies().find(|c| c.name() == "id");
    let unstamped = unstamped.expect("a session cookie").into_owned();
    let id = sealer.open(unstamped.value()).expect("opens");
    assert_eq!(unstamped.value(), sealer.seal(id), "no feed, no stamp");
}
