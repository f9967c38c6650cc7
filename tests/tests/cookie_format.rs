//! The session cookie as clients hold it: which values open a session, and which do not.

use actix_web::App;
use actix_web::cookie::{Cookie, CookieJar, Key};
use actix_web::test::{TestRequest, call_service, init_service, read_body};
use kv_sessions::{CookieContent, MokaStore, SessionMiddleware};
use kv_sessions_tests::{Backend, assert_fresh, routes};

kv_sessions_tests::for_every_backend!(an_app_cookie_signed_by_actix_webs_jar_never_opens_a_session,);

/// The value actix-web's signed jar gives an app cookie holding `text`, under the app's `key`.
fn signed_by_the_app(key: &Key, text: &str) -> String {
    let mut jar = CookieJar::new();
    jar.signed_mut(key)
        .add(Cookie::new("comment", text.to_owned()));
    jar.get("comment").expect("signed").value().to_owned()
}

/// An app that signs a value the client chose (a comment, a preference) with its own key hands
/// out a tag over that value. Chosen as `id=<victim's id>`, the jar's tag followed by the id had
/// the shape and the tag of a session cookie while session cookies were signed with the app's
/// key itself.
async fn an_app_cookie_signed_by_actix_webs_jar_never_opens_a_session(backend: Backend) {
    let harness = backend.start();
    let mut victim = harness.browser();
    victim.get("/set").await;
    let id = victim.get("/id").await.body;
    let app_cookie = signed_by_the_app(&harness.key, &format!("id={id}"));
    let (tag, text) = app_cookie.split_at(44);
    assert_eq!(text, format!("id={id}"));

    let mut attacker = harness.browser();
    attacker.set_cookie_value(Some(format!("{tag}{id}")));
    assert_fresh(&attacker.get("/").await);
    assert_eq!(harness.probe.saves(), 1, "only the victim's write");
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
