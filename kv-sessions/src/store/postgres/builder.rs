//! The settings of a [`PostgresStore`], and the start-up that checks them.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, Pool};
use tokio::runtime::Handle;
use tokio_postgres::config::Host;
use tokio_postgres::error::DbError;

use super::PostgresStore;
use super::connection_string::take_tls_keys;
use super::error::PostgresError;
use super::listener::{Listener, Subscription};
use super::name::TableName;
use super::statements::Statements;
use super::sweeper::Sweeper;
use super::table::Table;
use super::tls::{Connector, PostgresSslMode, TlsSettings};
use crate::error::{BoxError, StartError, StoreError};
use crate::store::InvalidationFeed;

/// The table a store uses unless told otherwise.
const DEFAULT_TABLE: &str = "kv_sessions";
/// How many connections a store keeps open at most, by default.
const DEFAULT_POOL_SIZE: usize = 16;
/// How long an operation may take by default, counting the wait for a connection.
const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the sweeper deletes expired sessions by default.
const DEFAULT_SWEEP_EVERY: Duration = Duration::from_secs(60);
/// What the store calls itself to the server (in `pg_stat_activity`), unless the URL names it.
const APPLICATION_NAME: &str = "kv-sessions";
/// What the listening connection adds to the application name, so that operators (and tests)
/// can tell it from the pooled ones in `pg_stat_activity`.
const LISTENER_SUFFIX: &str = " listener";
/// What errors name as the server, for a store on the app's own pool, whose settings the pool
/// does not tell.
const APP_POOL: &str = "the app's connection pool";

/// Settings for a [`PostgresStore`], from [`PostgresStore::builder`].
///
/// Its `Debug` output leaves out the URL, which may hold a password.
#[derive(Clone)]
#[must_use = "a builder does nothing until `build` is awaited"]
pub struct PostgresStoreBuilder {
    source: Source,
    tls: TlsSettings,
    listener_config: Option<tokio_postgres::Config>,
    table: String,
    pool_size: usize,
    operation_timeout: Duration,
    sweep_every: Option<Duration>,
    /// `None` until set: then on, except for a store on the app's pool with no listener config.
    invalidation_feed: Option<bool>,
    max_staleness: Duration,
    synchronous_commit: bool,
}

/// Where the store's pooled connections come from.
#[derive(Clone)]
enum Source {
    /// A connection string: the store opens a pool of its own.
    Url(String),
    /// The app's connection settings: the store opens a pool of its own with them.
    Config(Box<tokio_postgres::Config>),
    /// The app's pool, used as it is.
    Pool(Pool),
}

impl Source {
    fn kind(&self) -> &'static str {
        match self {
            Self::Url(_) => "a URL",
            Self::Config(_) => "the app's Config",
            Self::Pool(_) => "the app's Pool",
        }
    }
}

/// A server the store opens connections to itself: their settings, and the connector that
/// brings their TLS.
pub(super) struct Endpoint {
    pub(super) config: tokio_postgres::Config,
    pub(super) connector: Connector,
}

/// How the store reaches its database: the pool its operations use, the server as errors name
/// it, and where the invalidation feed can listen, if anywhere.
struct Reach {
    pool: Pool,
    server: String,
    listener: Option<Endpoint>,
}

impl fmt::Debug for PostgresStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStoreBuilder")
            .field("source", &self.source.kind())
            .field("tls", &self.tls)
            .field("table", &self.table)
            .field("pool_size", &self.pool_size)
            .field("operation_timeout", &self.operation_timeout)
            .field("sweep_every", &self.sweep_every)
            .field("invalidation_feed", &self.invalidation_feed)
            .field("max_staleness", &self.max_staleness)
            .field("synchronous_commit", &self.synchronous_commit)
            .finish_non_exhaustive()
    }
}

impl PostgresStoreBuilder {
    pub(super) fn new(url: String) -> Self {
        Self::from_source(Source::Url(url))
    }

    pub(super) fn from_config(config: tokio_postgres::Config) -> Self {
        Self::from_source(Source::Config(Box::new(config)))
    }

