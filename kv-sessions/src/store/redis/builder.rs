//! The settings of a [`RedisStore`], and the start-up that checks them.

use std::sync::Arc;
use std::time::Duration;

use redis::Client;
use redis::aio::ConnectionManager;

use super::connections::{self, Connections, Target};
use super::layout::KeyLayout;
use super::listener::Listener;
use super::mode::{InvalidationMode, Routing};
#[cfg(feature = "redis-tls")]
use super::tls::{self, TlsSettings};
use super::{Failure, Inner, RedisStore};
use crate::error::{BoxError, StartError, StoreError};
use crate::store::InvalidationFeed;

/// The prefix of every key by default.
const DEFAULT_KEY_PREFIX: &str = "kv-sessions:";
/// How long an operation may take by default, connecting included.
const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(2);
/// How many connections a store opens by default.
const DEFAULT_POOL_SIZE: usize = 1;
/// How a store built on an app's connection manager names its server: the manager does not say.
const MANAGER_SERVER: &str = "the server of the app's ConnectionManager";

/// Settings for a [`RedisStore`], from [`RedisStore::builder`].
#[derive(Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct RedisStoreBuilder {
    nodes: Nodes,
    #[cfg(feature = "redis-tls")]
    tls: TlsSettings,
    key_prefix: String,
    pool_size: usize,
    operation_timeout: Duration,
    invalidation_feed: bool,
    invalidation_mode: InvalidationMode,
    max_staleness: Duration,
}

/// Where a store connects: the URL of one server, the URLs of a cluster's seed nodes, or the
/// app's own client or connection manager for one server.
#[derive(Clone)]
enum Nodes {
    Server(String),
    Cluster(Vec<String>),
    /// From [`RedisStore::builder_from_client`].
    Client(Box<Client>),
    /// From [`RedisStore::builder_from_connection_manager`].
    Manager(ConnectionManager),
}

