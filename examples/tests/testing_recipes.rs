//! The recipes of the guide chapter "Testing your app" (`kv-sessions/src/guide/testing.md`), as
//! real tests, so that the chapter's code is known to work: the same app and the same steps.

use actix_web::cookie::{Cookie, Key};
use actix_web::test::{self, TestRequest};
use actix_web::{App, HttpResponse, get};
use kv_sessions::test_util::CookieSealer;
use kv_sessions::{
    Changes, CookieContent, MokaStore, SessionError, SessionId, SessionKey, SessionKeys,
    SessionMiddleware, SessionPolicy, SessionStore,
};

/// The keys of the app under test.
#[derive(SessionKeys)]
struct Visits {
    count: SessionKey<u32>,
}

/// Counts this session's visits.
#[get("/")]
async fn visit(visits: Visits) -> Result<HttpResponse, SessionError> {
    let count = visits.count.get_or_default()? + 1;
    visits.count.set(count)?;
    Ok(HttpResponse::Ok().body(count.to_string()))
}

#[actix_web::test]
async fn recipe_in_process_the_cookie_of_one_response_goes_with_the_next_request() {
    let sessions = SessionMiddleware::builder(MokaStore::new(1_000), Key::generate()).build();
    let app = test::init_service(App::new().wrap(sessions).service(visit)).await;

    let first = test::call_service(&app, TestRequest::get().uri("/").to_request()).await;
    let cookie = first
        .response()
        .cookies()
        .find(|cookie| cookie.name() == "session")
        .expect("the first write sets the session cookie")
        .into_owned();
    assert_eq!(test::read_body(first).await, "1");

    let second = TestRequest::get().uri("/").cookie(cookie).to_request();
    let second = test::call_service(&app, second).await;
    assert_eq!(test::read_body(second).await, "2");
}

#[actix_web::test]
async fn recipe_over_http_the_cookie_of_one_response_goes_with_the_next_request() {
    // Built outside the closure, which runs once per server worker.
    let sessions = SessionMiddleware::builder(MokaStore::new(1_000), Key::generate()).build();
    let server = actix_test::start(move || App::new().wrap(sessions.clone()).service(visit));

    let mut first = server.get("/").send().await.expect("a response");
    let cookie = first
        .cookie("session")
        .expect("the first write sets the session cookie");
    assert_eq!(first.body().await.expect("a body"), "1");

    let mut second = server
        .get("/")
        .cookie(cookie)
        .send()
        .await
        .expect("a response");
    assert_eq!(second.body().await.expect("a body"), "2");
}

#[actix_web::test]
async fn recipe_seeded_a_session_written_to_the_store_is_sent_with_a_sealed_cookie() {
    let (store, key) = (MokaStore::new(1_000), Key::generate());
    let sessions = SessionMiddleware::builder(store.clone(), key.clone()).build();
    let app = test::init_service(App::new().wrap(sessions).service(visit)).await;

    // A session that has seen 41 visits, written straight into the store. Values go in as the
    // app's own types, and the policy gives the record its deadline: the middleware's default.
    let id = SessionId::generate();
    let mut changes = Changes::new(SessionPolicy::default());
    changes
        .insert(Visits::KEYS[0], 41_u32)
        .expect("a number serializes");
    store.create(&id, &changes).await.expect("stored");

    let sealer = CookieSealer::new(&key, "session", CookieContent::Signed);
    let cookie = Cookie::new("session", sealer.seal(id));
    let request = TestRequest::get().uri("/").cookie(cookie).to_request();
    let response = test::call_service(&app, request).await;
    assert_eq!(test::read_body(response).await, "42");
}
