//! Several instances of the test app over one shared store, as a load balancer would put them in
//! front of one Redis or PostgreSQL.
//!
//! Each instance is what a separate process would run: a store of its own, opened on its own
//! against the test's key prefix or table, and a middleware of its own, built with
//! `.cache(MokaStore::new(..))` and nothing else where the backend is a cached one. Only the
//! cookie key is common to all, as it must be. A [`ProbeStore`] under each cache counts the calls
//! that reach the store.

use std::ops::Index;
use std::sync::Arc;
use std::time::Duration;

use actix_test::TestServer;
use actix_web::App;
use actix_web::cookie::Key;
use actix_web::web;
use kv_sessions::{
    BoxedStore, InvalidationFeed, InvalidationMode, MokaStore, PostgresStore, RedisStore,
    SessionMiddleware, SessionStore, StoreError,
};

use crate::backend::Backend;
use crate::browser::Browser;
use crate::engine;
use crate::gate::Gate;
use crate::listener::{Listeners, SharedServer, open_listening, until_listening};
use crate::probe::{Probe, ProbeStore};
use crate::shared::{PostgresScratch, RedisScratch};

/// How many sessions each instance's cache holds.
const CACHE_CAPACITY: u64 = 10_000;

/// How one instance's store is opened, beyond the defaults.
#[derive(Debug, Clone, Copy, Default)]
pub struct InstanceSettings {
    max_staleness: Option<Duration>,
    without_feed: bool,
}

impl InstanceSettings {
    /// The store's defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store whose feed vouches for cached copies within `bound` only, once it cannot prove
    /// they are current.
    pub fn max_staleness(mut self, bound: Duration) -> Self {
        self.max_staleness = Some(bound);
        self
    }

    /// A store with its invalidation feed turned off: the instance's cache then hears of no
    /// other instance's change, and only the version in the client's cookie keeps it honest.
    pub fn without_feed(mut self) -> Self {
        self.without_feed = true;
        self
    }
}

/// One instance of the app: its own server, store, cache and middleware.
pub struct Instance {
    /// The instance's server.
    pub server: TestServer,
    /// Counts the calls that reach the store, beneath the instance's cache.
    pub probe: Arc<Probe>,
    feed: Option<InvalidationFeed>,
    listeners: Listeners,
}

impl Instance {
    /// The invalidation feed of this instance's store, where it has one.
    pub fn feed(&self) -> Option<&InvalidationFeed> {
        self.feed.as_ref()
    }

    /// The connections this instance's store listened on when it opened.
    pub fn listeners(&self) -> &Listeners {
        &self.listeners
    }
}

/// Instances of the test app over one store space on a shared server, which is emptied when the
/// cluster is dropped.
pub struct Cluster {
    instances: Vec<Instance>,
    /// Declared last, so that it is emptied after the servers stopped.
    _space: Space,
}

impl Cluster {
    /// `count` instances with the store's defaults.
    pub async fn of(backend: Backend, count: usize) -> Self {
        Self::start(backend, vec![InstanceSettings::new(); count]).await
    }

    /// One instance per entry of `settings`, in that order, each once its store listens.
    pub async fn start(backend: Backend, settings: Vec<InstanceSettings>) -> Self {
        let space = Space::make(backend).await;
        let key = Key::generate();
        let mut instances = Vec::with_capacity(settings.len());
        for settings in settings {
            instances.push(space.start_instance(backend, &key, settings).await);
        }
        Self {
            instances,
            _space: space,
        }
    }

    /// A browser with no cookie, talking to instance `at`; [`Browser::hop_to`] moves it.
    pub fn browser(&self, at: usize) -> Browser<'_> {
        Browser::new(&self[at].server, COOKIE_NAME)
    }
}

impl Index<usize> for Cluster {
    type Output = Instance;

    fn index(&self, at: usize) -> &Instance {
        &self.instances[at]
    }
}

