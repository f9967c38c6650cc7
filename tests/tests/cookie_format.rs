//! The session cookie as clients hold it: which values open a session, and which do not.

use actix_web::cookie::{Cookie, CookieJar, Key};
use kv_sessions_tests::{Backend, assert_fresh};

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
