//! The seed's example app on the embedded default: sled for storage, moka as the cache.
//!
//! - `GET /` shows the stored value, or says that none is set.
//! - `GET /set` stores "something" and redirects to `/`.
//!
//! Environment:
//! - `PORT`: the port on 127.0.0.1 (default 8000; `0` lets the system pick one, which the
//!   "listening on" line names);
//! - `SESSIONS_DB`: the sled directory (default `./sessions.sled`);
//! - `SESSION_KEY`: the cookie signing key, at least 64 bytes, in hex or base64 (read by
//!   `kv_sessions::key_from_env`), e.g. from `head -c 64 /dev/urandom | base64 -w0`. Without it
//!   a random key is used, and sessions do not survive a restart.
//! - `RUST_LOG`: log filter (default `info`).

use std::env;
use std::io;

use actix_web::http::header::LOCATION;
use actix_web::{App, HttpResponse, HttpServer, get};
use kv_sessions::{MokaStore, SessionError, SessionKey, SessionKeys, SessionMiddleware, SledStore};
use kv_sessions_examples::settings::{announce, init_logging, port, signing_key};

/// The keys this app keeps in a session.
#[derive(SessionKeys)]
struct Demo {
    test_key: SessionKey<String>,
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

#[actix_web::main]
async fn main() -> io::Result<()> {
    init_logging();
    let port = port()?;
    let directory = env::var("SESSIONS_DB").unwrap_or_else(|_| "./sessions.sled".to_owned());
    let key = signing_key()?;

    // Built once, outside `HttpServer::new`: every worker shares the store, cache and key.
    let store = SledStore::open(&directory).map_err(io::Error::other)?;
    let sessions = SessionMiddleware::builder(store.clone(), key)
        .cache(MokaStore::new(10_000))
        .cookie_name("SESSION_COOKIE")
        .build();

    let server = HttpServer::new(move || {
        App::new()
            .wrap(sessions.clone())
            .service(index)
            .service(set)
    })
    .bind(("127.0.0.1", port))?;
    announce(&server.addrs(), &directory);
    server.run().await?;

    store.flush().await.map_err(io::Error::other)
}
