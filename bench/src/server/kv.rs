//! kv-sessions: the typed keys of the basic example, on sled with or without a moka cache.

use std::io;
use std::path::Path;

use actix_web::{App, HttpResponse, HttpServer, get};
use kv_sessions::test_util::CookieSealer;
use kv_sessions::{
    CookieContent, MokaStore, SessionError, SessionId, SessionKey, SessionKeys, SessionMiddleware,
};

use super::{CACHED_SESSIONS, NO_VALUE, SAVED, VALUE, bench_key};
use crate::variant::OpenSled;

/// The session cookie's name: kv-sessions' default.
const COOKIE_NAME: &str = "session";

/// The keys the routes keep in a session.
#[derive(SessionKeys)]
struct Demo {
    test_key: SessionKey<String>,
    counter: SessionKey<u32>,
}

#[get("/")]
async fn index(demo: Demo) -> Result<HttpResponse, SessionError> {
    let body = demo.test_key.get()?.unwrap_or_else(|| NO_VALUE.to_owned());
    Ok(HttpResponse::Ok().body(body))
}

#[get("/set")]
async fn set(demo: Demo) -> Result<HttpResponse, SessionError> {
    demo.test_key.set(VALUE.to_owned())?;
    let count = demo.counter.get_or_default()?;
    demo.counter.set(count.wrapping_add(1))?;
    Ok(HttpResponse::Ok().body(SAVED))
}

pub(super) fn serve(port: u16, dir: &Path, cache: bool, open: OpenSled) -> io::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let store = open(dir).map_err(io::Error::other)?;
        let builder = SessionMiddleware::builder(store.clone(), bench_key());
        let sessions = if cache {
            builder.cache(MokaStore::new(CACHED_SESSIONS)).build()
        } else {
            builder.build()
        };
        HttpServer::new(move || {
            App::new()
                .wrap(sessions.clone())
                .service(index)
                .service(set)
        })
        .workers(1)
        .bind(("127.0.0.1", port))?
        .run()
        .await
    })
}

/// Seals session cookies as kv-sessions' middleware does, for sessions the seeder writes
/// straight into a store, with the middleware's own code (kv-sessions' `test-util` feature).
pub(crate) struct CookieSigner {
    sealer: CookieSealer,
}

impl CookieSigner {
    /// A signer with the servers' key, cookie name and cookie content.
    pub(crate) fn new() -> Self {
        let sealer = CookieSealer::new(&bench_key(), COOKIE_NAME, CookieContent::Signed);
        Self { sealer }
    }

    /// The `name=value` pair a request sends for session `id`.
    pub(crate) fn cookie(&self, id: SessionId) -> String {
        format!("{COOKIE_NAME}={}", self.sealer.seal(id))
    }
}
