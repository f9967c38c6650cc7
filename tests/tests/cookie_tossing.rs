//! Through a real server: cookies of the session's name planted by a sibling subdomain, sent
//! before the browser's own, do not sign the user out.

use actix_web::cookie::Key;
use actix_web::http::header::SET_COOKIE;
use actix_web::{App, HttpResponse, web};
use kv_sessions::{MokaStore, Session, SessionError, SessionMiddleware};

async fn sign_in(session: Session, user: web::Path<String>) -> Result<HttpResponse, SessionError> {
    session.insert("user", user.into_inner())?;
    Ok(HttpResponse::Ok().finish())
}

async fn sign_out(session: Session) -> HttpResponse {
    session.purge();
    HttpResponse::Ok().finish()
}

async fn whoami(session: Session) -> Result<HttpResponse, SessionError> {
    let user: Option<String> = session.get("user")?;
    Ok(HttpResponse::Ok().body(user.unwrap_or_else(|| "nobody".to_owned())))
}

fn server() -> actix_test::TestServer {
    let sessions = SessionMiddleware::builder(MokaStore::new(100), Key::generate())
        .cookie_secure(false)
        .build();
    actix_test::start(move || {
        App::new()
            .wrap(sessions.clone())
            .route("/sign-in/{user}", web::post().to(sign_in))
            .route("/sign-out", web::post().to(sign_out))
            .route("/whoami", web::get().to(whoami))
    })
}

/// The `session=<value>` pair a sign-in as `user` is given.
async fn signed_in(server: &actix_test::TestServer, user: &str) -> String {
    let response = server.post(format!("/sign-in/{user}")).send().await;
    let response = response.expect("response");
    let cookie = response.headers().get(SET_COOKIE).expect("a cookie");
    let cookie = cookie.to_str().expect("text");
    cookie.split(';').next().expect("name=value").to_owned()
}

async fn whoami_with(server: &actix_test::TestServer, cookies: &str) -> String {
    let request = server.get("/whoami").insert_header(("cookie", cookies));
    let mut response = request.send().await.expect("response");
    let body = response.body().await.expect("body");
    String::from_utf8(body.to_vec()).expect("text")
}

#[actix_rt::test]
async fn a_planted_cookie_of_a_dead_session_sent_first_does_not_push_out_the_live_one() {
    let server = server();
    let planted = signed_in(&server, "mallory").await;
    let sign_out = server
        .post("/sign-out")
        .insert_header(("cookie", planted.as_str()));
    sign_out.send().await.expect("signed out");
    let own = signed_in(&server, "alice").await;

    assert_eq!(
        whoami_with(&server, &format!("{planted}; {own}")).await,
        "alice"
    );
    assert_eq!(
        whoami_with(&server, &format!("{own}; {planted}")).await,
        "alice"
    );
}

#[actix_rt::test]
async fn of_two_live_sessions_the_first_cookie_wins() {
    let server = server();
    let first = signed_in(&server, "alice").await;
    let second = signed_in(&server, "bob").await;
    assert_eq!(
        whoami_with(&server, &format!("{first}; {second}")).await,
        "alice"
    );
}

#[actix_rt::test]
async fn garbage_sent_first_does_not_hide_a_live_cookie() {
    let server = server();
    let own = signed_in(&server, "alice").await;
    let cookies = format!("session=garbage; session={}", "A".repeat(60));
    assert_eq!(
        whoami_with(&server, &format!("{cookies}; {own}")).await,
        "alice"
    );
}