    pub(super) fn from_pool(pool: Pool) -> Self {
        Self::from_source(Source::Pool(pool))
    }

    fn from_source(source: Source) -> Self {
        Self {
            source,
            tls: TlsSettings::default(),
            listener_config: None,
            table: DEFAULT_TABLE.to_owned(),
            pool_size: DEFAULT_POOL_SIZE,
            operation_timeout: DEFAULT_OPERATION_TIMEOUT,
            sweep_every: Some(DEFAULT_SWEEP_EVERY),
            invalidation_feed: None,
            max_staleness: InvalidationFeed::DEFAULT_MAX_STALENESS,
            synchronous_commit: false,
        }
    }

    /// The table that holds the sessions: `kv_sessions` by default. It may name its schema, as
    /// in `auth.sessions`. Each part must be lowercase ASCII letters, digits and underscores,
    /// starting with a letter or an underscore; the table may have 52 bytes (its index's name
    /// adds 11, within PostgreSQL's 63) and the schema 63. Any other name makes
    /// [`build`](Self::build) fail. The name is always quoted in SQL, so no name can inject any.
    pub fn table(mut self, name: impl Into<String>) -> Self {
        self.table = name.into();
        self
    }

    /// The most connections the store keeps open at once; 16 by default, at least 1. An
    /// operation that finds every connection busy waits for one, within its
    /// [`operation_timeout`](Self::operation_timeout). See "Pool sizing" in [`PostgresStore`]'s
    /// docs. A store on the app's pool ([`PostgresStore::builder_from_pool`]) uses that pool's
    /// size instead.
    pub fn pool_size(mut self, connections: usize) -> Self {
        self.pool_size = connections.max(1);
        self
    }

