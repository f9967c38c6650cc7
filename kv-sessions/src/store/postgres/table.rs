//! One sessions table reached through a connection pool: its statements, sent with a time limit
//! that covers the wait for a connection too, and the check that the table exists in the layout
//! of this build.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use deadpool_postgres::Pool;
use tokio_postgres::Row;
use tokio_postgres::types::{ToSql, Type};

use super::columns::millis;
use super::error::PostgresError;
use super::name::TableName;
use super::statements::Statements;
use crate::error::StoreError;

/// How many expired rows one sweep statement deletes at most, so that no sweep holds many row
/// locks or runs long.
const SWEEP_BATCH: i64 = 1000;

/// A parameter of a statement with its PostgreSQL type, the type the statement is prepared with.
pub(super) type Param<'a> = (&'a (dyn ToSql + Sync), Type);

/// The type of the `id` column in the layout this build creates.
const ID_TYPE: &str = "bytea";

/// What the database holds under a sessions table's name.
enum Layout {
    /// No table.
    Missing,
    /// A table whose `id` column holds digests, as this build creates it; `bindable` where it
    /// has the columns of a session's binding too, which tables of earlier releases lack.
    Current { bindable: bool },
    /// A table with an `id` column of another type, as earlier builds created it.
    Other { id_type: String },
}

/// A sessions table and the pool that reaches it. Clones share the pool.
#[derive(Clone)]
pub(super) struct Table {
    pub(super) pool: Pool,
    pub(super) name: Arc<TableName>,
    pub(super) statements: Arc<Statements>,
    pub(super) timeout: Duration,
}

impl Table {
    /// Runs `sql` with `params` on a pooled connection and returns its rows.
    ///
    /// Each connection prepares a statement the first time it runs it and keeps it, so
    /// PostgreSQL parses and plans each statement once per connection rather than on every
    /// call; later runs are one round trip. Behind a pooler in transaction mode, use one that
    /// keeps prepared statements (PgBouncer 1.21 or later with `max_prepared_statements`).
    pub(super) async fn query(
        &self,
        sql: &str,
        params: &[Param<'_>],
    ) -> Result<Vec<Row>, StoreError> {
        let (values, types): (Vec<_>, Vec<_>) = params
            .iter()
            .map(|(value, kind)| (*value, kind.clone()))
            .unzip();
        self.bounded(async {
            let client = self.pool.get().await.map_err(StoreError::backend)?;
            let statement = client
                .prepare_typed_cached(sql, &types)
                .await
                .map_err(StoreError::backend)?;
            client
                .query(&statement, &values)
                .await
                .map_err(StoreError::backend)
        })
        .await
    }

    /// Runs the statements of `sql`, with no parameters, in one implicit transaction.
    pub(super) async fn batch(&self, sql: &str) -> Result<(), StoreError> {
        self.bounded(async {
            let client = self.pool.get().await.map_err(StoreError::backend)?;
            client.batch_execute(sql).await.map_err(StoreError::backend)
        })
        .await
    }

    /// Checks that the database answers and keeps text as UTF-8.
    pub(super) async fn check_server(&self) -> Result<(), StoreError> {
        let sql = "SELECT current_setting('server_encoding') AS encoding";
        let rows = self.query(sql, &[]).await?;
        let encoding: String = rows
            .first()
            .ok_or_else(|| StoreError::backend("the database did not tell its encoding"))?
            .try_get("encoding")
            .map_err(StoreError::backend)?;
        if encoding != "UTF8" {
            return Err(StoreError::open(PostgresError::NotUtf8(encoding)));
        }
        Ok(())
    }

    /// Checks that the table exists, in the layout of this build.
    pub(super) async fn check_layout(&self) -> Result<(), StoreError> {
        match self.layout().await? {
            Layout::Current { bindable: true } => Ok(()),
            Layout::Current { bindable: false } => {
                Err(StoreError::open(PostgresError::Unbindable {
                    table: self.name.to_string(),
                }))
            }
            Layout::Missing => Err(StoreError::open(PostgresError::Unmigrated {
                table: self.name.to_string(),
            })),
            Layout::Other { id_type } => Err(self.earlier_layout(id_type)),
        }
    }

    /// Creates the table and its indexes, and adds the columns of a session's binding, where
    /// they do not exist; refuses a table in another layout.
    pub(super) async fn migrate_up(&self) -> Result<(), StoreError> {
        match self.layout().await? {
            Layout::Current { .. } | Layout::Missing => {
                self.batch(&self.statements.migrate_up).await
            }
            Layout::Other { id_type } => Err(self.earlier_layout(id_type)),
        }
    }

    /// What the database holds under the table's name.
    async fn layout(&self) -> Result<Layout, StoreError> {
        let name = self.name.quoted();
        let params: [Param<'_>; 1] = [(&name, Type::TEXT)];
        let rows = self.query(&self.statements.layout, &params).await?;
        let row = rows
            .first()
            .ok_or_else(|| StoreError::backend("the database did not describe the table"))?;
        let present: bool = row.try_get("present").map_err(StoreError::backend)?;
        let id_type: Option<String> = row.try_get("id_type").map_err(StoreError::backend)?;
        let bindable: bool = row.try_get("bindable").map_err(StoreError::backend)?;
        Ok(match id_type {
            _ if !present => Layout::Missing,
            Some(id_type) if id_type == ID_TYPE => Layout::Current { bindable },
            id_type => Layout::Other {
                id_type: id_type.unwrap_or_else(|| "missing".to_owned()),
            },
        })
    }

    /// The refusal of this table, found with an `id` column of type `id_type`.
    fn earlier_layout(&self, id_type: String) -> StoreError {
        StoreError::open(PostgresError::EarlierLayout {
            table: self.name.to_string(),
            id_type,
        })
    }

    /// Deletes every row expired at `now`, a batch per statement, and counts them.
    pub(super) async fn sweep(&self, now: SystemTime) -> Result<u64, StoreError> {
        let now = millis(now);
        let mut total = 0;
        loop {
            let params: [Param<'_>; 2] = [(&now, Type::INT8), (&SWEEP_BATCH, Type::INT8)];
            let rows = self.query(&self.statements.sweep, &params).await?;
            let removed: i64 = rows
                .first()
                .map_or(Ok(0), |row| row.try_get("removed"))
                .map_err(StoreError::backend)?;
            total += removed.unsigned_abs();
            if removed < SWEEP_BATCH {
                return Ok(total);
            }
        }
    }

    /// `work`, or a timeout error once the table's time limit has passed.
    async fn bounded<T>(
        &self,
        work: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(self.timeout, work)
            .await
            .unwrap_or_else(|_| Err(StoreError::timeout(PostgresError::Timeout(self.timeout))))
    }
}
