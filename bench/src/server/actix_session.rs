//! actix-session, the usual choice for sessions on actix-web, with its default settings.

use std::io;

use actix_session::config::BrowserSession;
use actix_session::storage::{CookieSessionStore, RedisSessionStore, SessionStore};
use actix_session::{Session, SessionMiddleware};
use actix_web::cookie::time::Duration;
use actix_web::{App, HttpResponse, HttpServer, get};

use super::{NO_VALUE, SAVED, VALUE, bench_key};
use crate::redis_keys;
use crate::space::{Space, redis_url};

#[get("/")]
async fn index(session: Session) -> actix_web::Result<HttpResponse> {
    let body = session
        .get::<String>("test_key")?
        .unwrap_or_else(|| NO_VALUE.to_owned());
    Ok(HttpResponse::Ok().body(body))
}

#[get("/set")]
async fn set(session: Session) -> actix_web::Result<HttpResponse> {
    session.insert("test_key", VALUE)?;
    let count = session.get::<u32>("counter")?.unwrap_or_default();
    session.insert("counter", count.wrapping_add(1))?;
    Ok(HttpResponse::Ok().body(SAVED))
}

pub(super) fn serve_cookie(port: u16) -> io::Result<()> {
    actix_web::rt::System::new().block_on(serve(port, CookieSessionStore::default))
}

pub(super) fn serve_redis(port: u16, space: &Space) -> io::Result<()> {
    let prefix = space.key_prefix();
    actix_web::rt::System::new().block_on(async move {
        let store = RedisSessionStore::builder(redis_url())
            .cache_keygen(move |key| format!("{prefix}{key}"))
            .build()
            .await
            .map_err(io::Error::other)?;
        serve(port, move || store.clone()).await
    })
}

/// Deletes the sessions a Redis server left under `space`'s prefix.
pub(super) fn clear_redis(space: &Space) -> io::Result<()> {
    redis_keys::delete_prefixed(&space.key_prefix())?;
    Ok(())
}

/// Serves the routes with a middleware per worker, as actix-session's documentation shows, on
/// the store `store` gives.
async fn serve<S: SessionStore + 'static>(
    port: u16,
    store: impl Fn() -> S + Clone + Send + 'static,
) -> io::Result<()> {
    let key = bench_key();
    HttpServer::new(move || {
        // Sessions left in Redis expire within the hour instead of the default day.
        let sessions = SessionMiddleware::builder(store(), key.clone())
            .session_lifecycle(BrowserSession::default().state_ttl(Duration::hours(1)))
            .build();
        App::new().wrap(sessions).service(index).service(set)
    })
    .workers(1)
    .bind(("127.0.0.1", port))?
    .run()
    .await
}
