//! kv-sessions: the typed keys of the basic example, on sled with or without a moka cache.

use std::io;
use std::path::Path;

use actix_web::cookie::{Cookie, CookieJar, Key};
use actix_web::{App, HttpResponse, HttpServer, get};
use kv_sessions::{MokaStore, SessionError, SessionId, SessionKey, SessionKeys, SessionMiddleware};

use super::{CACHED_SESSIONS, NO_VALUE, SAVED, VALUE, bench_key};
use crate::variant::OpenSled;

/// The session cookie's name: kv-sessions' default.
const COOKIE_NAME: &str = "session";
/// The length of the base64 HMAC-SHA256 tag that starts a signed cookie's value.
const TAG_LEN: usize = 44;

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

/// Signs session cookies as kv-sessions' middleware does, for sessions the seeder writes
/// straight into a store.
///
/// kv-sessions has no public way to sign an id, so this follows the format its cookie module
/// documents: actix-web's signed jar tags `<name>=<id>`, and the value is that tag followed by
/// the id. The driver checks one seeded cookie against a real server before it measures, so a
/// change of format stops the run instead of measuring fresh sessions.
pub(crate) struct CookieSigner {
    key: Key,
}

impl CookieSigner {
    /// A signer with the servers' key.
    pub(crate) fn new() -> Self {
        Self { key: bench_key() }
    }

    /// The `name=value` pair a request sends for session `id`.
    pub(crate) fn cookie(&self, id: SessionId) -> String {
        let id = id.to_string();
        let mut jar = CookieJar::new();
        jar.signed_mut(&self.key)
            .add(Cookie::new(COOKIE_NAME, format!("{COOKIE_NAME}={id}")));
        let signed = jar.get(COOKIE_NAME).map(Cookie::value).unwrap_or_default();
        let tag = signed.get(..TAG_LEN).unwrap_or_default();
        format!("{COOKIE_NAME}={tag}{id}")
    }
}