    /// How long any one operation may take, from asking the pool for a connection (and opening
    /// one) to the last row of the answer: 2 seconds by default. Past it the operation fails
    /// with [`StoreError::Timeout`], and the request answers 500 rather than hang.
    ///
    /// A write that times out may still have been applied by the server.
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = timeout;
        self
    }

    /// How often the background sweeper deletes expired sessions; every minute by default.
    /// `None` starts no sweeper: expired rows then stay until [`PostgresStore::sweep_expired`]
    /// runs, or a delete or a create under the same id removes them. They are never loaded
    /// either way.
    pub fn sweep_every(mut self, interval: Option<Duration>) -> Self {
        self.sweep_every = interval;
        self
    }

    /// Whether the store announces every session it changes, so that a cache in front of it in
    /// each app instance stays coherent: on by default. See the invalidation feed in
    /// [`PostgresStore`]'s docs.
    ///
    /// Turn it off only where no instance caches sessions in front of the store: every write
    /// then sends no notification, and no connection listens. A [`CachedStore`] in front of a
    /// store without a feed is safe for one instance only.
    ///
    /// Every instance hears every write, so PostgreSQL delivers instances × writes per second
    /// notifications, each read from its queue by the listening backend. Measured with
    /// `kv-sessions-bench fleet` (`bench/RESULTS.md`, "Coherence across instances"), one costs
    /// PostgreSQL about 24 µs of CPU, and each instance about 3 µs and 71 bytes on its
    /// listening connection. Up to about 10,000 instances × writes per second (20 instances
    /// writing 500 times a second in all), delivery takes less than a quarter of a core; past
    /// that the notification queue's lock also slows the writes themselves, so weigh what the
    /// cache saves against it, and without a cache turn the feed off.
    ///
    /// [`CachedStore`]: crate::CachedStore
    pub fn invalidation_feed(mut self, enabled: bool) -> Self {
        self.invalidation_feed = Some(enabled);
        self
    }

    /// The settings of the invalidation feed's own connection: needed for the feed of a store
    /// on the app's pool ([`PostgresStore::builder_from_pool`]), since a pool does not tell its
    /// settings, and deadpool hands out connections whose notifications nobody reads. Elsewhere
    /// it replaces the settings the feed would take from the URL or `Config`.
    ///
    /// The connection uses TLS as the store's own connections do: `config`'s `ssl_mode`, unless
    /// [`ssl_mode`](Self::ssl_mode) says otherwise, and the builder's CA bundle, or
    /// `PGSSLROOTCERT`. It is named after `config`'s `application_name`, or `kv-sessions`, with
    /// ` listener` after it.
    pub fn listener_config(mut self, config: tokio_postgres::Config) -> Self {
        self.listener_config = Some(config);
        self
    }

    /// How hard the store's own connections insist on TLS, and what they check of the
    /// server's certificate, over what the URL's `sslmode` or the `Config` says. See "TLS" in
    /// [`PostgresStore`]'s docs. Without the `postgres-tls` feature, only
    /// [`Disable`](PostgresSslMode::Disable) and [`Prefer`](PostgresSslMode::Prefer) (which
    /// then never encrypts) build.
    pub fn ssl_mode(mut self, mode: PostgresSslMode) -> Self {
        self.tls.mode = Some(mode);
        self
    }

    /// Trusts the CA certificates in `pem` (one or more PEM blocks, such as a cloud provider's
    /// bundle) to vouch for the server, over the URL's `sslrootcert` and `PGSSLROOTCERT`. It
    /// makes `prefer` and `require` check the chain, as a CA bundle does in libpq; only
    /// `verify-full` checks the host name too.
    ///
    /// ```no_run
    /// # async fn start() -> Result<(), Box<dyn std::error::Error>> {
    /// use kv_sessions::PostgresStore;
    ///
    /// let bundle = std::fs::read("/run/secrets/db-ca.pem")?; // or include_bytes! at build time
    /// let store = PostgresStore::builder("postgres://app@db.example.com/app?sslmode=verify-full")
    ///     .tls_ca_certificates(bundle)
    ///     .build()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "postgres-tls")]
    pub fn tls_ca_certificates(mut self, pem: impl Into<Vec<u8>>) -> Self {
        let pem: Vec<u8> = pem.into();
        self.tls.ca = Some(super::tls::CaCertificates::Pem(pem.into()));
        self
    }

    /// Trusts the CA certificates in the PEM file at `path`, read by
    /// [`build`](Self::build), as [`tls_ca_certificates`](Self::tls_ca_certificates) trusts
    /// PEM text.
    #[cfg(feature = "postgres-tls")]
    pub fn tls_ca_certificates_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.tls.ca = Some(super::tls::CaCertificates::File(path.into()));
        self
    }

    /// How stale a cached copy may be served while the invalidation feed cannot vouch for it
    /// (its connection is down, or its heartbeats are late): 1 second by default
    /// ([`InvalidationFeed::DEFAULT_MAX_STALENESS`]). The listening connection sends a
    /// heartbeat every quarter of it.
    pub fn max_staleness(mut self, bound: Duration) -> Self {
        self.max_staleness = bound;
        self
    }

    /// Whether each session write waits until PostgreSQL has flushed it to disk before it is
    /// acknowledged: `false` by default, which sets `synchronous_commit = off` on the store's
    /// pooled connections, and on nothing else.
    ///
    /// The reason is the invalidation feed. A transaction that calls `pg_notify` takes, at
    /// commit, a lock that every notifying transaction of the server shares, and holds it until
    /// its commit has ended, WAL flush included; so with synchronous commits, writes that
    /// announce themselves run one at a time, each waiting for the disk, where writes that do
    /// not flush together. Measured on this project's bench, that made session updates 3 to 4
    /// times slower (see `bench/RESULTS.md`). With asynchronous commits the lock is held for
    /// microseconds, and the announcement stays in the very statement that writes.
    ///
    /// What it costs: PostgreSQL acknowledges a write once it is in its WAL buffers, and its WAL
    /// writer flushes them within `wal_writer_delay` (200 ms by default; three times that at
    /// worst). A crash of the database server, not of the app, can lose the session writes of
    /// that last moment, as Redis with `appendfsync everysec` loses its last second; the
    /// database is never left inconsistent, and every listener reconnects after such a crash,
    /// so no cache keeps trusting its copies. Set `true` where every acknowledged session write
    /// must survive a database crash, and accept the serialised notifying commits, or turn the
    /// feed off where no instance caches.
    ///
    /// On the app's own pool ([`PostgresStore::builder_from_pool`]) it changes nothing, since it
    /// would change the app's writes too: those connections commit as their settings say.
    pub fn synchronous_commit(mut self, synchronous: bool) -> Self {
        self.synchronous_commit = synchronous;
        self
    }

    /// Checks the settings, connects once to see that the database answers (within the
    /// operation timeout: an unreachable server fails here, it does not hang), checks the table,
    /// starts the sweeper, and, with the invalidation feed on, listens on the table's channel
    /// through a connection of its own (within the operation timeout, or it fails with
    /// [`StoreError::Open`]).
    ///
    /// It does not create the table: where the table does not exist, it fails with a
    /// [`StoreError::Open`] that says to run [`migrate_up`](Self::migrate_up), at start-up or from
    /// a deployment step. So does a table created by an earlier release without the columns of
    /// a session's binding: `migrate_up` adds them and keeps the sessions. A table created by an
    /// earlier build, which kept session ids in clear, is refused the same way: drop it, or run
    /// [`migrate_down`](Self::migrate_down) then `migrate_up`. Its sessions cannot be carried
    /// over, since this build stores only digests.
    ///
    /// Await it on the runtime that will outlive the store, as `#[actix_web::main]` does in
    /// `main`, before `HttpServer::new`: the sweeper and the listener are tasks on the runtime
    /// that awaits `build`, and the connections opened here are served by it too.
    pub async fn build(self) -> Result<PostgresStore, StoreError> {
        let (table, runtime, endpoint) = self.open(self.pool_size).await?;
        table.check_layout().await?;
        let listener = match (self.feed_on(), endpoint) {
            (false, _) => None,
            (true, Some(endpoint)) => {
                Some(Arc::new(self.listen(&runtime, &table, endpoint).await?))
            }
            (true, None) => return Err(StoreError::open(PostgresError::FeedNeedsListenerConfig)),
        };
        let sweeper = self.sweep_every.map(|every| {
            let every = every.max(Duration::from_millis(1));
            Arc::new(Sweeper::start(&runtime, table.clone(), every))
        });
        Ok(PostgresStore {
            table,
            sweeper,
            listener,
        })
    }

    /// Whether the store announces its writes and listens for others': as set, or else
    /// wherever it has the settings of a connection to listen on.
    fn feed_on(&self) -> bool {
        let can_listen = !matches!(self.source, Source::Pool(_)) || self.listener_config.is_some();
        self.invalidation_feed.unwrap_or(can_listen)
    }

    /// Listens on `table`'s channel through a connection of its own, to `endpoint`.
    async fn listen(
        &self,
        runtime: &Handle,
        table: &Table,
        endpoint: Endpoint,
    ) -> Result<Listener, StoreError> {
        let Endpoint {
            mut config,
            connector,
        } = endpoint;
        let name = config.get_application_name().unwrap_or(APPLICATION_NAME);
        config.application_name(format!("{name}{LISTENER_SUFFIX}"));
        let subscription = Subscription {
            config,
            connector,
            channel: table.name.channel(),
            feed: InvalidationFeed::new(self.max_staleness),
            timeout: self.operation_timeout,
        };
        Listener::start(runtime, subscription).await
    }

    /// Creates the table, its index on `expires_at`, the columns of a session's binding and
    /// their index, where they do not exist yet, through a connection of its own: run it before
    /// [`build`](Self::build).
    ///
    /// Running it again, or from several instances at once, is harmless: instances take turns
    /// under an advisory lock, and what exists already is left as it is, with nothing logged
    /// above debug level. On a table an earlier release created, it adds the binding's columns
    /// and their index and keeps every session, unbound; it alters a table in no other way, and
    /// a table in the layout of an earlier build, which kept ids in clear, is refused, as `build`
    /// refuses it.
    ///
    /// ```no_run
    /// # async fn start() -> Result<(), kv_sessions::StoreError> {
    /// use kv_sessions::PostgresStore;
    ///
    /// let settings = PostgresStore::builder("postgres://app@db.internal/app").table("sessions");
    /// settings.migrate_up().await?;
    /// let store = settings.build().await?;
    /// # Ok(()) }
    /// ```
    pub async fn migrate_up(&self) -> Result<(), StoreError> {
        let (table, ..) = self.open(1).await?;
        table.migrate_up().await
    }

    /// Drops the table, and every session with it, together with its indexes, through a
    /// connection of its own; [`PostgresStore::migrate_down`] does the same from a store.
    /// Dropping a table that does not exist is not an error; no other object is touched.
    pub async fn migrate_down(&self) -> Result<(), StoreError> {
        let (table, ..) = self.open(1).await?;
        table.batch(&table.statements.migrate_down).await
    }

    /// The table, reached through the app's pool or a pool of up to `pool_size` connections of
    /// the store's own, once the settings are checked and the server has answered; the runtime
    /// that serves the store's connections; and where the feed can listen, if anywhere.
    async fn open(
        &self,
        pool_size: usize,
    ) -> Result<(Table, Handle, Option<Endpoint>), StoreError> {
        let name = TableName::parse(&self.table).map_err(StoreError::open)?;
        let runtime =
            Handle::try_current().map_err(|_| StoreError::open(PostgresError::NoRuntime))?;
        let reach = self.reach(pool_size)?;
        let table = Table {
            pool: reach.pool,
            statements: Arc::new(Statements::for_table(&name, self.feed_on())),
            name: Arc::new(name),
            timeout: self.operation_timeout,
        };
        table.check_server().await.map_err(|error| match error {
            StoreError::Backend(cause) | StoreError::Timeout(cause) => {
                StoreError::open(not_started(reach.server, cause))
            }
            other => other,
        })?;
        Ok((table, runtime, reach.listener))
    }

    /// The pool the store's operations use, and where the feed can listen: the app's pool as
    /// it is, or a pool of the store's own to the endpoint its URL or `Config` names.
    fn reach(&self, pool_size: usize) -> Result<Reach, StoreError> {
        let listener = self
            .listener_config
            .clone()
            .map(|config| self.endpoint(config, TlsSettings::default()))
            .transpose()?;
        let own = match &self.source {
            Source::Pool(pool) => return Ok(on_app_pool(pool, listener)),
            Source::Config(config) => self.endpoint((**config).clone(), TlsSettings::default())?,
            Source::Url(url) => {
                let (config, from_url) = parse_url(url)?;
                self.endpoint(config, from_url)?
            }
        };
        let manager = Manager::new(self.pooled(&own.config), Connector::clone(&own.connector));
        let pool = Pool::builder(manager)
            .max_size(pool_size)
            .build()
            .map_err(StoreError::backend)?;
        Ok(Reach {
            pool,
            server: describe(&own.config),
            listener: listener.or(Some(own)),
        })
    }

    /// `config` named after the store unless it names itself, with the connector that brings
    /// TLS as the builder, else `from_string` (the URL's TLS keys), else `PGSSLROOTCERT`, else
    /// `config` asks.
    fn endpoint(
        &self,
        mut config: tokio_postgres::Config,
        from_string: TlsSettings,
    ) -> Result<Endpoint, StoreError> {
        if config.get_application_name().is_none() {
            config.application_name(APPLICATION_NAME);
        }
        let connector = self
            .tls
            .clone()
            .or(from_string)
            .apply(&mut config)
            .map_err(StoreError::open)?;
        Ok(Endpoint { config, connector })
    }

    /// The settings of the pooled connections: `config`, with asynchronous commits unless
    /// [`synchronous_commit`](Self::synchronous_commit) asks otherwise.
    fn pooled(&self, config: &tokio_postgres::Config) -> tokio_postgres::Config {
        let mut pooled = config.clone();
        if !self.synchronous_commit {
            let options = config.get_options().unwrap_or_default();
            pooled.options(format!("{options} -c synchronous_commit=off").trim_start());
        }
        pooled
    }
}

