//! The stores the acceptance suite runs against, and a running test server over one of them.

use std::path::Path;
use std::sync::Arc;

use actix_test::TestServer;
use actix_web::cookie::Key;
use actix_web::{App, web};
use kv_sessions::{
    CachedStore, Changes, MokaStore, Record, Saved, SessionId, SessionMiddleware,
    SessionMiddlewareBuilder, SessionStore, SledStore, StoreError,
};
use tempfile::TempDir;

use crate::browser::Browser;
use crate::fault::{Faults, FaultyStore};
use crate::gate::Gate;
use crate::probe::{Probe, ProbeStore};

/// A store configuration under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// [`SledStore`] alone.
    Sled,
    /// [`MokaStore`] alone, as an in-memory store.
    Moka,
    /// A [`MokaStore`] cache over a [`SledStore`]: the embedded default.
    MokaOverSled,
}

/// One of the stores of [`Backend`], behind one type. A [`FaultyStore`] sits at the bottom of
/// each, under the cache, so that tests can make the store itself misbehave.
#[derive(Debug, Clone)]
pub enum AnyStore {
    /// See [`Backend::Sled`].
    Sled(FaultyStore<SledStore>),
    /// See [`Backend::Moka`].
    Moka(FaultyStore<MokaStore>),
    /// See [`Backend::MokaOverSled`].
    MokaOverSled(CachedStore<MokaStore, FaultyStore<SledStore>>),
}

/// Runs `$call` with `$store` bound to the store of whichever variant `$self` is.
macro_rules! each_store {
    ($self:ident, $store:ident => $call:expr) => {
        match $self {
            Self::Sled($store) => $call,
            Self::Moka($store) => $call,
            Self::MokaOverSled($store) => $call,
        }
    };
}

impl AnyStore {
    /// The sled database underneath, if there is one.
    pub fn sled(&self) -> Option<&SledStore> {
        match self {
            Self::Sled(sled) => Some(sled.inner()),
            Self::MokaOverSled(cached) => Some(cached.store().inner()),
            Self::Moka(_) => None,
        }
    }

    /// The switches of the store under the cache.
    pub fn faults(&self) -> &Arc<Faults> {
        match self {
            Self::Sled(store) => store.faults(),
            Self::Moka(store) => store.faults(),
            Self::MokaOverSled(cached) => cached.store().faults(),
        }
    }

    /// The session `id` as the bottom store holds it, bypassing any cache: what a restart would
    /// find.
    pub async fn persisted(&self, id: &SessionId) -> Option<Record> {
        let persisted = match self {
            Self::Sled(store) => store.inner().load(id).await,
            Self::Moka(store) => store.inner().load(id).await,
            Self::MokaOverSled(cached) => cached.store().inner().load(id).await,
        };
        persisted.expect("load from the bottom store")
    }
}

impl SessionStore for AnyStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        each_store!(self, store => store.load(id).await)
    }

    async fn create(&self, id: &SessionId, changes: &Changes) -> Result<Saved, StoreError> {
        each_store!(self, store => store.create(id, changes).await)
    }

    async fn update(&self, id: &SessionId, changes: &Changes) -> Result<Saved, StoreError> {
        each_store!(self, store => store.update(id, changes).await)
    }

    async fn renew(
        &self,
        old: &SessionId,
        new: &SessionId,
        changes: &Changes,
    ) -> Result<Saved, StoreError> {
        each_store!(self, store => store.renew(old, new, changes).await)
    }

    async fn delete(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        each_store!(self, store => store.delete(id).await)
    }
}

impl Backend {
    /// Opens this backend's store; sled lives in `dir`.
    pub fn open(self, dir: &Path) -> AnyStore {
        let sled =
            || FaultyStore::new(SledStore::open(dir.join("sessions.sled")).expect("open sled"));
        match self {
            Self::Sled => AnyStore::Sled(sled()),
            Self::Moka => AnyStore::Moka(FaultyStore::new(MokaStore::new(10_000))),
            Self::MokaOverSled => {
                AnyStore::MokaOverSled(CachedStore::new(MokaStore::new(10_000), sled()))
            }
        }
    }

    /// Starts the test app on this backend with default settings.
    pub fn start(self) -> Harness {
        self.start_with(|builder| builder)
    }

    /// Starts the test app on this backend, with the middleware configured by `configure`.
    pub fn start_with(
        self,
        configure: impl FnOnce(
            SessionMiddlewareBuilder<ProbeStore<AnyStore>>,
        ) -> SessionMiddlewareBuilder<ProbeStore<AnyStore>>,
    ) -> Harness {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = self.open(dir.path());
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

    /// Stops the server and hands back the pieces to start another over the same store.
    pub async fn stop(self) -> (TempDir, AnyStore, Key) {
        self.server.stop().await;
        (self.dir, self.store, self.key)
    }
}
