//! Through a real server: a response that sets or removes the session cookie never reaches a
//! shared cache, and the app's stricter rules stand.

use actix_web::cookie::Key;
use actix_web::http::header::{CACHE_CONTROL, SET_COOKIE};
use actix_web::{App, HttpResponse, web};
use kv_sessions::{MokaStore, Session, SessionError, SessionMiddleware};

/// A handler that writes the session and answers with the `Cache-Control` in its path, if any.
async fn write(session: Session, rule: web::Path<String>) -> Result<HttpResponse, SessionError> {
    session.insert("visits", 1)?;
    let mut response = HttpResponse::Ok();
    match rule.as_str() {
        "none" => {}
        rule => {
            response.insert_header((CACHE_CONTROL, rule.replace('_', " ")));
        }
    }
    Ok(response.finish())
}

async fn purge(session: Session) -> HttpResponse {
    session.purge();
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "public, max-age=600"))
        .finish()
}

async fn public_page() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "public, max-age=600"))
        .finish()
}

fn server() -> actix_test::TestServer {
    let sessions = SessionMiddleware::builder(MokaStore::new(100), Key::generate())
        .cookie_secure(false)
        .build();
    actix_test::start(move || {
        App::new()
            .wrap(sessions.clone())
            .route("/write/{rule}", web::get().to(write))
            .route("/purge", web::get().to(purge))
            .route("/public", web::get().to(public_page))
    })
}

/// The `Cache-Control` headers of a GET of `path`, and its `Set-Cookie` if any.
async fn get(
    server: &actix_test::TestServer,
    path: &str,
    cookie: Option<&str>,
) -> (Vec<String>, Option<String>) {
    let mut request = server.get(path);
    if let Some(cookie) = cookie {
        request = request.insert_header(("cookie", cookie));
    }
    let response = request.send().await.expect("response");
    let text =
        |value: &actix_web::http::header::HeaderValue| value.to_str().expect("text").to_owned();
    let rules = response
        .headers()
        .get_all(CACHE_CONTROL)
        .map(text)
        .collect();
    let set_cookie = response.headers().get(SET_COOKIE).map(text);
    (rules, set_cookie)
}

#[actix_rt::test]
async fn a_new_session_cookie_is_never_stored_by_a_cache() {
    let server = server();
    let (rules, set_cookie) = get(&server, "/write/none", None).await;
    assert!(set_cookie.is_some());
    assert_eq!(rules, ["no-store"]);
}

#[actix_rt::test]
async fn a_public_page_that_sets_the_cookie_becomes_private() {
    let server = server();
    let (rules, set_cookie) = get(&server, "/write/public,_max-age=60", None).await;
    assert!(set_cookie.is_some());
    assert_eq!(rules, ["private, max-age=60"]);
}

#[actix_rt::test]
async fn the_apps_stricter_rule_stands() {
    let server = server();
    let (rules, _) = get(&server, "/write/no-store,_no-cache", None).await;
    assert_eq!(rules, ["no-store, no-cache"]);
}

#[actix_rt::test]
async fn a_removed_cookie_is_private_too() {
    let server = server();
    let (_, set_cookie) = get(&server, "/write/none", None).await;
    let pair = set_cookie.expect("a cookie");
    let pair = pair.split(';').next().expect("name=value");
    let (rules, removal) = get(&server, "/purge", Some(pair)).await;
    assert!(removal.expect("a removal").contains("Max-Age=0"));
    assert_eq!(rules, ["private, max-age=600"]);
}

#[actix_rt::test]
async fn a_response_without_a_session_cookie_keeps_the_apps_rule() {
    let server = server();
    let (rules, set_cookie) = get(&server, "/public", None).await;
    assert_eq!(set_cookie, None);
    assert_eq!(rules, ["public, max-age=600"]);
}