/// The app's `pool`, with the feed's `listener` where the app gave its settings: errors name
/// its server where they are known.
fn on_app_pool(pool: &Pool, listener: Option<Endpoint>) -> Reach {
    let server = listener.as_ref().map_or_else(
        || APP_POOL.to_owned(),
        |endpoint| describe(&endpoint.config),
    );
    Reach {
        pool: pool.clone(),
        server,
        listener,
    }
}

/// `url` parsed by tokio-postgres once the TLS keys it does not know are taken out, and what
/// those keys ask for.
fn parse_url(url: &str) -> Result<(tokio_postgres::Config, TlsSettings), StoreError> {
    let bad_url = |cause: BoxError| {
        StoreError::open(StartError::BadUrl {
            engine: "PostgreSQL",
            example: "postgres://user:password@host:5432/database?sslmode=verify-full",
            cause,
        })
    };
    let (rest, keys) = take_tls_keys(url);
    let tls = TlsSettings::from_keys(keys).map_err(|cause| bad_url(Box::new(cause)))?;
    let config = rest.parse().map_err(|cause| bad_url(Box::new(cause)))?;
    Ok((config, tls))
}

/// Why the first operation on `server` failed, for whoever runs the app: that its certificate
/// was refused; in the server's own words where it answered and refused (no such database, a
/// wrong password, no TLS); else that it could not be reached.
fn not_started(server: String, cause: BoxError) -> BoxError {
    #[cfg(feature = "postgres-tls")]
    if let Some(refused) = super::verifiers::certificate_refusal(&*cause) {
        let cause = refused.to_string();
        return Box::new(PostgresError::CertificateRefused { server, cause });
    }
    let engine = "PostgreSQL";
    let error = match refusal(&*cause) {
        Some(reason) => StartError::Refused {
            engine,
            server,
            reason,
        },
        None => StartError::Unreachable {
            engine,
            server,
            cause,
        },
    };
    Box::new(error)
}

