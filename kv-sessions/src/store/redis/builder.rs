//! The settings of a [`RedisStore`], and the start-up that checks them.

use std::sync::Arc;
use std::time::Duration;

use redis::Client;

use super::connections::{self, Connections, Target};
use super::layout::KeyLayout;
use super::listener::Listener;
use super::mode::{InvalidationMode, Routing};
use super::{Failure, Inner, RedisStore};
use crate::error::{BoxError, StartError, StoreError};
use crate::store::InvalidationFeed;

/// The prefix of every key by default.
const DEFAULT_KEY_PREFIX: &str = "kv-sessions:";
/// How long an operation may take by default, connecting included.
const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(2);
/// How many connections a store opens by default.
const DEFAULT_POOL_SIZE: usize = 1;

/// Settings for a [`RedisStore`], from [`RedisStore::builder`].
#[derive(Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct RedisStoreBuilder {
    nodes: Nodes,
    key_prefix: String,
    pool_size: usize,
    operation_timeout: Duration,
    invalidation_feed: bool,
    invalidation_mode: InvalidationMode,
    max_staleness: Duration,
}

/// Where a store connects: the URL of one server, or the URLs of a cluster's seed nodes.
#[derive(Debug, Clone)]
enum Nodes {
    Server(String),
    Cluster(Vec<String>),
}

impl Nodes {
    /// Where they point, never a user name or a password.
    fn describe(&self) -> String {
        match self {
            Self::Server(url) => connections::describe(url),
            Self::Cluster(urls) => connections::describe_cluster(urls),
        }
    }
}

/// How a store reaches Redis, as [`RedisStoreBuilder::build`] works it out from the settings.
struct Reaching {
    /// Where its connections go.
    target: Target,
    /// The servers its listener may subscribe through: the server, or each seed node in turn.
    listened: Vec<Client>,
    /// Where it points, as error messages name it: never a user name or a password.
    server: String,
    keys: KeyLayout,
}

/// Shows where the store will point, never the URL's user name or password.
impl std::fmt::Debug for RedisStoreBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStoreBuilder")
            .field("server", &self.nodes.describe())
            .field("key_prefix", &self.key_prefix)
            .field("pool_size", &self.pool_size)
            .field("operation_timeout", &self.operation_timeout)
            .field("invalidation_feed", &self.invalidation_feed)
            .field("invalidation_mode", &self.invalidation_mode)
            .field("max_staleness", &self.max_staleness)
            .finish()
    }
}

impl RedisStoreBuilder {
    /// Default settings for the Redis server at `url`.
    pub(super) fn new(url: String) -> Self {
        Self::for_nodes(Nodes::Server(url))
    }

    /// Default settings for the Redis Cluster whose seed nodes are at `urls`.
    pub(super) fn cluster(urls: Vec<String>) -> Self {
        Self::for_nodes(Nodes::Cluster(urls))
    }

    fn for_nodes(nodes: Nodes) -> Self {
        Self {
            nodes,
            key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
            pool_size: DEFAULT_POOL_SIZE,
            operation_timeout: DEFAULT_OPERATION_TIMEOUT,
            invalidation_feed: true,
            invalidation_mode: InvalidationMode::default(),
            max_staleness: InvalidationFeed::DEFAULT_MAX_STALENESS,
        }
    }

    /// What every key of the store starts with; the digest of the session id follows. Defaults
    /// to `kv-sessions:`. Give apps that share one Redis database prefixes of their own. On
    /// Redis Cluster it may not hold `{` or `}`, which Redis would read as a hash tag:
    /// [`build`](Self::build) refuses such a prefix.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// How many connections each thread that uses the store opens, and takes in turn (at least
    /// one). Defaults to one.
    ///
    /// Every actix-web worker thread talks to Redis over connections of its own, opened on its
    /// first request, so that no operation is handed between threads. Each connection is
    /// multiplexed: every request in flight on the worker shares it, pipelined, and Redis runs one
    /// command at a time whatever the number of connections. One connection per worker therefore
    /// serves a busy app. More can help where large sessions make small replies queue behind
    /// large ones on one socket.
    pub fn pool_size(mut self, connections: usize) -> Self {
        self.pool_size = connections.max(1);
        self
    }

