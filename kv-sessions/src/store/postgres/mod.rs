//! Sessions in a PostgreSQL table, shared by every instance of an app.

use std::sync::Arc;
use std::time::SystemTime;

use tokio_postgres::Row;
use tokio_postgres::types::Type;

use self::columns::{Columns, CorruptRow, decode_record, decode_user_session, millis};
use self::listener::Listener;
use self::sweeper::Sweeper;
use self::table::{Param, Table};
use super::{InvalidationFeed, SessionStore, WRITE_ATTEMPTS};
use crate::changes::{Changes, Saved};
use crate::error::{Chain, StoreError};
use crate::id::{SessionDigest, SessionId};
use crate::owner::UserSession;
use crate::record::Record;

pub use self::builder::PostgresStoreBuilder;
pub use self::tls::PostgresSslMode;

mod builder;
mod columns;
mod connection_string;
mod error;
#[cfg(all(test, feature = "moka"))]
mod feed_tests;
mod listener;
mod name;
mod statements;
mod sweeper;
mod table;
#[cfg(test)]
mod tests;
mod tls;
#[cfg(feature = "postgres-tls")]
mod verifiers;

/// Sessions in a [PostgreSQL](https://www.postgresql.org) table, through a pool of
/// [tokio-postgres](https://docs.rs/tokio-postgres) connections.
///
/// The store merges in Rust, with [`Changes::apply_to`], and writes the merged record whole,
/// only where the stored row still has the version it merged against; where another save got
/// there first, it merges against the copy that save left and tries again. So concurrent
/// requests of one session, from any number of app instances, all keep their writes. Every
/// operation, counting the wait for a pooled connection, is bounded by
/// [`PostgresStoreBuilder::operation_timeout`]. Clones share the pool.
///
/// ```no_run
/// # async fn start() -> Result<(), kv_sessions::StoreError> {
/// use std::time::Duration;
///
/// use kv_sessions::PostgresStore;
///
/// let settings = PostgresStore::builder("postgres://app@db.internal/app")
///     .table("auth.sessions")
///     .operation_timeout(Duration::from_secs(1));
/// settings.migrate_up().await?; // creates the table where it is missing; safe at every start
/// let store = settings.build().await?;
/// # Ok(()) }
/// ```
///
/// # The table
/// [`PostgresStoreBuilder::migrate_up`] creates it, with an index on the deadline for the
/// sweeper and a partial index on the bound user for [`sessions_of`](SessionStore::sessions_of);
/// [`migrate_down`](PostgresStore::migrate_down) drops all three. Nothing else is created.
/// [`build`](PostgresStoreBuilder::build) refuses a table that does not exist, one left by an
/// earlier build, and one without the binding's columns.
///
/// ```sql
/// CREATE TABLE kv_sessions (
///     id bytea PRIMARY KEY,        -- SHA-256 of the session id: the id itself is never stored
///     version bigint NOT NULL,     -- saves applied: 1 after the first
///     created_at bigint NOT NULL,  -- milliseconds since the Unix epoch
///     expires_at bigint NOT NULL,  -- milliseconds since the Unix epoch
///     rule_kind smallint NOT NULL, -- the session's own rule: 0 none, 1 on inactivity,
///                                  -- 2 at a date, 3 on session end
///     rule_ms bigint NOT NULL,     -- the rule's window, or its date, in milliseconds
///     data jsonb NOT NULL          -- {"key": "<the JSON text of its value>", ...}
/// );
/// CREATE INDEX kv_sessions_expires_at ON kv_sessions (expires_at);
/// -- A session's binding: NULL in all three where it is not bound.
/// ALTER TABLE kv_sessions
///     ADD COLUMN owner_user text,  -- the user, as SessionOwner::user
///     ADD COLUMN owner_label text, -- the app's label, where it set one
///     ADD COLUMN saved_at bigint;  -- the last save of a bound session, in milliseconds
/// CREATE INDEX kv_sessions_owner_user ON kv_sessions (owner_user) WHERE owner_user IS NOT NULL;
/// ```
///
/// Tables created by releases before sessions could be bound lack the last three columns:
/// `migrate_up` adds them, and the index, keeping every session (unbound), and `build` refuses
/// such a table until it has. Adding them changes only the catalog, so it is instant whatever
/// the table holds; the index is built under a lock that holds up session writes while it
/// scans the table, once, at the first start of this release. There is no step down: the
/// earlier release names every column it reads and writes, so it runs on the migrated table as
/// it is, and a rollback needs no migration (sessions it saves keep the binding they had).
///
/// A row is keyed by the [digest](crate::SessionDigest) of its session's id, so whoever reads
/// the table, a backup or a replica learns no id a cookie could carry. Earlier builds kept the
/// id itself, in a `uuid` column: this layout is not readable by them, nor theirs by this one,
/// and their sessions cannot be carried over (the ids they would need are not stored).
///
/// Each value is kept as a JSON *string* holding its JSON text, not as a JSON value, because
/// `jsonb` rewrites the JSON it stores: a string comes back byte for byte. The database must use
/// the UTF8 encoding ([`build`](PostgresStoreBuilder::build) checks), and keys and values cannot
/// hold the character U+0000, which PostgreSQL text cannot store: such a write fails as a
/// backend error. The session layer writes serde_json's output, which never holds one.
///
/// # The statements
/// `now` is the app server's clock, sent with each statement, so that the app and every store
/// agree on which sessions are live whatever the database server's clock says; times are whole
/// milliseconds, rounded down. No statement merges: each writes a record `apply_to` produced.
///
/// - **load**: `SELECT` the row whose id matches and whose `expires_at > now`.
/// - **create**: `INSERT` the changes applied to nothing, with `ON CONFLICT (id) DO UPDATE`
///   that replaces only an expired row. A live row under the new id writes nothing, and the
///   create fails. A merge past the size cap is refused before anything is sent.
/// - **update**: read the live row, merge, then `UPDATE … WHERE id = … AND version = <the
///   version merged against> AND expires_at > now`. Where that matches nothing, the same
///   statement returns the latest live row, and the store merges against it and tries again; no
///   live row: [`Saved::Gone`], nothing written. [`update_from`](SessionStore::update_from)
///   merges against the copy the request loaded and skips the read: one round trip, where no
///   other save came in between.
/// - **renew**: as update, but the `UPDATE` also sets `id` to the new digest, so the session
///   moves in place. Where the old id has no live row and the changes write a value, a create
///   makes the new id from the changes alone; otherwise [`Saved::Gone`]. A merge past the size
///   cap writes nothing, and the old id stays.
/// - **delete**: `DELETE … RETURNING` the row, handing it back if it was live.
/// - **sessions of a user**: `SELECT … WHERE owner_user = … AND expires_at + 0 > now`, through
///   the partial index alone: `+ 0` keeps the planner from also reading the index on the
///   deadline, which holds an entry for every live session.
/// - **revoke**: `DELETE … WHERE id = … AND owner_user = … AND expires_at > now`, announced as
///   a delete is. [`revoke_all`](SessionStore::revoke_all) is the provided loop of listings and
///   revokes: a renewal moves the row, binding and all, in one `UPDATE`, so a session renewed
///   while it runs shows up under its new id in the next listing.
///
/// Every write sends the binding `apply_to` returned with the rest of the row, NULL where the
/// session is unbound: the row is rewritten anyway, so binding costs no extra round trip, and
/// the index on the user follows every create, save, renewal and delete in the statement that
/// makes it. The three columns cost an unbound row 8 bytes (its null bitmap); a save of a bound
/// session that moves its deadline writes an entry in the user index, as in every index of the
/// row, while one that keeps its deadline can stay a heap-only update (`saved_at` is not indexed).
///
/// A conflict means another save of the session succeeded, so a save tries again only as
/// often as others get in first. After 64 conflicts in a row it gives up with
/// [`StoreError::Backend`], saying that the session was under too much contention: only a
/// session saved by many requests at once, nonstop, gets there.
///
/// # The invalidation feed
/// Unless built with [`invalidation_feed(false)`](PostgresStoreBuilder::invalidation_feed), the
/// store announces every session it changes, so that a [`CachedStore`](crate::CachedStore) in
/// front of it in each app instance forgets its copy: the store's
/// [`invalidations`](SessionStore::invalidations) feed, to which such a cache subscribes on its
/// own.
///
/// - **The channel** is the table's name followed by `_invalidations`, as in
///   `kv_sessions_invalidations` or `auth.sessions_invalidations`; where that would pass
///   PostgreSQL's 63 bytes, its end is replaced by `_` and 16 hex digits of a SHA-256 of it.
/// - **The payload** is an [`Invalidation`](crate::Invalidation) in its text form: the session's
///   digest in 32 hex digits (the `id` column, `encode(id, 'hex')`), a space, and the version the
///   table now holds after an update, or `-` after a renewal (for the old id) or a delete. It
///   never carries an id a cookie could hold, nor any session data. A create announces nothing:
///   its id is new.
/// - **The writing statement sends it**: the update, renewal and delete statements call
///   `pg_notify` on the rows they wrote, in the same statement, so a write still takes one round
///   trip. PostgreSQL delivers a notification when its transaction commits, and only then: a
///   write that matches no row (a version conflict, a session gone), fails, or is rolled back
///   announces nothing. A merge past the size cap sends no statement at all.
/// - **The listener** is a connection of its own, outside the pool, named after the pool's
///   `application_name` with ` listener` after it (`kv-sessions listener` by default), so that it
///   can be told apart in `pg_stat_activity`. It runs `LISTEN` on the channel, and a `SELECT 1`
///   every quarter of [`max_staleness`](PostgresStoreBuilder::max_staleness): the answer comes
///   after every notification sent before it, which proves to the feed that nothing was missed.
///   [`build`](PostgresStoreBuilder::build) waits for the first `LISTEN`, within the operation
///   timeout, and fails otherwise.
/// - **A lost channel** (the connection drops, or a heartbeat goes unanswered for the operation
///   timeout) is logged once as a warning; the listener connects again, pausing 50 ms, then
///   twice as long after each failure up to 1 s, and logs its recovery once. Until then, and for
///   copies read before it, the caches serve a copy only if it was read from the table less than
///   `max_staleness` ago (1 s by default), since notices sent meanwhile are lost.
///
/// Two costs come with it. NOTIFY is broadcast: every instance's listener hears every write of
/// every instance, and with it the server signals every listening connection; `bench/RESULTS.md`
/// measures how far that goes as a fleet grows. And PostgreSQL delivers notifications in commit
/// order by taking one lock, cluster-wide, from the moment a notifying transaction starts to
/// commit until it has (`PreCommit_Notify` in `src/backend/commands/async.c`; the `NOTIFY`
/// reference page does not mention it). With synchronous commits that includes the WAL flush,
/// so notifying writes would take turns at the disk where other commits are flushed together:
/// on a shared two-core machine (PostgreSQL 15, `fsync` on; the ignored test
/// `update_throughput_with_the_feed_on_and_off`), updates took a median 1.16 times as long with
/// the feed on for one session updated at a time, and 2.4 times as long for eight at once. So
/// the store's connections commit asynchronously by default, and the lock is held for
/// microseconds; [`PostgresStoreBuilder::synchronous_commit`] says what that trades away, and
/// turns it back.
///
/// Writes made to the table other than through a store (by hand, or by a migration) are not
/// announced, and a cache keeps serving its copy while its feed listens.
///
/// # Expired sessions
/// An expired session is never returned, nor merged into. A background task deletes expired
/// rows every minute by default ([`PostgresStoreBuilder::sweep_every`]), in batches of 1000 rows
/// per statement through the index on `expires_at`; rows another instance's sweeper holds are
/// skipped, so instances never wait on each other. A failed sweep is logged through `tracing`
/// and tried again at the next interval. [`PostgresStore::sweep_expired`] sweeps at once.
///
/// The task runs on the tokio runtime that awaited [`build`](PostgresStoreBuilder::build), and
/// stops when the last clone of the store is dropped. Build the store in `main` under
/// `#[actix_web::main]`, before `HttpServer::new`: that runtime lives as long as the server.
/// Built inside `HttpServer::new`, each worker would get a store, a pool and a sweeper of its
/// own.
///
/// # Connections
/// The URL is a libpq-style connection string (`host=db user=app sslmode=verify-full`) or a
/// `postgres://` URL. The pool opens connections as operations need them, up to
/// [`PostgresStoreBuilder::pool_size`], and drops those that have closed. Each connection
/// prepares a statement the first time it runs it and keeps it, so PostgreSQL plans each
/// statement once per connection; every later statement is one round trip. Behind a connection
/// pooler in transaction mode, use one that keeps prepared statements (PgBouncer 1.21 or later,
/// with `max_prepared_statements`). The store's `Debug` output never shows the URL.
///
/// An app that already has its connection settings or its pool can build the store from them:
/// [`PostgresStore::builder_from_config`] takes a `tokio_postgres::Config` and opens a pool of
/// the store's own with it; [`PostgresStore::builder_from_pool`] uses the app's
/// `deadpool_postgres::Pool` as it is, with whatever TLS and authentication its connections
/// have, and needs [`PostgresStoreBuilder::listener_config`] for the invalidation feed.
///
/// # Pool sizing
/// An operation holds a connection for one statement at a time (an update: a read, then the
/// write) and gives it back in between, so a pool of `n` connections serves about `n` divided
/// by the statement time operations a second: 16 connections and 1 ms statements, some 16,000.
/// Operations past that wait for a connection within [`PostgresStoreBuilder::operation_timeout`],
/// and then their requests answer 500: under a burst the pool queues, past the timeout it sheds
/// load rather than pile requests up, and it serves normally as soon as the burst is over.
/// Size it for the operations in flight at peak, not for the number of workers, and keep every
/// instance's pool, plus one listening connection each, within the server's
/// `max_connections` with room for everything else that connects. A store on the app's own pool
/// shares its connections: a slow query of the app then delays session loads, so size that pool
/// for both, or give the store a pool of its own.
///
/// # TLS
/// With the `postgres-tls` feature the store speaks TLS through rustls (never OpenSSL), as libpq
/// does, with libpq's keys in the URL:
///
/// | `sslmode` | TLS | what is checked of the server's certificate |
/// |---|---|---|
/// | `disable` | never | nothing |
/// | `prefer` (the default) | where the server offers it | nothing, unless a CA bundle is given: then the chain |
/// | `require` | always | nothing, unless a CA bundle is given: then the chain |
/// | `verify-ca` | always | that it chains to a trusted CA |
/// | `verify-full` | always | that it chains to a trusted CA and names the URL's host |
///
/// Use `verify-full` in production: it alone proves that the connection reached the database it
/// names. `require` without a CA bundle accepts any certificate, so it stops someone who only
/// listens on the network, not someone who can answer in the server's place; `prefer` also
/// falls back to plaintext where the server offers no TLS. Where a CA bundle turns on a check
/// under `prefer`, a certificate that fails it fails the connection rather than falling back.
///
/// The trusted CAs are, from the first that is set:
/// [`PostgresStoreBuilder::tls_ca_certificates`] (PEM text) or
/// [`tls_ca_certificates_file`](PostgresStoreBuilder::tls_ca_certificates_file); the URL's
/// `sslrootcert=<path>`; the `PGSSLROOTCERT` environment variable (a path); and, for
/// `verify-ca` and `verify-full` with none of those, the platform's trusted roots, as
/// `rustls-native-certs` finds them (the system's bundle, or the files `SSL_CERT_FILE` and
/// `SSL_CERT_DIR` name). `sslrootcert=system` asks for the platform's roots by name, and, as in
/// libpq, implies `verify-full` and refuses a weaker mode. A container image without a CA bundle
/// (`scratch`, distroless static) has no platform roots: give the provider's bundle instead.
/// Client certificates (`sslcert`, `sslkey`) are not read from the URL; an app that needs them
/// builds its pool with its own rustls set-up and hands it to
/// [`builder_from_pool`](PostgresStore::builder_from_pool).
///
/// A certificate that does not verify fails [`build`](PostgresStoreBuilder::build) with a
/// [`StoreError::Open`] that names the server (`host:port/database`, never the user or the
/// password) and says that its certificate was refused, and why. Without the feature, a URL
/// that requires TLS or names a CA bundle fails `build` the same way, saying to turn on
/// `postgres-tls`; `prefer` then connects in plaintext.
///
/// The URLs of common managed services (the paths are where the app keeps each provider's CA
/// bundle):
///
/// | service | URL | CA |
/// |---|---|---|
/// | Amazon RDS and Aurora | `postgres://app:…@mydb.abc123.eu-west-1.rds.amazonaws.com/app?sslmode=verify-full&sslrootcert=/etc/ssl/rds/global-bundle.pem` | AWS's `global-bundle.pem`: RDS certificates do not chain to public roots |
/// | Google Cloud SQL | `postgres://app:…@10.1.2.3/app?sslmode=verify-ca&sslrootcert=/etc/ssl/cloudsql/server-ca.pem` | the instance's `server-ca.pem`; its certificate does not name the IP, hence `verify-ca`. Instances on a shared Google CA carry a DNS name: connect to it with `verify-full` |
/// | Azure Database for PostgreSQL | `postgres://app:…@myserver.postgres.database.azure.com/app?sslmode=verify-full&sslrootcert=system` | public roots (DigiCert, Microsoft) |
/// | Supabase | `postgres://postgres:…@db.abcdefgh.supabase.co/postgres?sslmode=verify-full&sslrootcert=/etc/ssl/supabase/prod-ca-2021.crt` | the project's CA, from its database settings |
/// | Neon | `postgres://app:…@ep-cool-name-123456.eu-central-1.aws.neon.tech/app?sslmode=verify-full&sslrootcert=system` | public roots (Let's Encrypt) |
///
/// The same TLS serves the pooled connections and the invalidation feed's listening connection.
#[derive(Clone)]
pub struct PostgresStore {
    table: Table,
    /// Held by every clone; the last one dropped stops the task.
    sweeper: Option<Arc<Sweeper>>,
    /// Held by every clone; the last one dropped stops listening.
    listener: Option<Arc<Listener>>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pool = self.table.pool.status();
        f.debug_struct("PostgresStore")
            .field("table", &self.table.name.to_string())
            .field("connections", &pool.size)
            .field("idle_connections", &pool.available)
            .field("operation_timeout", &self.table.timeout)
            .field("sweeping", &self.sweeper.is_some())
            .field("invalidation_feed", &self.listener.is_some())
            .finish()
    }
}

