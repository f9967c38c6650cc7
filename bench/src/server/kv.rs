//! kv-sessions: the typed keys of the basic example, on sled, Redis or PostgreSQL, with or
//! without a moka cache.

use std::io;
use std::path::Path;

use actix_web::{App, HttpResponse, HttpServer, get};
use kv_sessions::test_util::CookieSealer;
use kv_sessions::{
    CookieContent, MokaStore, PostgresStore, RedisStore, SessionError, SessionId, SessionKey,
    SessionKeys, SessionMiddleware, SessionStore, StoreError,
};

use super::{CACHED_SESSIONS, NO_VALUE, SAVED, VALUE, bench_key, block_on};
use crate::redis_keys;
use crate::space::{POSTGRES_URL, Space, redis_url};
use crate::variant::KvStore;

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

pub(super) fn serve(
    port: u16,
    store: KvStore,
    cache: bool,
    dir: &Path,
    space: &Space,
) -> io::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        // Each store is built on the runtime that serves, as the shared stores require.
        let sessions = match store {
            KvStore::Sled(open) => middleware(open(dir), cache),
            KvStore::Redis { feed } => middleware(open_redis(space, feed).await, cache),
            KvStore::Postgres { feed, synchronous } => {
                middleware(open_postgres(space, feed, synchronous).await, cache)
            }
        }
        .map_err(io::Error::other)?;
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

/// The middleware on `store`, with a moka cache in front where `cache` is set. Generic rather
/// than on a `BoxedStore`, so that no variant pays for a second layer of dynamic calls.
fn middleware<S: SessionStore>(
    store: Result<S, StoreError>,
    cache: bool,
) -> Result<SessionMiddleware, StoreError> {
    let builder = SessionMiddleware::builder(store?, bench_key());
    Ok(if cache {
        builder.cache(MokaStore::new(CACHED_SESSIONS)).build()
    } else {
        builder.build()
    })
}

async fn open_redis(space: &Space, feed: bool) -> Result<RedisStore, StoreError> {
    RedisStore::builder(redis_url())
        .key_prefix(space.key_prefix())
        .invalidation_feed(feed)
        .build()
        .await
}

async fn open_postgres(
    space: &Space,
    feed: bool,
    synchronous: bool,
) -> Result<PostgresStore, StoreError> {
    let settings = PostgresStore::builder(POSTGRES_URL)
        .table(space.table())
        .invalidation_feed(feed)
        .synchronous_commit(synchronous);
    settings.migrate_up().await?;
    settings.build().await
}

/// Deletes the sessions a server on `store` left in `space`: its keys in Redis, or its table.
pub(super) fn clear(store: KvStore, space: &Space) -> io::Result<()> {
    match store {
        KvStore::Sled(_) => Ok(()),
        KvStore::Redis { .. } => {
            redis_keys::delete_prefixed(&space.key_prefix())?;
            Ok(())
        }
        KvStore::Postgres { .. } => block_on(async {
            let settings = PostgresStore::builder(POSTGRES_URL).table(space.table());
            settings.migrate_down().await.map_err(io::Error::other)
        }),
    }
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