    /// How long one operation may take, connecting included, before it fails with
    /// [`StoreError::Backend`]. Defaults to 2 seconds. [`build`](Self::build) has the same
    /// time to connect.
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = timeout;
        self
    }

    /// Whether the store publishes a notice of every write, and listens for the notices of
    /// every instance (on the channel `<key prefix>invalidations`, or in targeted mode on a
    /// channel of its own), so that a [`CachedStore`](crate::CachedStore) in front stays
    /// coherent (see [`RedisStore`](super::RedisStore#caching-and-the-invalidation-feed)).
    /// Defaults to `true`.
    ///
    /// Turn it off on every instance of an app or on none: an instance without it announces
    /// nothing, so the caches of the others would not hear its writes.
    ///
    /// In broadcast mode, the default, every instance hears every write, so Redis delivers
    /// instances × writes per second notices. Measured with `kv-sessions-bench fleet`
    /// (`bench/RESULTS.md`, "Coherence across instances"), one costs Redis about 3 µs of CPU,
    /// and each instance about 4 µs and 105 bytes on its subscriber connection. Up to about
    /// 90,000 instances × writes per second (100 instances writing 900 times a second in all),
    /// delivery takes less than a quarter of Redis' one core; past that, consider
    /// [`InvalidationMode::Targeted`] ([`invalidation_mode`](Self::invalidation_mode)), which
    /// tells only the instances that loaded the session, or, without a cache, turn the feed off.
    pub fn invalidation_feed(mut self, on: bool) -> Self {
        self.invalidation_feed = on;
        self
    }

    /// Which instances hear the notice of a write: every one, on the shared channel `<key
    /// prefix>invalidations` ([`InvalidationMode::Broadcast`], the default), or only those that
    /// loaded the session since its last write, each on a channel of its own
    /// ([`InvalidationMode::Targeted`]). Give every instance of an app the same mode. See
    /// [`RedisStore`](super::RedisStore#caching-and-the-invalidation-feed) for the costs.
    ///
    /// Measured with `kv-sessions-bench fleet` (`bench/RESULTS.md`), a targeted write costs
    /// Redis about 52 µs more than a broadcast one, its load and its notices included, where
    /// broadcast costs about 2.4 to 2.7 µs per instance per write: targeted costs Redis less
    /// from about 20 instances, at any write rate, and keeps delivery under a quarter of its
    /// core up to about 6,000 writes per second whatever the number of instances.
    pub fn invalidation_mode(mut self, mode: InvalidationMode) -> Self {
        self.invalidation_mode = mode;
        self
    }

    /// How stale a cached copy may be served while the invalidation feed cannot vouch for it,
    /// because its connection is down or its heartbeats are late (see
    /// [`InvalidationFeed`]). Defaults to [`InvalidationFeed::DEFAULT_MAX_STALENESS`], one
    /// second. The listener sends a heartbeat every quarter of it.
    pub fn max_staleness(mut self, bound: Duration) -> Self {
        self.max_staleness = bound;
        self
    }

    /// Connects, and subscribes to the invalidation channel where the feed is on (in targeted
    /// mode, a channel of this store's own, named for an instance id drawn at random here). Fails where
    /// Redis cannot be reached, or the subscription is not confirmed, within the operation
    /// timeout, with a [`StoreError::Open`] whose message names the server and the cause.
    ///
    /// The listener runs as a task on the runtime that awaits this, and stops when the last
    /// clone of the store is dropped.
    pub async fn build(self) -> Result<RedisStore, StoreError> {
        let Reaching {
            target,
            listened,
            server,
            keys,
        } = self.reaching()?;
        let timeout = self.operation_timeout;
        let feed = self
            .invalidation_feed
            .then(|| InvalidationFeed::new(self.max_staleness));
        let routing = match &feed {
            Some(_) => Routing::new(self.invalidation_mode, &self.key_prefix),
            None => Routing::off(),
        };
        let opening = async {
            let connections =
                Connections::open(target, server.clone(), self.pool_size, timeout).await?;
            let listener = match &feed {
                Some(feed) => Some(
                    Listener::start(listened, routing.listens_on(), feed.clone(), timeout).await?,
                ),
                None => None,
            };
            Ok::<_, BoxError>((connections, listener))
        };
        let opened: Result<_, BoxError> = match tokio::time::timeout(timeout, opening).await {
            Ok(opened) => opened,
            Err(_) => Err(Failure::TimedOut(timeout).into()),
        };
        let (connections, listener) = opened.map_err(|cause| {
            StoreError::open(StartError::Unreachable {
                engine: "Redis",
                server,
                cause,
            })
        })?;
        Ok(RedisStore {
            inner: Arc::new(Inner {
                connections,
                keys,
                timeout,
                routing,
                feed,
                _listener: listener,
            }),
        })
    }

    /// How the store reaches its server or cluster; an error where a URL does not parse or the
    /// prefix cannot serve a cluster.
    fn reaching(&self) -> Result<Reaching, StoreError> {
        let bad_url = |cause: redis::RedisError| {
            StoreError::open(StartError::BadUrl {
                engine: "Redis",
                example: "redis://host:6379/0 or redis://user:password@host:6379/0",
                cause: cause.into(),
            })
        };
        match &self.nodes {
            Nodes::Server(url) => {
                let client = connections::client(url).map_err(bad_url)?;
                let server = connections::server(client.get_connection_info());
                let keys = KeyLayout::single(self.key_prefix.as_str());
                Ok(Reaching {
                    target: Target::Server(client.clone()),
                    listened: vec![client],
                    server,
                    keys,
                })
            }
            Nodes::Cluster(urls) => {
                if self.key_prefix.contains(['{', '}']) {
                    return Err(StoreError::open(StartError::HashTagInPrefix {
                        prefix: self.key_prefix.clone(),
                    }));
                }
                let cluster =
                    connections::cluster_client(urls, self.operation_timeout).map_err(bad_url)?;
                let seeds = urls.iter().map(|url| connections::client(url));
                let seeds = seeds.collect::<Result<_, _>>().map_err(bad_url)?;
                let keys = KeyLayout::cluster(self.key_prefix.as_str());
                Ok(Reaching {
                    target: Target::Cluster(Box::new(cluster)),
                    listened: seeds,
                    server: self.nodes.describe(),
                    keys,
                })
            }
        }
    }
}
