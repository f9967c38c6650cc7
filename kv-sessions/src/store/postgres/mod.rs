//! Sessions in a PostgreSQL table, shared by every instance of an app.

use std::sync::Arc;
use std::time::SystemTime;

use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

use self::columns::{CorruptRow, decode_record};
use self::error::PostgresError;
use self::merge::{Merge, Param};
use self::sweeper::Sweeper;
use self::table::Table;
use super::SessionStore;
use crate::changes::{Changes, Saved, TooLarge};
use crate::error::StoreError;
use crate::id::SessionId;
use crate::record::Record;

pub use self::builder::PostgresStoreBuilder;

mod builder;
mod columns;
mod error;
mod merge;
mod name;
mod statements;
mod sweeper;
mod table;
#[cfg(test)]
mod tests;

/// Sessions in a [PostgreSQL](https://www.postgresql.org) table, through a pool of
/// [tokio-postgres](https://docs.rs/tokio-postgres) connections.
///
/// Every operation on a session is one SQL statement, sent in one round trip, and atomic: an update locks
/// the session's row, merges the [`Changes`] into its latest version and writes the result,
/// all in the statement, so concurrent requests of one session from any number of app
/// instances all keep their writes. Every operation, counting the wait for a pooled connection,
/// is bounded by [`PostgresStoreBuilder::operation_timeout`]. Clones share the pool.
///
/// ```no_run
/// # async fn start() -> Result<(), kv_sessions::StoreError> {
/// use std::time::Duration;
///
/// use kv_sessions::PostgresStore;
///
/// let store = PostgresStore::builder("postgres://app@db.internal/app")
///     .table("auth.sessions")
///     .operation_timeout(Duration::from_secs(1))
///     .build()
///     .await?;
/// store.migrate_up().await?;
/// # Ok(()) }
/// ```
///
/// # The table
/// [`migrate_up`](PostgresStore::migrate_up) creates it, and an index on the deadline for the
/// sweeper; [`migrate_down`](PostgresStore::migrate_down) drops both. Nothing else is created.
///
/// ```sql
/// CREATE TABLE kv_sessions (
///     id uuid PRIMARY KEY,
///     version bigint NOT NULL,     -- saves applied: 1 after the first
///     created_at bigint NOT NULL,  -- milliseconds since the Unix epoch
///     expires_at bigint NOT NULL,  -- milliseconds since the Unix epoch
///     rule_kind smallint NOT NULL, -- the session's own rule: 0 none, 1 on inactivity,
///                                  -- 2 at a date, 3 on session end
///     rule_ms bigint NOT NULL,     -- the rule's window, or its date in milliseconds
///     data jsonb NOT NULL          -- {"key": "<the JSON text of its value>", ...}
/// );
/// CREATE INDEX kv_sessions_expires_at ON kv_sessions (expires_at);
/// ```
///
/// Each value is kept as a JSON *string* holding its JSON text, not as a JSON value, because
/// `jsonb` rewrites the JSON it stores: a string comes back byte for byte. A session's size is
/// therefore the bytes of its keys and JSON texts, as the session layer counts it. The database
/// must use the UTF8 encoding ([`build`](PostgresStoreBuilder::build) checks), and keys and
/// values cannot hold the character U+0000, which PostgreSQL text cannot store: such a write
/// fails as a backend error. The session layer writes serde_json's output, which never holds
/// one.
///
/// # The statements
/// `now` is the app server's clock, sent with each statement, so that the app and every store
/// agree on which sessions are live whatever the database server's clock says; times are whole
/// milliseconds, rounded down.
///
/// - **load**: `SELECT` the row whose id matches and whose `expires_at > now`.
/// - **create**: `INSERT` the changes applied to nothing, with `ON CONFLICT (id) DO UPDATE`
///   that replaces only an expired row. A live row under the new id writes nothing, and the
///   create fails.
/// - **update**: a CTE locks the live row (`SELECT … FOR UPDATE`, which waits for a concurrent
///   save and then sees its result), computes the merge, and an `UPDATE` writes it where it fits
///   the size cap. No live row: [`Saved::Gone`], nothing written.
/// - **renew**: as update, but the `UPDATE` also sets `id` to the new id, so the session moves
///   in place. Where the old id has no live row and the changes write a value, an `INSERT`
///   creates the new id from the changes alone; otherwise [`Saved::Gone`]. A merge past the size
///   cap writes nothing, and the old id stays.
/// - **delete**: `DELETE … RETURNING` the row, handing it back if it was live.
///
/// The merge is [`Changes::apply_to`]'s, in SQL: the entries are the stored object minus the
/// cleared and removed keys, plus the written ones (`(data - removed) || written`); the rule is
/// the one the changes set, or else the stored one; the deadline is the earliest of that rule's
/// deadline, the absolute lifetime from the creation time, and 400 days from now
/// ([`Expiry::LONGEST`](crate::Expiry::LONGEST)); the version rises by one; the creation time
/// stays. Each write statement returns the merged size with the written row, so one round trip
/// tells a stored record from [`Saved::TooLarge`] and [`Saved::Gone`]. The only difference from
/// `apply_to` is the rule's precision: it is stored in whole milliseconds, and a save returns it
/// as stored, as a later load does.
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
/// The URL is a libpq-style connection string or a `postgres://` URL. Connections do not use
/// TLS. The pool opens connections as operations need them, up to
/// [`PostgresStoreBuilder::pool_size`], and drops those that have closed. Each connection
/// prepares a statement the first time it runs it and keeps it, so PostgreSQL plans each merge
/// once per connection; every later operation is one round trip. Behind a connection pooler in
/// transaction mode, use one that keeps prepared statements (PgBouncer 1.21 or later, with
/// `max_prepared_statements`). The store's `Debug` output never shows the URL.
#[derive(Clone)]
pub struct PostgresStore {
    table: Table,
    /// Held by every clone; the last one dropped stops the task.
    sweeper: Option<Arc<Sweeper>>,
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
            .finish()
    }
}