/// The server's error among `error` and its causes, as its message and SQLSTATE code. The pool
/// and the driver wrap it twice ("db error"), so it is looked for down the chain.
fn refusal(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let server_error = std::iter::successors(Some(error), |&error| error.source())
        .find_map(|error| error.downcast_ref::<DbError>())?;
    Some(format!(
        "{} (SQLSTATE {})",
        server_error.message(),
        server_error.code().code()
    ))
}

/// The server and database `config` points to, as `host:port/database`: never the user name or
/// the password.
fn describe(config: &tokio_postgres::Config) -> String {
    let hosts = config.get_hosts().iter().map(|host| match host {
        Host::Tcp(name) => name.clone(),
        #[cfg(unix)]
        Host::Unix(path) => path.display().to_string(),
    });
    let ports = config
        .get_ports()
        .iter()
        .copied()
        .chain(std::iter::repeat(5432));
    let servers: Vec<String> = hosts
        .zip(ports)
        .map(|(host, port)| format!("{host}:{port}"))
        .collect();
    let servers = if servers.is_empty() {
        "localhost:5432".to_owned()
    } else {
        servers.join(",")
    };
    format!(
        "{servers}/{}",
        config.get_dbname().unwrap_or("(the user's database)")
    )
}

#[cfg(test)]
mod tests {
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use super::*;

    #[test]
    fn building_outside_a_tokio_runtime_is_an_error_not_a_panic() {
        let mut build = pin!(PostgresStore::builder("postgres://localhost/test").build());
        let polled = build.as_mut().poll(&mut Context::from_waker(Waker::noop()));
        let Poll::Ready(Err(StoreError::Open(cause))) = polled else {
            panic!("expected an error at once, got {polled:?}");
        };
        assert!(cause.to_string().contains("tokio runtime"), "{cause}");
    }

    #[test]
    fn the_builder_s_debug_output_leaves_out_the_url() {
        let builder = PostgresStore::builder("postgres://user:hunter2@db/app");
        let shown = format!("{builder:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("kv_sessions"), "{shown}");
    }
}
