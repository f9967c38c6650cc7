//! The servers under test: every variant serves the basic example's two routes.
//!
//! - `GET /` answers the value of `test_key`, or [`NO_VALUE`].
//! - `GET /set` stores [`VALUE`] under `test_key`, adds one to the `u32` under `counter`, and
//!   answers [`SAVED`] with a 200 (no redirect, so that one wrk request is one round trip).
//!
//! A server runs one actix worker, or one current-thread tokio runtime for axum; `bench/run` pins
//! it to one core.

use std::io;
use std::path::Path;

use actix_web::cookie::Key;

use crate::space::Space;
use crate::variant::{Stack, Variant};

mod actix_bare;
#[cfg(feature = "peers")]
mod actix_session;
pub(crate) mod kv;
#[cfg(feature = "peers")]
pub(crate) mod tower;

/// What `GET /` answers when the session holds no value.
pub(crate) const NO_VALUE: &str = "No value set. Go to /set to set a value";
/// What `GET /set` stores.
pub(crate) const VALUE: &str = "something";
/// What `GET /set` answers.
pub(crate) const SAVED: &str = "saved";
/// How many sessions a cache in front of a store holds.
pub(crate) const CACHED_SESSIONS: u64 = 10_000;

/// The cookie key of every server and of the seeder, so that seeded cookies open. A fixed
/// key is fine here: the sessions are throwaway.
pub(crate) fn bench_key() -> Key {
    let bytes: Vec<u8> = (0..64u8)
        .map(|i| i.wrapping_mul(37).wrapping_add(11))
        .collect();
    Key::from(&bytes)
}

/// Runs `variant`'s server on 127.0.0.1:`port` until it is killed; stores keep their files in
/// `dir`, and their sessions on a shared server in `space`.
pub(crate) fn serve(variant: &Variant, port: u16, dir: &Path, space: &Space) -> io::Result<()> {
    match variant.stack {
        Stack::Bare => actix_bare::serve(port),
        Stack::Kv { store, cache } => kv::serve(port, store, cache, dir, space),
        #[cfg(feature = "peers")]
        Stack::ActixCookie => actix_session::serve_cookie(port),
        #[cfg(feature = "peers")]
        Stack::ActixRedis => actix_session::serve_redis(port, space),
        #[cfg(feature = "peers")]
        Stack::TowerMemory => tower::serve_memory(port),
        #[cfg(feature = "peers")]
        Stack::TowerSqlite { cache } => tower::serve_sqlite(port, dir, cache),
        #[cfg(feature = "peers")]
        Stack::TowerRedis => tower::serve_redis(port),
        #[cfg(feature = "peers")]
        Stack::TowerPostgres => tower::serve_postgres(port, space),
    }
}

/// Deletes what `variant`'s server left in `space` on a shared server, once it is gone. Stores
/// in files need nothing: the driver deletes their directory.
pub(crate) fn clear(variant: &Variant, space: &Space) -> io::Result<()> {
    match variant.stack {
        Stack::Kv { store, .. } => kv::clear(store, space),
        #[cfg(feature = "peers")]
        Stack::ActixRedis => actix_session::clear_redis(space),
        #[cfg(feature = "peers")]
        Stack::TowerRedis => tower::clear_redis(),
        #[cfg(feature = "peers")]
        Stack::TowerPostgres => tower::clear_postgres(space),
        _ => Ok(()),
    }
}

/// Runs `work` to its end on a runtime of its own, for the driver, which has none.
fn block_on<T>(work: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(work)
}