impl PostgresStore {
    /// Connects to the database at `url` with default settings: the table `kv_sessions`, up to
    /// 16 connections, a 2-second operation timeout, a sweep every minute, the invalidation feed
    /// on with a 1-second bound on staleness. The table must exist:
    /// see [`PostgresStoreBuilder::migrate_up`] and [`PostgresStoreBuilder::build`].
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::builder(url).build().await
    }

    /// Starts configuring a store on the database at `url`, such as
    /// `postgres://user:password@host:5432/database?sslmode=verify-full`, or a libpq connection
    /// string, such as `host=db user=app dbname=app sslmode=verify-full`. See "TLS" above for
    /// `sslmode` and `sslrootcert`.
    pub fn builder(url: impl Into<String>) -> PostgresStoreBuilder {
        PostgresStoreBuilder::new(url.into())
    }

    /// Starts configuring a store that opens its own pool with the app's connection settings,
    /// for an app that builds a [`tokio_postgres::Config`] in code rather than a URL. The store's
    /// settings all apply, and its feed listens with `config` too.
    ///
    /// A `Config` can say `disable`, `prefer` or `require`; for `verify-ca` or `verify-full`, set
    /// [`PostgresStoreBuilder::ssl_mode`], and give the CA with
    /// [`tls_ca_certificates`](PostgresStoreBuilder::tls_ca_certificates) or `PGSSLROOTCERT`.
    ///
    /// ```no_run
    /// # async fn start() -> Result<(), kv_sessions::StoreError> {
    /// use kv_sessions::{PostgresSslMode, PostgresStore};
    ///
    /// let mut config = tokio_postgres::Config::new();
    /// config.host("db.internal").user("app").dbname("app");
    /// let store = PostgresStore::builder_from_config(config)
    ///     .ssl_mode(PostgresSslMode::VerifyFull)
    ///     .build()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn builder_from_config(config: tokio_postgres::Config) -> PostgresStoreBuilder {
        PostgresStoreBuilder::from_config(config)
    }

    /// Starts configuring a store on the app's own [`deadpool_postgres::Pool`], whose
    /// connections, TLS and authentication it uses as they are: sessions then share the app's
    /// connections, and its pool size. The table, timeout, sweeper and staleness settings apply;
    /// [`pool_size`](PostgresStoreBuilder::pool_size),
    /// [`synchronous_commit`](PostgresStoreBuilder::synchronous_commit) and the TLS settings do
    /// not, since they would change the app's own connections.
    ///
    /// deadpool drops the notifications its connections receive, so the invalidation feed needs a
    /// connection of its own: it is on only where
    /// [`listener_config`](PostgresStoreBuilder::listener_config) gives its settings, and
    /// [`build`](PostgresStoreBuilder::build) fails where
    /// [`invalidation_feed(true)`](PostgresStoreBuilder::invalidation_feed) asks for it without
    /// them. Without the feed, do not put a [`CachedStore`](crate::CachedStore) in front of the
    /// store where several instances share the table.
    ///
    /// ```no_run
    /// # async fn start(pool: deadpool_postgres::Pool) -> Result<(), kv_sessions::StoreError> {
    /// use kv_sessions::PostgresStore;
    ///
    /// let listening: tokio_postgres::Config = "postgres://app@db.internal/app".parse().unwrap();
    /// let store = PostgresStore::builder_from_pool(pool)
    ///     .listener_config(listening)
    ///     .build()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn builder_from_pool(pool: deadpool_postgres::Pool) -> PostgresStoreBuilder {
        PostgresStoreBuilder::from_pool(pool)
    }

    /// Drops the store's table, and every session with it, together with its indexes. Dropping
    /// a table that does not exist is not an error; no other object is touched.
    pub async fn migrate_down(&self) -> Result<(), StoreError> {
        self.table.batch(&self.table.statements.migrate_down).await
    }

    /// Deletes every expired session now, and returns how many it deleted.
    ///
    /// The background sweeper does this on its own; call it from tests, or from an operator's
    /// task when the store was built with [`PostgresStoreBuilder::sweep_every`] set to `None`.
    /// It is logged and counted as the sweeper's runs are.
    pub async fn sweep_expired(&self) -> Result<u64, StoreError> {
        let removed = self.table.sweep(SystemTime::now()).await;
        crate::telemetry::swept("postgres", removed.as_ref().copied());
        removed
    }

    async fn load_at(&self, id: &SessionId, now: SystemTime) -> Result<Option<Record>, StoreError> {
        let (key, now) = (columns::key(id), millis(now));
        let params: [Param<'_>; 2] = [(&key, Type::BYTEA), (&now, Type::INT8)];
        let rows = self
            .table
            .query(&self.table.statements.load, &params)
            .await?;
        rows.first().map(|row| record(*id, row)).transpose()
    }

    async fn create_at(
        &self,
        id: &SessionId,
        changes: &Changes,
        now: SystemTime,
    ) -> Result<Saved, StoreError> {
        let created = match changes.apply_to(*id, None, now) {
            Ok(record) => record,
            Err(refusal) => return Ok(Saved::TooLarge(refusal)),
        };
        let (key, columns, now) = (columns::key(id), Columns::of(&created), millis(now));
        let params = with_record(&key, &columns, &[(&now, Type::INT8)]);
        let rows = self
            .table
            .query(&self.table.statements.create, &params)
            .await?;
        if rows.is_empty() {
            return Err(StoreError::id_in_use());
        }
        Ok(Saved::Stored(created))
    }

    async fn update_at(
        &self,
        id: &SessionId,
        changes: &Changes,
        now: SystemTime,
    ) -> Result<Saved, StoreError> {
        let latest = self.load_at(id, now).await?;
        self.save_over(id, id, Base::Latest(latest), changes, now)
            .await
    }

    async fn update_from_at(
        &self,
        loaded: &Record,
        changes: &Changes,
        now: SystemTime,
    ) -> Result<Saved, StoreError> {
        let id = loaded.id();
        let hint = Base::Loaded(loaded.clone());
        self.save_over(&id, &id, hint, changes, now).await
    }

    async fn renew_at(
        &self,
        old: &SessionId,
        new: &SessionId,
        changes: &Changes,
        now: SystemTime,
    ) -> Result<Saved, StoreError> {
        let latest = self.load_at(old, now).await?;
        match self
            .save_over(old, new, Base::Latest(latest), changes, now)
            .await?
        {
            Saved::Gone if changes.writes_a_value() => self.create_at(new, changes, now).await,
            saved => Ok(saved),
        }
    }

    /// Writes `changes`, merged into `base`, under `to` in place of the live session `from`,
    /// where `from` still has `base`'s version; where it has another, merges against that copy
    /// and tries again, up to [`WRITE_ATTEMPTS`] times. [`Saved::Gone`] where `from` has no live copy.
    async fn save_over(
        &self,
        from: &SessionId,
        to: &SessionId,
        mut base: Base,
        changes: &Changes,
        now: SystemTime,
    ) -> Result<Saved, StoreError> {
        for _ in 0..WRITE_ATTEMPTS {
            let (current, loaded) = match base {
                Base::Latest(None) => return Ok(Saved::Gone),
                Base::Latest(Some(record)) => (record, false),
                Base::Loaded(record) => (record, true),
            };
            let merged = match changes.apply_to(*to, Some(&current), now) {
                Ok(record) => record,
                Err(refusal) if !loaded => return Ok(Saved::TooLarge(refusal)),
                // Only the latest copy can tell whether the session outgrows its cap.
                Err(_) => {
                    base = Base::Latest(self.load_at(from, now).await?);
                    continue;
                }
            };
            base = match self.replace(from, to, &current, &merged, now).await? {
                Replaced::Written => return Ok(Saved::Stored(merged)),
                Replaced::Outdated { latest } => Base::Latest(latest),
            };
        }
        Err(StoreError::contended(WRITE_ATTEMPTS))
    }

    /// Writes `merged` under `to` in place of the session `from`, where `from` is live and still
    /// has `current`'s version.
    async fn replace(
        &self,
        from: &SessionId,
        to: &SessionId,
        current: &Record,
        merged: &Record,
        now: SystemTime,
    ) -> Result<Replaced, StoreError> {
        let (key, to_key, columns) = (columns::key(from), columns::key(to), Columns::of(merged));
        let expected = i64::try_from(current.version()).unwrap_or(i64::MAX);
        let now = millis(now);
        let own: [Param<'_>; 3] = [
            (&expected, Type::INT8),
            (&now, Type::INT8),
            (&to_key, Type::BYTEA),
        ];
        let params = with_record(&key, &columns, &own);
        let rows = self
            .table
            .query(&self.table.statements.replace, &params)
            .await?;
        let Some(row) = rows.first() else {
            return Ok(Replaced::Outdated { latest: None });
        };
        let written: bool = row
            .try_get("written")
            .map_err(|error| StoreError::corrupt(CorruptRow::Column(error)))?;
        if written {
            return Ok(Replaced::Written);
        }
        let latest = record(*from, row)?;
        Ok(Replaced::Outdated {
            latest: Some(latest),
        })
    }

    async fn delete_at(
        &self,
        id: &SessionId,
        now: SystemTime,
    ) -> Result<Option<Record>, StoreError> {
        let (key, now) = (columns::key(id), millis(now));
        let params: [Param<'_>; 2] = [(&key, Type::BYTEA), (&now, Type::INT8)];
        let rows = self
            .table
            .query(&self.table.statements.delete, &params)
            .await?;
        rows.first().map(|row| record(*id, row)).transpose()
    }

    async fn sessions_of_at(
        &self,
        user: &str,
        now: SystemTime,
    ) -> Result<Vec<UserSession>, StoreError> {
        let now = millis(now);
        let params: [Param<'_>; 2] = [(&user, Type::TEXT), (&now, Type::INT8)];
        let rows = self
            .table
            .query(&self.table.statements.sessions_of, &params)
            .await?;
        // A row that does not decode is left out, with a warning, rather than failing the whole
        // listing: no request can use it (a load reports it corrupt and deletes it), and one bad
        // row must not stop a revoke-all from reaching the user's other sessions.
        let listed = rows.iter().filter_map(|row| match decode_user_session(row) {
            Ok(session) => Some(session),
            Err(error) => {
                let error = StoreError::corrupt(error);
                tracing::warn!(error = %Chain(&error), "leaving a corrupt session row out of a listing");
                None
            }
        });
        Ok(listed.collect())
    }

    async fn revoke_at(
        &self,
        user: &str,
        session: SessionDigest,
        now: SystemTime,
    ) -> Result<bool, StoreError> {
        let (key, now) = (session.as_bytes().to_vec(), millis(now));
        let params: [Param<'_>; 3] = [(&key, Type::BYTEA), (&user, Type::TEXT), (&now, Type::INT8)];
        let rows = self
            .table
            .query(&self.table.statements.revoke, &params)
            .await?;
        Ok(!rows.is_empty())
    }
}

impl SessionStore for PostgresStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        self.load_at(id, SystemTime::now()).await
    }

    async fn create(&self, id: &SessionId, changes: &Changes) -> Result<Saved, StoreError> {
        self.create_at(id, changes, SystemTime::now()).await
    }

    async fn update(&self, id: &SessionId, changes: &Changes) -> Result<Saved, StoreError> {
        self.update_at(id, changes, SystemTime::now()).await
    }

    /// Merges against the loaded copy and writes where the table still holds that version:
    /// one round trip where no other save came in between.
    async fn update_from(&self, loaded: &Record, changes: &Changes) -> Result<Saved, StoreError> {
        self.update_from_at(loaded, changes, SystemTime::now())
            .await
    }

    /// Reads the old copy, then moves the session with one compare-and-set statement: the old
    /// row is updated in place to the new digest, where it still has the version read.
    async fn renew(
        &self,
        old: &SessionId,
        new: &SessionId,
        changes: &Changes,
    ) -> Result<Saved, StoreError> {
        self.renew_at(old, new, changes, SystemTime::now()).await
    }

    async fn delete(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        self.delete_at(id, SystemTime::now()).await
    }

    /// One statement, through the partial index on `owner_user`.
    async fn sessions_of(&self, user: &str) -> Result<Vec<UserSession>, StoreError> {
        self.sessions_of_at(user, SystemTime::now()).await
    }

    /// One statement: a `DELETE` of the row where it is live and bound to `user`, which
    /// announces the deletion on the feed as [`delete`](SessionStore::delete) does.
    async fn revoke(&self, user: &str, session: SessionDigest) -> Result<bool, StoreError> {
        self.revoke_at(user, session, SystemTime::now()).await
    }

    /// The feed of the table's channel, unless the store was built with
    /// [`invalidation_feed(false)`](PostgresStoreBuilder::invalidation_feed).
    fn invalidations(&self) -> Option<InvalidationFeed> {
        self.listener
            .as_ref()
            .map(|listener| listener.feed().clone())
    }
}

/// The copy of a session a save merges against.
enum Base {
    /// The copy the request loaded, which may be stale.
    Loaded(Record),
    /// The latest live copy, just read; `None` where there is none.
    Latest(Option<Record>),
}

/// What a compare-and-set write did.
enum Replaced {
    /// The merged record is stored.
    Written,
    /// The stored copy was not the one merged against: here is the latest live one, if any.
    Outdated { latest: Option<Record> },
}

/// The parameters of a write statement: the session's `key`, the record's `columns`, and the
/// statement's `own` parameters after them.
fn with_record<'p>(key: &'p Vec<u8>, columns: &'p Columns, own: &[Param<'p>]) -> Vec<Param<'p>> {
    let key: Param<'p> = (key, Type::BYTEA);
    std::iter::once(key)
        .chain(columns.params())
        .chain(own.iter().cloned())
        .collect()
}

/// The record of session `id` in `row`, or why it is corrupt.
fn record(id: SessionId, row: &Row) -> Result<Record, StoreError> {
    decode_record(id, row).map_err(StoreError::corrupt)
}
