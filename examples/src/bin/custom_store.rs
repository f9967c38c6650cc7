//! An app on a session store of your own: `kv_sessions_examples::custom_store::HashMapStore`,
//! sessions in a `HashMap` behind a lock, which implements `kv_sessions::SessionStore` (read its
//! source for what each method must guarantee).
//!
//! - `GET /` counts the visits of this session and shows the count.
//! - `POST /forget` deletes the session and its cookie, so the count starts again.
//!
//! Any `SessionStore` plugs into `SessionMiddleware::builder` as the built-in ones do. This one
//! keeps sessions in memory only, so they do not survive a restart, and no cache sits in front
//! of it: the store is itself a map in memory. A background task sweeps expired sessions every
//! minute.
//!
//! Environment:
//! - `PORT`: the port on 127.0.0.1 (default 8000; `0` lets the system pick one, which the
//!   "listening on" line names);
//! - `SESSION_KEY`: the cookie signing key, as in the `basic` example (default: a random key);
//! - `RUST_LOG`: log filter (default `info`).

use std::io;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, get, post, rt};
use kv_sessions::{Session, SessionError, SessionKey, SessionKeys, SessionMiddleware};
use kv_sessions_examples::custom_store::HashMapStore;
use kv_sessions_examples::settings::{announce, init_logging, port, signing_key};

/// How often expired sessions are swept from the map.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// The keys this app keeps in a session.
#[derive(SessionKeys)]
struct Visits {
    count: SessionKey<u64>,
}

#[get("/")]
async fn visit(visits: Visits) -> Result<HttpResponse, SessionError> {
    let count = visits.count.get_or_default()? + 1;
    visits.count.set(count)?;
    Ok(HttpResponse::Ok().body(format!("Visits: {count}")))
}

#[post("/forget")]
async fn forget(session: Session) -> HttpResponse {
    session.purge();
    HttpResponse::NoContent().finish()
}

#[actix_web::main]
async fn main() -> io::Result<()> {
    init_logging();
    let port = port()?;
    let key = signing_key()?;

    // Built once, outside `HttpServer::new`: every worker shares the store and the key.
    let store = HashMapStore::new();
    let sessions = SessionMiddleware::builder(store.clone(), key).build();
    rt::spawn(async move {
        let mut every = rt::time::interval(SWEEP_EVERY);
        loop {
            every.tick().await;
            store.sweep_expired();
        }
    });

    let server = HttpServer::new(move || {
        App::new()
            .wrap(sessions.clone())
            .service(visit)
            .service(forget)
    })
    .bind(("127.0.0.1", port))?;
    announce(&server.addrs(), "memory");
    server.run().await
}
