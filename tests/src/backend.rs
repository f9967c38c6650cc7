//! The stores the acceptance suite runs against, and a running test server over one of them.

use std::path::Path;
use std::sync::Arc;

use actix_test::TestServer;
use actix_web::cookie::Key;
use actix_web::{App, web};
use kv_sessions::{
    BoxedStore, CachedStore, Changes, MokaStore, PostgresStore, Record, RedisStore, Saved,
    SessionId, SessionMiddleware, SessionMiddlewareBuilder, SessionStore, SledStore, StoreError,
};
use tempfile::TempDir;

use crate::browser::Browser;
use crate::fault::{Faults, FaultyStore};
use crate::gate::Gate;
use crate::probe::{Probe, ProbeStore};
use crate::shared::{self, PostgresScratch, RedisScratch, Scratch};

/// A store configuration under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// [`SledStore`] alone.
    Sled,
    /// [`MokaStore`] alone, as an in-memory store.
    Moka,
    /// A [`MokaStore`] cache over a [`SledStore`]: the embedded default.
    MokaOverSled,
    /// [`RedisStore`] alone, at `KV_SESSIONS_REDIS_URL`, under a key prefix of the test's own.
    Redis,
    /// A [`MokaStore`] cache over a [`RedisStore`].
    MokaOverRedis,
    /// [`PostgresStore`] alone, at `KV_SESSIONS_POSTGRES_URL`, on a table of the test's own.
    Postgres,
    /// A [`MokaStore`] cache over a [`PostgresStore`].
    MokaOverPostgres,
}

/// A store under test, whatever its type: the stack the middleware talks to, and handles to look
/// beneath it. A [`FaultyStore`] sits at the bottom of every stack, under any cache, so that
/// tests can make the store itself misbehave.
#[derive(Debug, Clone)]
pub struct AnyStore {
    top: BoxedStore,
    bottom: BoxedStore,
    faults: Arc<Faults>,
    sled: Option<SledStore>,
    scratch: Option<Arc<dyn Scratch>>,
}

impl AnyStore {
    /// `store`, under a fault layer.
    pub fn plain<S: SessionStore + Clone>(store: S) -> Self {
        let faulty = FaultyStore::new(store.clone());
        Self {
            faults: Arc::clone(faulty.faults()),
            top: BoxedStore::new(faulty),
            bottom: BoxedStore::new(store),
            sled: None,
            scratch: None,
        }
    }

    /// `store`, under a fault layer, under `cache`.
    pub fn cached<S: SessionStore + Clone>(cache: MokaStore, store: S) -> Self {
        let faulty = FaultyStore::new(store.clone());
        Self {
            faults: Arc::clone(faulty.faults()),
            top: BoxedStore::new(CachedStore::new(cache, faulty)),
            bottom: BoxedStore::new(store),
            sled: None,
            scratch: None,
        }
    }

    /// The same stack, noting that `sled` is the database at its bottom.
    pub fn on_sled(mut self, sled: SledStore) -> Self {
        self.sled = Some(sled);
        self
    }

    /// The same stack, keeping `scratch` (the test's own space on a shared server, cleared when
    /// dropped) until the last clone of the stack is gone.
    pub fn on_scratch(mut self, scratch: impl Scratch + 'static) -> Self {
        self.scratch = Some(Arc::new(scratch));
        self
    }

    /// A guard that empties the stack's scratch space when the test drops it, even while a
    /// server's workers still hold clones of the stack.
    pub fn scratch_guard(&self) -> ScratchGuard {
        ScratchGuard(self.scratch.clone())
    }

    /// The sled database underneath, if there is one.
    pub fn sled(&self) -> Option<&SledStore> {
        self.sled.as_ref()
    }

    /// The switches of the store under the cache.
    pub fn faults(&self) -> &Arc<Faults> {
        &self.faults
    }

    /// The session `id` as the bottom store holds it, bypassing any cache: what a restart would
    /// find.
    pub async fn persisted(&self, id: &SessionId) -> Option<Record> {
        self.bottom
            .load(id)
            .await
            .expect("load from the bottom store")
    }
}

impl SessionStore for AnyStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        self.top.load(id).await
    }

    async fn create(&self, id: &SessionId, changes: &Changes) -> Result<Saved, StoreError> {
        self.top.create(id, changes).await
    }

    async fn update(&self, id: &SessionId, changes: &Changes) -> Result<Saved, StoreError> {
        self.top.update(id, changes).await
    }

    async fn renew(
        &self,
        old: &SessionId,
        new: &SessionId,
        changes: &Changes,
    ) -> Result<Saved, StoreError> {
        self.top.renew(old, new, changes).await
    }

    async fn delete(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        self.top.delete(id).await
    }
}

/// A store on the shared Redis, under a prefix of its own.
async fn redis() -> (RedisStore, RedisScratch) {
    let url = std::env::var(shared::REDIS_URL).expect("a Redis URL");
    let scratch = RedisScratch::new(&url);
    let store = RedisStore::builder(url)
        .key_prefix(scratch.prefix())
        .build()
        .await
        .expect("connect to Redis");
    (store, scratch)
}