impl PostgresStore {
    /// Connects to the database at `url` with default settings: the table `kv_sessions`, up to
    /// 16 connections, a 2-second operation timeout, a sweep every minute. See
    /// [`PostgresStoreBuilder::build`].
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::builder(url).build().await
    }

    /// Starts configuring a store on the database at `url`, such as
    /// `postgres://user:password@host:5432/database`.
    pub fn builder(url: impl Into<String>) -> PostgresStoreBuilder {
        PostgresStoreBuilder::new(url.into())
    }

    /// Creates the store's table and its index on `expires_at`, where they do not exist yet.
    ///
    /// Running it again, or from several instances at once, is harmless: instances take turns
    /// under an advisory lock. It creates nothing else, and never alters a table that exists.
    pub async fn migrate_up(&self) -> Result<(), StoreError> {
        self.table.batch(&self.table.statements.migrate_up).await
    }

    /// Drops the store's table, and every session with it, together with its index. Dropping
    /// a table that does not exist is not an error; no other object is touched.
    pub async fn migrate_down(&self) -> Result<(), StoreError> {
        self.table.batch(&self.table.statements.migrate_down).await
    }

    /// Deletes every expired session now, and returns how many it deleted.
    ///
    /// The background sweeper does this on its own; call it from tests, or from an operator's
    /// task when the store was built with [`PostgresStoreBuilder::sweep_every`] set to `None`.
    pub async fn sweep_expired(&self) -> Result<u64, StoreError> {
        self.table.sweep(SystemTime::now()).await
    }

    async fn load_at(&self, id: &SessionId, now: SystemTime) -> Result<Option<Record>, StoreError> {
        let (uuid, now) = (uuid(id), columns::millis(now));
        let params: [Param<'_>; 2] = [(&uuid, Type::UUID), (&now, Type::INT8)];
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
        let (merge, uuid) = (Merge::new(changes, now), uuid(id));
        let params = merge.params_with(&[(&uuid, Type::UUID), (merge.created_now(), Type::INT8)]);
        let rows = self
            .table
            .query(&self.table.statements.create, &params)
            .await?;
        saved(*id, &rows, changes)
    }

    async fn update_at(
        &self,
        id: &SessionId,
        changes: &Changes,
        now: SystemTime,
    ) -> Result<Saved, StoreError> {
        let (merge, uuid) = (Merge::new(changes, now), uuid(id));
        let params = merge.params_with(&[(&uuid, Type::UUID)]);
        let rows = self
            .table
            .query(&self.table.statements.update, &params)
            .await?;
        saved(*id, &rows, changes)
    }

    async fn renew_at(
        &self,
        old: &SessionId,
        new: &SessionId,
        changes: &Changes,
        now: SystemTime,
    ) -> Result<Saved, StoreError> {
        let (merge, old_uuid, new_uuid) = (Merge::new(changes, now), uuid(old), uuid(new));
        let params = merge.params_with(&[
            (&old_uuid, Type::UUID),
            (&new_uuid, Type::UUID),
            (merge.created_now(), Type::INT8),
        ]);
        let rows = self
            .table
            .query(&self.table.statements.renew, &params)
            .await?;
        saved(*new, &rows, changes)
    }

    async fn delete_at(
        &self,
        id: &SessionId,
        now: SystemTime,
    ) -> Result<Option<Record>, StoreError> {
        let (uuid, now) = (uuid(id), columns::millis(now));
        let params: [Param<'_>; 2] = [(&uuid, Type::UUID), (&now, Type::INT8)];
        let rows = self
            .table
            .query(&self.table.statements.delete, &params)
            .await?;
        rows.first().map(|row| record(*id, row)).transpose()
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

    /// Moves the session in one statement: the old row is updated in place to the new id.
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
}

/// The value of the `id` column of session `id`.
fn uuid(id: &SessionId) -> Uuid {
    Uuid::from_bytes(*id.as_bytes())
}

/// The record of session `id` in `row`, or why it is corrupt.
fn record(id: SessionId, row: &Row) -> Result<Record, StoreError> {
    decode_record(id, row).map_err(StoreError::corrupt)
}

/// What a write statement did, from the rows it returned: none where there was no session to
/// write to; else one, with the merged `size`, and the written row's columns, which are null
/// where nothing was written.
fn saved(id: SessionId, rows: &[Row], changes: &Changes) -> Result<Saved, StoreError> {
    let Some(row) = rows.first() else {
        return Ok(Saved::Gone);
    };
    let written: Option<i64> = row
        .try_get("version")
        .map_err(|error| StoreError::corrupt(CorruptRow::Column(error)))?;
    if written.is_some() {
        return record(id, row).map(Saved::Stored);
    }
    let size: i64 = row.try_get("size").map_err(StoreError::backend)?;
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    let limit = changes.policy().max_size();
    if size > limit {
        return Ok(Saved::TooLarge(TooLarge::new(size, limit)));
    }
    // The merge fit and wrote nothing: only an insert does that, when a live session holds the
    // id it was given.
    Err(StoreError::backend(PostgresError::IdInUse))
}
