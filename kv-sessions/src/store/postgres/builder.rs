//! The settings of a [`PostgresStore`], and the start-up that checks them.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, Pool};
use tokio::runtime::Handle;
use tokio_postgres::NoTls;
use tokio_postgres::config::Host;
use tokio_postgres::error::DbError;

use super::PostgresStore;
use super::error::PostgresError;
use super::listener::{Listener, Subscription};
use super::name::TableName;
use super::statements::Statements;
use super::sweeper::Sweeper;
use super::table::Table;
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

/// Settings for a [`PostgresStore`], from [`PostgresStore::builder`].
///
/// Its `Debug` output leaves out the URL, which may hold a password.
#[derive(Clone)]
#[must_use = "a builder does nothing until `build` is awaited"]
pub struct PostgresStoreBuilder {
    url: String,
    table: String,
    pool_size: usize,
    operation_timeout: Duration,
    sweep_every: Option<Duration>,
    invalidation_feed: bool,
    max_staleness: Duration,
    synchronous_commit: bool,
}

impl fmt::Debug for PostgresStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStoreBuilder")
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
        Self {
            url,
            table: DEFAULT_TABLE.to_owned(),
            pool_size: DEFAULT_POOL_SIZE,
            operation_timeout: DEFAULT_OPERATION_TIMEOUT,
            sweep_every: Some(DEFAULT_SWEEP_EVERY),
            invalidation_feed: true,
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
    /// [`operation_timeout`](Self::operation_timeout).
    pub fn pool_size(mut self, connections: usize) -> Self {
        self.pool_size = connections.max(1);
        self
    }

    /// How long any one operation may take, from asking the pool for a connection (and opening
    /// one) to the last row of the answer: 2 seconds by default. Past it the operation fails
    /// with [`StoreError::Backend`], saying it timed out, and the request answers 500 rather than
    /// hang.
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
        self.invalidation_feed = enabled;
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
        let (table, runtime, config) = self.open(self.pool_size).await?;
        table.check_layout().await?;
        let listener = if self.invalidation_feed {
            Some(Arc::new(self.listen(&runtime, &table, config).await?))
        } else {
            None
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

    /// Listens on `table`'s channel through a connection of its own, made from `config`.
    async fn listen(
        &self,
        runtime: &Handle,
        table: &Table,
        mut config: tokio_postgres::Config,
    ) -> Result<Listener, StoreError> {
        let name = config.get_application_name().unwrap_or(APPLICATION_NAME);
        config.application_name(format!("{name}{LISTENER_SUFFIX}"));
        let subscription = Subscription {
            config,
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

    /// The table, reached through a pool of up to `pool_size` connections, once the settings
    /// are checked and the server has answered; the runtime that serves the connections; and
    /// the settings they connect with.
    async fn open(
        &self,
        pool_size: usize,
    ) -> Result<(Table, Handle, tokio_postgres::Config), StoreError> {
        let name = TableName::parse(&self.table).map_err(StoreError::open)?;
        let runtime =
            Handle::try_current().map_err(|_| StoreError::open(PostgresError::NoRuntime))?;
        let mut config: tokio_postgres::Config = self.url.parse().map_err(|cause| {
            StoreError::open(StartError::BadUrl {
                engine: "PostgreSQL",
                example: "postgres://user:password@host:5432/database",
                cause: Box::new(cause),
            })
        })?;
        if config.get_application_name().is_none() {
            config.application_name(APPLICATION_NAME);
        }
        let server = describe(&config);
        let pool = Pool::builder(Manager::new(self.pooled(&config), NoTls))
            .max_size(pool_size)
            .build()
            .map_err(StoreError::backend)?;
        let table = Table {
            pool,
            statements: Arc::new(Statements::for_table(&name, self.invalidation_feed)),
            name: Arc::new(name),
            timeout: self.operation_timeout,
        };
        table.check_server().await.map_err(|error| match error {
            StoreError::Backend(cause) => StoreError::open(not_started(server, cause)),
            other => other,
        })?;
        Ok((table, runtime, config))
    }
}

impl PostgresStoreBuilder {
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

/// Why the first operation on `server` failed, for whoever runs the app: in the server's own
/// words where it answered and refused (no such database, a wrong password), else that it could
/// not be reached.
fn not_started(server: String, cause: BoxError) -> StartError {
    let engine = "PostgreSQL";
    match refusal(&*cause) {
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
    }
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
