//! One instance of an app whose sessions live in a shared store, Redis or PostgreSQL, so that
//! several instances can serve the same users: start two on different ports and hop between
//! them.
//!
//! - `GET /` shows the stored value, or says that none is set.
//! - `GET /set` stores "something" and redirects to `/`.
//! - `GET /visit` counts the session's visits and shows the count.
//! - `POST /renew` moves the session to a new id, as a login does.
//! - `POST /logout` purges the session, on every instance at once. A POST, as the guide asks of
//!   every sign-out, so that no link or image on another site can sign a user out.
//!
//! Environment:
//! - `KV_SESSIONS_REDIS_URL` (such as `redis://127.0.0.1:6379`) or `KV_SESSIONS_POSTGRES_URL`
//!   (such as `postgres://postgres@127.0.0.1:5432/test`): the shared store; Redis where both are
//!   set. PostgreSQL gets its table on start (`migrate_up` is idempotent).
//! - `KV_SESSIONS_NAMESPACE`: the Redis key prefix or the PostgreSQL table (default
//!   `kv_sessions`), so that apps sharing a server keep apart.
//! - `SESSION_KEY`: the cookie key, the same for every instance (see the `basic` example).
//! - `KV_SESSIONS_CACHE`: `off` to run without the moka cache in front of the store.
//! - `PORT`, `RUST_LOG`: as in the `basic` example.
//!
//! Each instance keeps a moka cache in front of the shared store, and the store's invalidation
//! feed keeps the caches coherent: what one instance writes, renews or purges, every other
//! instance forgets within milliseconds, and a client that hops to another instance sees its own
//! writes at once, since its cookie carries the version it last saved.

use std::env;
use std::io;

use actix_web::http::header::LOCATION;
use actix_web::{App, HttpResponse, HttpServer, get, post};
use kv_sessions::{
    BoxedStore, MokaStore, PostgresStore, RedisStore, Session, SessionError, SessionKey,
    SessionKeys, SessionMiddleware,
};
use kv_sessions_examples::settings::{announce, init_logging, invalid, port, signing_key};

/// The keys this app keeps in a session.
#[derive(SessionKeys)]
struct Demo {
    test_key: SessionKey<String>,
    visits: SessionKey<u64>,
}

#[get("/")]
async fn index(demo: Demo) -> Result<HttpResponse, SessionError> {
    let body = demo
        .test_key
        .get()?
        .unwrap_or_else(|| "No value set. Go to /set to set a value".to_owned());
    Ok(HttpResponse::Ok().body(body))
}

#[get("/set")]
async fn set(demo: Demo) -> Result<HttpResponse, SessionError> {
    demo.test_key.set("something".to_owned())?;
    Ok(HttpResponse::SeeOther()
        .insert_header((LOCATION, "/"))
        .finish())
}

#[get("/visit")]
async fn visit(demo: Demo) -> Result<HttpResponse, SessionError> {
    demo.visits.update_or(1, |visits| visits + 1)?;
    let visits = demo.visits.get()?.unwrap_or_default();
    Ok(HttpResponse::Ok().body(visits.to_string()))
}

#[post("/renew")]
async fn renew(session: Session) -> HttpResponse {
    session.renew();
    HttpResponse::SeeOther()
        .insert_header((LOCATION, "/"))
        .finish()
}

#[post("/logout")]
async fn logout(session: Session) -> HttpResponse {
    session.purge();
    HttpResponse::SeeOther()
        .insert_header((LOCATION, "/"))
        .finish()
}

/// The shared store the environment names.
async fn shared_store() -> io::Result<(BoxedStore, String)> {
    let namespace = env::var("KV_SESSIONS_NAMESPACE").unwrap_or_else(|_| "kv_sessions".to_owned());
    if let Ok(url) = env::var("KV_SESSIONS_REDIS_URL") {
        let store = RedisStore::builder(url)
            .key_prefix(format!("{namespace}:"))
            .build()
            .await
            .map_err(io::Error::other)?;
        return Ok((BoxedStore::new(store), format!("Redis, keys {namespace}:*")));
    }
    if let Ok(url) = env::var("KV_SESSIONS_POSTGRES_URL") {
        let settings = PostgresStore::builder(url).table(namespace.as_str());
        settings.migrate_up().await.map_err(io::Error::other)?;
        let store = settings.build().await.map_err(io::Error::other)?;
        return Ok((
            BoxedStore::new(store),
            format!("PostgreSQL, table {namespace}"),
        ));
    }
    Err(invalid(
        "set KV_SESSIONS_REDIS_URL or KV_SESSIONS_POSTGRES_URL to the shared store".to_owned(),
    ))
}

#[actix_web::main]
async fn main() -> io::Result<()> {
    init_logging();
    let port = port()?;
    let key = signing_key()?;
    let (store, described) = shared_store().await?;

    // Built once, outside `HttpServer::new`: every worker shares the store, the cache and the
    // key. The cache subscribes to the store's invalidation feed on its own.
    let builder = SessionMiddleware::builder(store, key).cookie_name("SESSION_COOKIE");
    let sessions = if env::var("KV_SESSIONS_CACHE").as_deref() == Ok("off") {
        builder.build()
    } else {
        builder.cache(MokaStore::new(10_000)).build()
    };

    let server = HttpServer::new(move || {
        App::new()
            .wrap(sessions.clone())
            .service(index)
            .service(set)
            .service(visit)
            .service(renew)
            .service(logout)
    })
    .bind(("127.0.0.1", port))?;
    announce(&server.addrs(), &described);
    server.run().await
}
