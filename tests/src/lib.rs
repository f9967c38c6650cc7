//! The harness of the end-to-end tests: a test app, stores to run it on, and a client that keeps
//! cookies like a browser.
//!
//! Every test in the acceptance suite runs once per [`Backend`], through a real actix-web server
//! on a loopback port and, for sled, a real database in a temporary directory. The backends are
//! one list, in this file: [`for_every_backend!`] runs scenarios on each line of it,
//! [`for_every_server!`] on each line that is a server's store alone, and
//! `tests/store_contract.rs` runs each of the store contract's [`rules`] on each line. A new
//! backend over an existing [engine] is one line there.
//!
//! [`for_every_shared_store!`] runs scenarios on each line whose store lives on a shared server,
//! where a [`Cluster`] of app instances can share it.
//!
//! A store of your own runs the same [`rules`], each a test of its own, with
//! [`store_rule_tests!`], or all in one test with [`check_store`].

mod any_store;
mod app;
mod backend;
mod browser;
mod certificates;
mod cluster;
mod conformance;
mod delays;
pub mod engine;
mod fault;
mod gate;
mod harness;
mod listener;
mod log;
mod panics;
mod probe;
pub mod proxy;
mod redis_tls;
pub mod shared;
mod tls_postgres;

pub use crate::any_store::{AnyStore, ScratchGuard};
pub use crate::app::{ListedSession, NO_VALUE, routes};
pub use crate::backend::Backend;
pub use crate::browser::{Browser, Page, send};
pub use crate::certificates::{ServerCertificate, TestCa};
pub use crate::cluster::{COOKIE_NAME, Cluster, Instance, InstanceSettings};
pub use crate::conformance::{check_store, rules};
pub use crate::delays::Delays;
pub use crate::fault::{Faults, FaultyStore};
pub use crate::gate::Gate;
pub use crate::harness::Harness;
pub use crate::listener::Listeners;
pub use crate::log::{CapturedLog, capture_log};
pub use crate::panics::{CapturedPanics, capture_panics};
pub use crate::probe::{Probe, ProbeStore, STORE_SECRET};
pub use crate::redis_tls::{ClientCertificates, TlsRedis, TlsRedisCluster};
pub use crate::tls_postgres::TlsPostgres;

/// What this crate's macros reach from the crates that call them.
#[doc(hidden)]
pub mod __private {
    pub use crate::conformance::block_on;
}

/// Asserts that `page`, the answer to `GET /` with the cookie `id`, started a fresh session:
/// nothing leaks, and the response sends no cookie, since only a purge removes one.
pub fn assert_fresh(page: &Page) {
    assert_eq!(page.status, actix_web::http::StatusCode::OK);
    assert_eq!(page.body, NO_VALUE);
    assert!(
        page.cookie("id").is_none(),
        "a response that saved nothing leaves the cookie alone"
    );
}