impl Nodes {
    /// Where they point, never a user name or a password.
    fn describe(&self) -> String {
        match self {
            Self::Server(url) => connections::describe(url),
            Self::Cluster(urls) => connections::describe_cluster(urls),
            Self::Client(client) => connections::server(client.get_connection_info()),
            Self::Manager(_) => MANAGER_SERVER.to_owned(),
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

/// Shows where the store will point, never the URL's user name or password, and whether TLS
/// certificates are set, never their bytes.
impl std::fmt::Debug for RedisStoreBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut shown = f.debug_struct("RedisStoreBuilder");
        shown
            .field("server", &self.nodes.describe())
            .field("key_prefix", &self.key_prefix)
            .field("pool_size", &self.pool_size)
            .field("operation_timeout", &self.operation_timeout)
            .field("invalidation_feed", &self.invalidation_feed)
            .field("invalidation_mode", &self.invalidation_mode)
            .field("max_staleness", &self.max_staleness);
        #[cfg(feature = "redis-tls")]
        shown.field("tls", &self.tls);
        shown.finish()
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

    /// Default settings for a store whose connections `client` opens.
    pub(super) fn from_client(client: Client) -> Self {
        Self::for_nodes(Nodes::Client(Box::new(client)))
    }

    /// Default settings for a store that sends every operation through `manager`, with the
    /// invalidation feed off, since it cannot open the listener's connection.
    pub(super) fn from_connection_manager(manager: ConnectionManager) -> Self {
        Self::for_nodes(Nodes::Manager(manager)).invalidation_feed(false)
    }

    fn for_nodes(nodes: Nodes) -> Self {
        Self {
            nodes,
            #[cfg(feature = "redis-tls")]
            tls: TlsSettings::default(),
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
    /// [`StoreError::Timeout`]. Defaults to 2 seconds. [`build`](Self::build) has the same
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

    /// Trusts the CA certificates in `pem` (one or more `BEGIN CERTIFICATE` blocks), instead
    /// of the system's, to verify the server's certificate: for a server whose certificate a
    /// private CA signed. Needs a `rediss://` URL (on a Redis Cluster, `rediss://` seed nodes,
    /// and then every node's certificate is checked against them); [`build`](Self::build) fails
    /// otherwise, or where `pem` holds no certificate.
    ///
    /// Without it, the store trusts the system's roots, read by `rustls-native-certs`: the
    /// PEM file named by `SSL_CERT_FILE` and the directories (`:`-separated) in
    /// `SSL_CERT_DIR` where either is set, and only those; otherwise the system's own store
    /// (on Linux, OpenSSL's usual bundle and directory). Either way, the variables must name
    /// files that can be read, even when this method is used: the client reads them first.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use kv_sessions::RedisStore;
    ///
    /// let ca = std::fs::read("/etc/redis/ca.pem")?;
    /// let store = RedisStore::builder("rediss://:password@redis.internal:6380")
    ///     .tls_ca_certificates(ca)
    ///     .build()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "redis-tls")]
    pub fn tls_ca_certificates(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls.trust(pem.into());
        self
    }

    /// Presents `certificate_pem` (the client's certificate, then any intermediates) and the
    /// private key in `key_pem` to a server that asks clients for a certificate (mutual TLS,
    /// `tls-auth-clients yes`). Needs a `rediss://` URL, as
    /// [`tls_ca_certificates`](Self::tls_ca_certificates) does.
    #[cfg(feature = "redis-tls")]
    pub fn tls_client_certificate(
        mut self,
        certificate_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.tls.identify(certificate_pem.into(), key_pem.into());
        self
    }

    /// Connects, and subscribes to the invalidation channel where the feed is on (in targeted
    /// mode, a channel of this store's own, named for an instance id drawn at random here). Fails
    /// where Redis cannot be reached, or the subscription is not confirmed, within the operation
    /// timeout, with a [`StoreError::Open`] whose message names the server and the cause; over
    /// TLS, where the server's certificate does not verify, with one that says it was refused.
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
            let connections: Result<_, BoxError> =
                Connections::open(target, server.clone(), self.pool_size, timeout)
                    .await
                    .map_err(Into::into);
            #[cfg(feature = "redis-tls")]
            let connections = match connections {
                Err(cause) => Err(tls::explained(cause, listened.first()).await),
                opened => opened,
            };
            let connections = connections?;
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
        let (connections, listener) = opened.map_err(|cause| start_error(server, cause))?;
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

    /// How the store reaches its server or cluster; an error where a URL does not parse, the
    /// prefix cannot serve a cluster, or settings cannot work together.
    fn reaching(&self) -> Result<Reaching, StoreError> {
        match &self.nodes {
            Nodes::Server(url) => self.single(client_for(url)?),
            Nodes::Client(client) => self.single(
                connections::with_nodelay(client.get_connection_info().clone())
                    .map_err(StoreError::open)?,
            ),
            Nodes::Manager(manager) => self.shared(manager),
            Nodes::Cluster(urls) => self.seeded(urls),
        }
    }

    /// One server, through connections of the store's own that `client` opens, with the TLS
    /// settings applied.
    fn single(&self, client: Client) -> Result<Reaching, StoreError> {
        #[cfg(feature = "redis-tls")]
        let client = self.tls.apply(client).map_err(StoreError::open)?;
        Ok(Reaching {
            target: Target::Server(Box::new(client.clone())),
            server: connections::server(client.get_connection_info()),
            listened: vec![client],
            keys: KeyLayout::single(self.key_prefix.as_str()),
        })
    }

    /// One server, through the app's `manager`, where nothing asks for a connection of the
    /// store's own.
    fn shared(&self, manager: &ConnectionManager) -> Result<Reaching, StoreError> {
        if self.invalidation_feed {
            return Err(StoreError::open(Incompatible::FeedOnManager));
        }
        #[cfg(feature = "redis-tls")]
        if self.tls.is_set() {
            return Err(StoreError::open(Incompatible::TlsOnManager));
        }
        Ok(Reaching {
            target: Target::Shared(manager.clone()),
            listened: Vec::new(),
            server: MANAGER_SERVER.to_owned(),
            keys: KeyLayout::single(self.key_prefix.as_str()),
        })
    }

    /// The cluster whose seed nodes are at `urls`, every node reached with the TLS settings, as
    /// each seed node is for the listener.
    fn seeded(&self, urls: &[String]) -> Result<Reaching, StoreError> {
        if self.key_prefix.contains(['{', '}']) {
            return Err(StoreError::open(StartError::HashTagInPrefix {
                prefix: self.key_prefix.clone(),
            }));
        }
        let seeds = urls.iter().map(|url| self.seed(url));
        let seeds: Vec<Client> = seeds.collect::<Result<_, _>>()?;
        let cluster = connections::cluster_client(urls, self.operation_timeout);
        #[cfg(feature = "redis-tls")]
        let cluster = self
            .tls
            .apply_to_cluster(cluster, &seeds)
            .map_err(StoreError::open)?;
        Ok(Reaching {
            target: Target::Cluster(Box::new(cluster.build().map_err(bad_url)?)),
            listened: seeds,
            server: self.nodes.describe(),
            keys: KeyLayout::cluster(self.key_prefix.as_str()),
        })
    }

    /// A client for the seed node at `url`, with the TLS settings applied.
    fn seed(&self, url: &str) -> Result<Client, StoreError> {
        let client = client_for(url)?;
        #[cfg(feature = "redis-tls")]
        let client = self.tls.apply(client).map_err(StoreError::open)?;
        Ok(client)
    }
}

/// The [`StoreError::Open`] of a URL that does not parse.
fn bad_url(cause: redis::RedisError) -> StoreError {
    StoreError::open(StartError::BadUrl {
        engine: "Redis",
        example: "redis://host:6379/0, redis://user:password@host:6379/0 or rediss://host:6380",
        cause: cause.into(),
    })
}

/// A client for `url`, or the [`StoreError::Open`] that says what is wrong with it.
fn client_for(url: &str) -> Result<Client, StoreError> {
    #[cfg(not(feature = "redis-tls"))]
    if asks_for_tls(url) {
        return Err(StoreError::open(TlsNotBuilt));
    }
    connections::client(url).map_err(bad_url)
}

/// The [`StoreError::Open`] of a store that could not start on `server`: the certificate was
/// refused, where that is the cause, or the server could not be reached.
fn start_error(server: String, cause: BoxError) -> StoreError {
    #[cfg(feature = "redis-tls")]
    if let Some(refusal) = tls::refused_certificate(&cause) {
        return StoreError::open(StartError::CertificateRefused {
            engine: "Redis",
            server,
            reason: refusal.to_string(),
        });
    }
    StoreError::open(StartError::Unreachable {
        engine: "Redis",
        server,
        cause,
    })
}

/// Whether `url` asks for TLS: `rediss://`, or Valkey's `valkeys://`.
#[cfg(not(feature = "redis-tls"))]
fn asks_for_tls(url: &str) -> bool {
    let scheme = url.split_once("://").map_or("", |(scheme, _)| scheme);
    scheme.eq_ignore_ascii_case("rediss") || scheme.eq_ignore_ascii_case("valkeys")
}

/// A `rediss://` URL in a build without TLS.
#[cfg(not(feature = "redis-tls"))]
#[derive(Debug, thiserror::Error)]
#[error(
    "the Redis URL asks for TLS (rediss://), and this build of kv-sessions has none: enable its \
     `redis-tls` feature"
)]
struct TlsNotBuilt;

/// Settings that cannot work together.
#[derive(Debug, thiserror::Error)]
enum Incompatible {
    /// A store on an app's connection manager opens no connection of its own.
    #[error(
        "the Redis store's invalidation feed needs a connection of its own, which a store built \
         on a ConnectionManager cannot open: build it with RedisStore::builder_from_client, or \
         leave the feed off"
    )]
    FeedOnManager,
    #[cfg(feature = "redis-tls")]
    #[error(
        "TLS certificates were given to a Redis store built on a ConnectionManager, which \
         connects as its own client says: set them on that client (redis::Client::build_with_tls)"
    )]
    TlsOnManager,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(not(feature = "redis-tls"))]
    #[test]
    fn a_tls_url_in_a_build_without_tls_says_which_feature_to_enable() {
        let refused = client_for("rediss://:hunter2@cache.internal:6380").expect_err("no TLS");
        let message = refused.to_string();
        assert!(message.contains("`redis-tls` feature"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
        assert!(asks_for_tls("VALKEYS://cache.internal"));
        assert!(!asks_for_tls("redis://cache.internal"));
    }

    /// A manager that would connect to a closed port, on its first operation only.
    fn unconnected_manager() -> ConnectionManager {
        let client = Client::open("redis://127.0.0.1:1").expect("a valid URL");
        let config = redis::aio::ConnectionManagerConfig::new();
        ConnectionManager::new_lazy_with_config(client, config).expect("lazy")
    }

    #[actix_rt::test]
    async fn a_store_on_a_connection_manager_refuses_the_feed_at_build() {
        let refused = RedisStoreBuilder::from_connection_manager(unconnected_manager())
            .invalidation_feed(true)
            .build()
            .await
            .expect_err("the feed needs a client");
        assert!(
            refused.to_string().contains("builder_from_client"),
            "{refused}"
        );
    }

    #[cfg(feature = "redis-tls")]
    #[actix_rt::test]
    async fn a_store_on_a_connection_manager_refuses_tls_settings_it_cannot_apply() {
        let refused = RedisStoreBuilder::from_connection_manager(unconnected_manager())
            .tls_ca_certificates("-----BEGIN CERTIFICATE-----")
            .build()
            .await
            .expect_err("the manager's client decides TLS");
        assert!(
            refused.to_string().contains("set them on that client"),
            "{refused}"
        );
    }

    #[cfg(feature = "redis-tls")]
    #[actix_rt::test]
    async fn a_cluster_store_refuses_certificates_for_seed_nodes_without_tls() {
        let seeds = ["redis://:hunter2@127.0.0.1:2", "rediss://127.0.0.1:1"];
        let refused = RedisStoreBuilder::cluster(seeds.map(str::to_owned).to_vec())
            .tls_ca_certificates("-----BEGIN CERTIFICATE-----")
            .build()
            .await
            .expect_err("a seed node without TLS");
        let message = refused.to_string();
        assert!(message.contains("rediss://"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[cfg(not(feature = "redis-tls"))]
    #[actix_rt::test]
    async fn a_cluster_of_tls_seed_nodes_in_a_build_without_tls_says_which_feature_to_enable() {
        let refused = RedisStoreBuilder::cluster(vec!["rediss://127.0.0.1:1".to_owned()])
            .build()
            .await
            .expect_err("no TLS");
        assert!(
            refused.to_string().contains("`redis-tls` feature"),
            "{refused}"
        );
    }
}