/// A store on the shared PostgreSQL database, on a table of its own.
async fn postgres() -> (PostgresStore, PostgresScratch) {
    let url = std::env::var(shared::POSTGRES_URL).expect("a PostgreSQL URL");
    PostgresScratch::new(&url).await
}

/// Empties a test's scratch space on a shared server when dropped.
#[derive(Debug)]
pub struct ScratchGuard(Option<Arc<dyn Scratch>>);

impl ScratchGuard {
    /// Leaves the scratch space as it is when the guard drops, for a store that lives on.
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for ScratchGuard {
    fn drop(&mut self) {
        if let Some(scratch) = &self.0 {
            scratch.clear();
        }
    }
}

/// The cache every cached backend puts in front of its store.
fn cache() -> MokaStore {
    MokaStore::new(10_000)
}

impl Backend {
    /// Whether this backend can run here; where it cannot, stderr says why `test` is skipped.
    pub fn available(self, test: &str) -> bool {
        match self {
            Self::Sled | Self::Moka | Self::MokaOverSled => true,
            Self::Redis | Self::MokaOverRedis => shared::redis_url(test).is_some(),
            Self::Postgres | Self::MokaOverPostgres => shared::postgres_url(test).is_some(),
        }
    }

    /// Opens this backend's store; sled lives in `dir`.
    pub async fn open(self, dir: &Path) -> AnyStore {
        let sled = || SledStore::open(dir.join("sessions.sled")).expect("open sled");
        match self {
            Self::Sled => {
                let sled = sled();
                AnyStore::plain(sled.clone()).on_sled(sled)
            }
            Self::Moka => AnyStore::plain(cache()),
            Self::MokaOverSled => {
                let sled = sled();
                AnyStore::cached(cache(), sled.clone()).on_sled(sled)
            }
            Self::Redis => {
                let (store, scratch) = redis().await;
                AnyStore::plain(store).on_scratch(scratch)
            }
            Self::MokaOverRedis => {
                let (store, scratch) = redis().await;
                AnyStore::cached(cache(), store).on_scratch(scratch)
            }
            Self::Postgres => {
                let (store, scratch) = postgres().await;
                AnyStore::plain(store).on_scratch(scratch)
            }
            Self::MokaOverPostgres => {
                let (store, scratch) = postgres().await;
                AnyStore::cached(cache(), store).on_scratch(scratch)
            }
        }
    }

    /// Starts the test app on this backend with default settings.
    pub async fn start(self) -> Harness {
        self.start_with(|builder| builder).await
    }

    /// Starts the test app on this backend, with the middleware configured by `configure`.
    pub async fn start_with(
        self,
        configure: impl FnOnce(
            SessionMiddlewareBuilder<ProbeStore<AnyStore>>,
        ) -> SessionMiddlewareBuilder<ProbeStore<AnyStore>>,
    ) -> Harness {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = self.open(dir.path()).await;
        Harness::start(dir, store, Key::generate(), configure)
    }
}

/// A running test server and what a test needs to look behind it.
pub struct Harness {
    /// The server.
    pub server: TestServer,
    /// Counts the calls that reach the store.
    pub probe: Arc<Probe>,
    /// The gate that the app's `/hold` route waits at.
    pub gate: Gate,
    /// The key that signs cookies.
    pub key: Key,
    /// The store under the probe.
    pub store: AnyStore,
    /// Where the sled database lives; removed when the harness is dropped.
    pub dir: TempDir,
    /// Empties the store's space on a shared server when the harness is dropped.
    scratch: ScratchGuard,
}

impl Harness {
    /// Starts the test app over `store`, signing with `key`. The middleware is built once, outside
    /// the app factory, as the crate docs tell users to.
    pub fn start(
        dir: TempDir,
        store: AnyStore,
        key: Key,
        configure: impl FnOnce(
            SessionMiddlewareBuilder<ProbeStore<AnyStore>>,
        ) -> SessionMiddlewareBuilder<ProbeStore<AnyStore>>,
    ) -> Self {
        let probe = Arc::new(Probe::default());
        let probed = ProbeStore::new(store.clone(), Arc::clone(&probe));
        let builder = SessionMiddleware::builder(probed, key.clone()).cookie_name("id");
        let middleware = configure(builder).build();
        let config = actix_test::config().workers(2).disable_redirects();
        let gate = Gate::default();
        let app_gate = web::Data::new(gate.clone());
        let server = actix_test::start_with(config, move || {
            App::new()
                .app_data(app_gate.clone())
                .wrap(middleware.clone())
                .configure(crate::app::routes)
        });
        Self {
            server,
            probe,
            gate,
            key,
            scratch: store.scratch_guard(),
            store,
            dir,
        }
    }

    /// A browser with no cookies, talking to this server, for the default cookie name `id`.
    pub fn browser(&self) -> Browser<'_> {
        Browser::new(&self.server, "id")
    }

    /// A browser for a server whose cookie name was changed to `name`.
    pub fn browser_for(&self, name: &str) -> Browser<'_> {
        Browser::new(&self.server, name)
    }

    /// Stops the server and hands back the pieces to start another over the same store, whose
    /// scratch space the next harness then empties.
    pub async fn stop(mut self) -> (TempDir, AnyStore, Key) {
        self.server.stop().await;
        self.scratch.disarm();
        (self.dir, self.store, self.key)
    }
}