/// The bytes of every file under `dir`, as a measure of a store's size on disk.
pub fn size_on_disk(dir: &std::path::Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            size_on_disk(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

/// The one list of backends, handed to the macro at the path `[$callback]` after `$args`. Every
/// suite runs on every line: a new backend joins the store contract, the acceptance suites and,
/// where it is a server's store alone, the outage tests, with one line here.
///
/// A line reads `module => Variant = Layout(ENGINE)`, and ends with `if VARIABLE` where the
/// engine needs a server whose URL that environment variable holds: [`Backend::Variant`] stacks
/// the [engine](crate::engine) `ENGINE` alone (`Alone`) or under a moka cache (`Cached`), and
/// its tests live in the module `module` of each suite. `build.rs` sets the cfg `VARIABLE` where
/// the variable is set, or under `CI=true`; elsewhere the backend's tests are ignored, saying
/// why.
#[doc(hidden)]
#[macro_export]
macro_rules! __every_backend {
    ([$($callback:tt)*] $($args:tt)*) => {
        $($callback)*! { $($args)*
            /// [`SledStore`](kv_sessions::SledStore) alone.
            sled => Sled = Alone(SLED),
            /// [`MokaStore`](kv_sessions::MokaStore) alone, as an in-memory store.
            moka => Moka = Alone(MOKA),
            /// A [`MokaStore`](kv_sessions::MokaStore) cache over a
            /// [`SledStore`](kv_sessions::SledStore): the embedded default.
            moka_over_sled => MokaOverSled = Cached(SLED),
            /// [`RedisStore`](kv_sessions::RedisStore) alone, at `KV_SESSIONS_REDIS_URL`, under a
            /// key prefix of the test's own.
            redis => Redis = Alone(REDIS) if KV_SESSIONS_REDIS_URL,
            /// A [`MokaStore`](kv_sessions::MokaStore) cache over a
            /// [`RedisStore`](kv_sessions::RedisStore).
            moka_over_redis => MokaOverRedis = Cached(REDIS) if KV_SESSIONS_REDIS_URL,
            /// A [`MokaStore`](kv_sessions::MokaStore) cache over a
            /// [`RedisStore`](kv_sessions::RedisStore) in
            /// [`InvalidationMode::Targeted`](kv_sessions::InvalidationMode::Targeted).
            moka_over_redis_targeted => MokaOverRedisTargeted = Cached(REDIS_TARGETED) if KV_SESSIONS_REDIS_URL,
            /// [`RedisStore`](kv_sessions::RedisStore) alone on the Redis Cluster whose seed
            /// nodes `KV_SESSIONS_REDIS_CLUSTER_URL` lists, comma-separated (`.ci/redis-cluster`
            /// starts one), under a key prefix of the test's own.
            redis_cluster => RedisCluster = Alone(REDIS_CLUSTER) if KV_SESSIONS_REDIS_CLUSTER_URL,
            /// A [`MokaStore`](kv_sessions::MokaStore) cache over a
            /// [`RedisStore`](kv_sessions::RedisStore) on Redis Cluster.
            moka_over_redis_cluster => MokaOverRedisCluster = Cached(REDIS_CLUSTER) if KV_SESSIONS_REDIS_CLUSTER_URL,
            /// [`PostgresStore`](kv_sessions::PostgresStore) alone, at
            /// `KV_SESSIONS_POSTGRES_URL`, on a table of the test's own.
            postgres => Postgres = Alone(POSTGRES) if KV_SESSIONS_POSTGRES_URL,
            /// A [`MokaStore`](kv_sessions::MokaStore) cache over a
            /// [`PostgresStore`](kv_sessions::PostgresStore).
            moka_over_postgres => MokaOverPostgres = Cached(POSTGRES) if KV_SESSIONS_POSTGRES_URL,
        }
    };
}

/// Defines one test per scenario and backend: `for_every_backend!(a, b)` makes `sled::a`,
/// `moka::a`, `moka_over_sled::a` and so on, each calling `super::a(Backend::...)`, where every
/// scenario is an `async fn(Backend)`. A backend on a server whose URL is unset has its tests
/// ignored, with the variable named as the reason.
#[macro_export]
macro_rules! for_every_backend {
    ($($scenario:ident),* $(,)?) => {
        $crate::__every_backend!([$crate::for_every_backend] @lines [$($scenario),*]);
    };
    (@lines $scenarios:tt $(
        $(#[$doc:meta])*
        $module:ident => $variant:ident = $layout:ident($engine:ident) $(if $variable:ident)?,
    )*) => {
        $($crate::__scenario_module!($module $variant $scenarios $(if $variable)?);)*
    };
}

/// Defines one test per scenario on each backend that is a server's store alone, with no cache
/// in front to answer for it: the backends that the outage tests take the server away from.
/// Otherwise as [`for_every_backend!`].
///
/// Redis Cluster is left out: its client learns the nodes' addresses from the cluster itself and
/// connects to them directly, past any proxy in front of a seed node, so a proxy cannot take the
/// cluster away.
#[macro_export]
macro_rules! for_every_server {
    ($($scenario:ident),* $(,)?) => {
        $crate::__every_backend!([$crate::for_every_server] @lines [$($scenario),*]);
    };
    (@lines $scenarios:tt $(
        $(#[$doc:meta])*
        $module:ident => $variant:ident = $layout:ident($engine:ident) $(if $variable:ident)?,
    )*) => {
        $($crate::for_every_server!(@line $scenarios $module $variant $layout $(if $variable)?);)*
    };
    (@line $scenarios:tt $module:ident $variant:ident Alone if KV_SESSIONS_REDIS_CLUSTER_URL) => {};
    (@line $scenarios:tt $module:ident $variant:ident Alone if $variable:ident) => {
        $crate::__scenario_module!($module $variant $scenarios if $variable);
    };
    (@line $($other:tt)*) => {};
}

/// Defines one test per scenario on each backend whose store lives on a shared server, cached or
/// not: the backends that several app instances can share, as a [`Cluster`] does. Otherwise as
/// [`for_every_backend!`].
///
/// Redis Cluster is left out: a [`Cluster`] finds and kills its instances' listening connections
/// on one server, and a listener on a Redis Cluster may be on any node. `tests/redis_cluster.rs`
/// checks its invalidation feed instead.
#[macro_export]
macro_rules! for_every_shared_store {
    ($($scenario:ident),* $(,)?) => {
        $crate::__every_backend!([$crate::for_every_shared_store] @lines [$($scenario),*]);
    };
    (@lines $scenarios:tt $(
        $(#[$doc:meta])*
        $module:ident => $variant:ident = $layout:ident($engine:ident) $(if $variable:ident)?,
    )*) => {
        $($crate::for_every_shared_store!(@line $scenarios $module $variant $(if $variable)?);)*
    };
    (@line $scenarios:tt $module:ident $variant:ident if KV_SESSIONS_REDIS_CLUSTER_URL) => {};
    (@line $scenarios:tt $module:ident $variant:ident if $variable:ident) => {
        $crate::__scenario_module!($module $variant $scenarios if $variable);
    };
    (@line $($other:tt)*) => {};
}

/// One backend's module of scenario tests, each ignored unless the cfg `$variable` is set, with
/// a reason that `cargo test` prints beside it.
#[doc(hidden)]
#[macro_export]
macro_rules! __scenario_module {
    ($module:ident $variant:ident $scenarios:tt if $variable:ident) => {
        $crate::__scenario_module!(@tests $module $variant $scenarios
            cfg_attr(
                not($variable),
                // A literal: libtest drops a reason that a macro such as `concat!` writes.
                ignore = "its server's URL is unset: set KV_SESSIONS_REDIS_URL / KV_SESSIONS_REDIS_CLUSTER_URL / KV_SESSIONS_POSTGRES_URL"
            ));
    };
    ($module:ident $variant:ident $scenarios:tt) => {
        $crate::__scenario_module!(@tests $module $variant $scenarios cfg_attr(any(), ignore));
    };
    (@tests $module:ident $variant:ident [$($scenario:ident),*] $ignore:meta) => {
        mod $module {
            $(
                #[actix_rt::test]
                #[$ignore]
                async fn $scenario() {
                    super::$scenario($crate::Backend::$variant).await
                }
            )*
        }
    };
}
