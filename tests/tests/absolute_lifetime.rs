//! Through a real server: a session ends 30 days after its creation unless the app says
//! otherwise, whatever rule it sets.

use std::time::Duration;

use actix_web::cookie::Key;
use actix_web::http::header::SET_COOKIE;
use actix_web::{App, HttpResponse, web};
use kv_sessions::{Expiry, MokaStore, Session, SessionError, SessionMiddleware};

const DAY: u64 = 86_400;

/// Signs in with a "remember me" of 90 days.
async fn remember(session: Session) -> Result<HttpResponse, SessionError> {
    session.insert("user", "alice")?;
    session.set_expiry(Some(Expiry::OnInactivity(Duration::from_secs(90 * DAY))));
    Ok(HttpResponse::Ok().finish())
}

/// The `Max-Age` of the cookie that a sign-in gets from a middleware built by `configure`.
async fn max_age(
    configure: impl FnOnce(
        kv_sessions::SessionMiddlewareBuilder<MokaStore>,
    ) -> kv_sessions::SessionMiddlewareBuilder<MokaStore>,
) -> u64 {
    let builder = SessionMiddleware::builder(MokaStore::new(100), Key::generate());
    let sessions = configure(builder.cookie_secure(false)).build();
    let server = actix_test::start(move || {
        App::new()
            .wrap(sessions.clone())
            .route("/", web::post().to(remember))
    });
    let response = server.post("/").send().await.expect("response");
    let cookie = response.headers().get(SET_COOKIE).expect("a cookie");
    let cookie = cookie.to_str().expect("text");
    let max_age = cookie
        .split("; ")
        .find_map(|attribute| attribute.strip_prefix("Max-Age="))
        .expect("a Max-Age");
    max_age.parse().expect("seconds")
}

#[actix_rt::test]
async fn a_long_remember_me_is_cut_to_thirty_days_by_default() {
    assert_eq!(max_age(|builder| builder).await, 30 * DAY);
}

#[actix_rt::test]
async fn the_app_can_raise_the_absolute_lifetime_or_turn_it_off() {
    let raised = max_age(|builder| builder.absolute_lifetime(Duration::from_secs(60 * DAY)));
    assert_eq!(raised.await, 60 * DAY);
    let off = max_age(|builder| builder.absolute_lifetime(None));
    assert_eq!(off.await, 90 * DAY);
}