/// The name of the session cookie: the middleware's default, since the instances are built with
/// nothing but a cache.
pub const COOKIE_NAME: &str = "session";

/// The test's key prefix or table on the shared server.
enum Space {
    Redis {
        url: String,
        scratch: RedisScratch,
        mode: InvalidationMode,
    },
    Postgres {
        url: String,
        scratch: PostgresScratch,
    },
}

impl Space {
    async fn make(backend: Backend) -> Self {
        let engine = backend.engine();
        let url = backend.server_url();
        let redis_mode = if std::ptr::eq(engine, &engine::REDIS) {
            Some(InvalidationMode::Broadcast)
        } else if std::ptr::eq(engine, &engine::REDIS_TARGETED) {
            Some(InvalidationMode::Targeted)
        } else {
            None
        };
        if let Some(mode) = redis_mode {
            let scratch = RedisScratch::new(&url);
            Self::Redis { url, scratch, mode }
        } else if std::ptr::eq(engine, &engine::POSTGRES) {
            let (creator, scratch) = PostgresScratch::new(&url).await;
            // Its listener, if any, must be up before the instances open and look for theirs.
            if let Some(feed) = creator.invalidations() {
                until_listening(&feed).await;
            }
            Self::Postgres { url, scratch }
        } else {
            panic!("{backend:?} keeps its sessions in the process: instances cannot share it")
        }
    }

    fn server(&self) -> SharedServer {
        match self {
            Self::Redis { url, .. } => SharedServer::Redis(url.clone()),
            Self::Postgres { url, .. } => SharedServer::Postgres(url.clone()),
        }
    }

    fn name(&self) -> &str {
        match self {
            Self::Redis { scratch, .. } => scratch.prefix(),
            Self::Postgres { scratch, .. } => scratch.table(),
        }
    }

    async fn open(&self, settings: InstanceSettings) -> Result<BoxedStore, StoreError> {
        match self {
            Self::Redis { url, scratch, mode } => {
                let mut builder = RedisStore::builder(url.as_str())
                    .key_prefix(scratch.prefix())
                    .invalidation_mode(*mode)
                    .invalidation_feed(!settings.without_feed);
                if let Some(bound) = settings.max_staleness {
                    builder = builder.max_staleness(bound);
                }
                Ok(BoxedStore::new(builder.build().await?))
            }
            Self::Postgres { url, scratch } => {
                let mut builder = PostgresStore::builder(named_after(url, scratch.table()))
                    .table(scratch.table())
                    .invalidation_feed(!settings.without_feed);
                if let Some(bound) = settings.max_staleness {
                    builder = builder.max_staleness(bound);
                }
                Ok(BoxedStore::new(builder.build().await?))
            }
        }
    }

    async fn start_instance(
        &self,
        backend: Backend,
        key: &Key,
        settings: InstanceSettings,
    ) -> Instance {
        let (store, listeners) =
            open_listening(&self.server(), self.name(), self.open(settings)).await;
        let feed = store.invalidations();
        let probe = Arc::new(Probe::default());
        let builder =
            SessionMiddleware::builder(ProbeStore::new(store, Arc::clone(&probe)), key.clone());
        let middleware = if backend.is_cached() {
            builder.cache(MokaStore::new(CACHE_CAPACITY)).build()
        } else {
            builder.build()
        };
        let gate = web::Data::new(Gate::default());
        let config = actix_test::config().workers(2).disable_redirects();
        let server = actix_test::start_with(config, move || {
            App::new()
                .app_data(gate.clone())
                .wrap(middleware.clone())
                .configure(crate::app::routes)
        });
        Instance {
            server,
            probe,
            feed,
            listeners,
        }
    }
}

/// `url` with `name` as the connections' `application_name`, which the store's listening
/// connection carries too: other processes' listeners on the shared server are then told apart
/// from this test's by name, not only by when they appeared.
fn named_after(url: &str, name: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}application_name={name}")
}
