//! The harness of the end-to-end tests: a test app, stores to run it on, and a client that keeps
//! cookies like a browser.
//!
//! Every test in the acceptance suite runs once per [`Backend`], through a real actix-web server
//! on a loopback port and, for sled, a real database in a temporary directory.

mod app;
mod backend;
mod browser;
mod conformance;
mod fault;
mod gate;
mod log;
mod panics;
mod probe;
pub mod proxy;
pub mod shared;

pub use crate::app::{NO_VALUE, routes};
pub use crate::backend::{AnyStore, Backend, Harness, ScratchGuard};
pub use crate::browser::{Browser, Page, send};
pub use crate::conformance::check_store;
pub use crate::fault::{Faults, FaultyStore};
pub use crate::gate::Gate;
pub use crate::log::{CapturedLog, capture_log};
pub use crate::panics::{CapturedPanics, capture_panics};
pub use crate::probe::{Probe, ProbeStore, STORE_SECRET};

/// Asserts that `page`, the answer to `GET /` with the cookie `id`, started a fresh session: the
/// stale cookie is removed and nothing leaks.
pub fn assert_fresh(page: &Page) {
    assert_eq!(page.status, actix_web::http::StatusCode::OK);
    assert_eq!(page.body, NO_VALUE);
    let removal = page.cookie("id").expect("the stale cookie is removed");
    assert_eq!(removal.value(), "");
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

/// Defines one test per scenario and backend: `for_every_backend!(a, b)` makes `sled::a`,
/// `moka::a`, `moka_over_sled::a` and so on, each calling `super::a(Backend::...)`, where every
/// scenario is an `async fn(Backend)`. A backend that cannot run here (a shared store whose URL
/// is unset) skips, saying so on stderr. A new backend joins the suite with one line below.
#[macro_export]
macro_rules! for_every_backend {
    ($($scenario:ident),* $(,)?) => {
        $crate::for_every_backend!(@backends [$($scenario),*]
            sled => Sled,
            moka => Moka,
            moka_over_sled => MokaOverSled,
            redis => Redis,
            moka_over_redis => MokaOverRedis,
            postgres => Postgres,
            moka_over_postgres => MokaOverPostgres,
        );
    };
    (@backends $scenarios:tt $($module:ident => $backend:ident,)*) => {
        $($crate::for_every_backend!(@module $module $backend $scenarios);)*
    };
    (@module $module:ident $backend:ident [$($scenario:ident),*]) => {
        mod $module {
            $(
                #[actix_rt::test]
                async fn $scenario() {
                    let backend = $crate::Backend::$backend;
                    if backend.available(concat!(stringify!($module), "::", stringify!($scenario))) {
                        super::$scenario(backend).await
                    }
                }
            )*
        }
    };
}
