//! The kinds of store the harness can open, each once: in the test's directory, or on a shared
//! server in a scratch space of the test's own. The backend list in `lib.rs` stacks these.

use std::fmt::Display;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kv_sessions::{
    BoxedStore, InvalidationMode, MokaStore, PostgresStore, RedisStore, SessionStore, SledStore,
    StoreError,
};

use crate::shared::{self, PostgresScratch, RedisScratch, Scratch};

/// How one kind of store is opened, beneath any cache and the fault layer.
#[derive(Debug)]
pub enum Engine {
    /// A store inside the test's process, in the test's temporary directory where it needs one.
    Embedded(fn(&Path) -> Opened),
    /// A store on a shared server, reached as [`Reach`] says.
    Server(fn(Reach) -> Connecting),
}

/// A server engine's store on its way.
pub type Connecting = Pin<Box<dyn Future<Output = Result<Opened, StoreError>>>>;

/// Where and how a server engine's store reaches its server.
#[derive(Debug, Clone)]
pub struct Reach {
    /// The server's own URL, where the test's scratch space is made and later emptied.
    pub server: String,
    /// The URL the store connects to: the server's, or a proxy's in front of it.
    pub url: String,
    /// A short operation timeout, for a test that takes the server away; such a store also
    /// sweeps nothing in the background, so that only the test's own calls meet the outage.
    pub timeout: Option<Duration>,
}

impl Reach {
    /// The server at `url`, reached directly, with the store's default timeout.
    pub fn direct(url: String) -> Self {
        Self {
            server: url.clone(),
            url,
            timeout: None,
        }
    }
}

/// A store as its engine opened it, and what a test may need to look beneath it.
#[derive(Debug)]
pub struct Opened {
    pub(crate) store: BoxedStore,
    pub(crate) sled: Option<SledStore>,
    pub(crate) scratch: Option<Arc<dyn Scratch>>,
}

impl Opened {
    fn new(store: impl SessionStore) -> Self {
        Self {
            store: BoxedStore::new(store),
            sled: None,
            scratch: None,
        }
    }
}

/// [`SledStore`], in [`sled_path`] under the test's directory.
pub static SLED: Engine = Engine::Embedded(|dir| {
    let sled = SledStore::open(sled_path(dir)).expect("open sled");
    Opened {
        sled: Some(sled.clone()),
        ..Opened::new(sled)
    }
});

/// Where [`SLED`] keeps its database under the test's directory `dir`.
pub fn sled_path(dir: &Path) -> PathBuf {
    dir.join("sessions.sled")
}

/// What `open` opens, once a store of a stopped server has let go of it: sled's own threads may
/// hold a database's lock for a moment after its store is dropped. Tries for 10 seconds, then
/// panics with the last error.
pub fn once_released<T, E: Display>(mut open: impl FnMut() -> Result<T, E>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match open() {
            Ok(opened) => return opened,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(error) => panic!("could not open what a stopped server held: {error}"),
        }
    }
}

/// [`MokaStore`], as an in-memory store of its own.
pub static MOKA: Engine = Engine::Embedded(|_| Opened::new(cache()));

/// [`RedisStore`], under a key prefix of the test's own.
pub static REDIS: Engine =
    Engine::Server(|reach| Box::pin(redis(reach, InvalidationMode::Broadcast, false)));

/// [`RedisStore`] in [`InvalidationMode::Targeted`], under a key prefix of the test's own.
pub static REDIS_TARGETED: Engine =
    Engine::Server(|reach| Box::pin(redis(reach, InvalidationMode::Targeted, false)));

/// [`RedisStore`] on a Redis Cluster, whose seed nodes the URL lists, comma-separated, under a
/// key prefix of the test's own.
pub static REDIS_CLUSTER: Engine =
    Engine::Server(|reach| Box::pin(redis(reach, InvalidationMode::Broadcast, true)));

/// [`PostgresStore`], on a table of the test's own.
pub static POSTGRES: Engine = Engine::Server(|reach| Box::pin(postgres(reach)));

/// The cache that a cached backend puts in front of its engine, and the store that the
/// [`MOKA`] engine is.
pub(crate) fn cache() -> MokaStore {
    MokaStore::new(10_000)
}

/// A Redis store under a scratch prefix, on a cluster where `cluster` holds.
async fn redis(reach: Reach, mode: InvalidationMode, cluster: bool) -> Result<Opened, StoreError> {
    let scratch = RedisScratch::new(&reach.server);
    let builder = if cluster {
        RedisStore::cluster_builder(shared::seeds(&reach.url))
    } else {
        RedisStore::builder(reach.url)
    };
    let mut builder = builder.key_prefix(scratch.prefix()).invalidation_mode(mode);
    if let Some(timeout) = reach.timeout {
        builder = builder.operation_timeout(timeout);
    }
    Ok(Opened {
        scratch: Some(Arc::new(scratch)),
        ..Opened::new(builder.build().await?)
    })
}

async fn postgres(reach: Reach) -> Result<Opened, StoreError> {
    let (_, scratch) = PostgresScratch::new(&reach.server).await;
    let mut builder = PostgresStore::builder(reach.url).table(scratch.table());
    if let Some(timeout) = reach.timeout {
        builder = builder.operation_timeout(timeout).sweep_every(None);
    }
    Ok(Opened {
        scratch: Some(Arc::new(scratch)),
        ..Opened::new(builder.build().await?)
    })
}
