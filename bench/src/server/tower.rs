//! tower-sessions on axum, with its default settings, on one current-thread tokio runtime.

use std::io;
use std::path::Path;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use tower_sessions::{
    CachingSessionStore, MemoryStore, Session, SessionManagerLayer, SessionStore,
};
use tower_sessions_moka_store::MokaStore;
use tower_sessions_redis_store::RedisStore;
use tower_sessions_redis_store::fred::prelude::{ClientLike, Config, Pool};
use tower_sessions_sqlx_store::sqlx::postgres::PgPool;
use tower_sessions_sqlx_store::sqlx::sqlite::{
    SqliteConnectOptions, SqlitePool, SqliteSynchronous,
};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore, sqlx};

use super::{CACHED_SESSIONS, NO_VALUE, SAVED, VALUE, block_on};
use crate::redis_keys;
use crate::space::{POSTGRES_URL, Space, redis_url};

/// The SQLite file inside a variant's directory.
const SQLITE_FILE: &str = "sessions.sqlite";
/// The Redis connections, as tower-sessions-redis-store's documentation opens them.
const REDIS_POOL_SIZE: usize = 6;
/// The schema of the PostgreSQL variant's table: the default one, as kv-sessions' table.
const POSTGRES_SCHEMA: &str = "public";

async fn index(session: Session) -> Result<String, StatusCode> {
    let value = session
        .get::<String>("test_key")
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok(value.unwrap_or_else(|| NO_VALUE.to_owned()))
}

async fn set(session: Session) -> Result<&'static str, StatusCode> {
    let failed = |_| StatusCode::INTERNAL_SERVER_ERROR;
    session.insert("test_key", VALUE).await.map_err(failed)?;
    let count = session.get::<u32>("counter").await.map_err(failed)?;
    let next = count.unwrap_or_default().wrapping_add(1);
    session.insert("counter", next).await.map_err(failed)?;
    Ok(SAVED)
}

fn router<S: SessionStore + Clone>(store: S) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/set", get(set))
        .layer(SessionManagerLayer::new(store))
}

pub(super) fn serve_memory(port: u16) -> io::Result<()> {
    run(port, async { Ok(router(MemoryStore::default())) })
}

pub(super) fn serve_sqlite(port: u16, dir: &Path, cache: bool) -> io::Result<()> {
    run(port, async move {
        let store = open_sqlite(dir, Sync::Default).await?;
        Ok(if cache {
            let moka = MokaStore::new(Some(CACHED_SESSIONS));
            router(CachingSessionStore::new(moka, store))
        } else {
            router(store)
        })
    })
}

pub(super) fn serve_redis(port: u16) -> io::Result<()> {
    run(port, async {
        let config = Config::from_url(&redis_url()).map_err(io::Error::other)?;
        let pool =
            Pool::new(config, None, None, None, REDIS_POOL_SIZE).map_err(io::Error::other)?;
        pool.init().await.map_err(io::Error::other)?;
        Ok(router(RedisStore::new(pool)))
    })
}

/// Deletes every key of the bench's Redis database: tower-sessions' keys have no prefix to
/// find them by.
pub(super) fn clear_redis() -> io::Result<()> {
    redis_keys::delete_all()
}

pub(super) fn serve_postgres(port: u16, space: &Space) -> io::Result<()> {
    let table = space.table().to_owned();
    run(port, async move {
        let pool = PgPool::connect(POSTGRES_URL)
            .await
            .map_err(io::Error::other)?;
        let store = PostgresStore::new(pool)
            .with_schema_name(POSTGRES_SCHEMA)
            .and_then(|store| store.with_table_name(table))
            .map_err(io::Error::other)?;
        store.migrate().await.map_err(io::Error::other)?;
        Ok(router(store))
    })
}

/// Drops the table a PostgreSQL server kept its sessions in; the store has no call for it.
pub(super) fn clear_postgres(space: &Space) -> io::Result<()> {
    let drop_table = format!(
        r#"drop table if exists "{POSTGRES_SCHEMA}"."{}""#,
        space.table()
    );
    block_on(async move {
        let pool = PgPool::connect(POSTGRES_URL)
            .await
            .map_err(io::Error::other)?;
        sqlx::query(&drop_table)
            .execute(&pool)
            .await
            .map_err(io::Error::other)?;
        pool.close().await;
        Ok(())
    })
}

fn run(port: u16, app: impl Future<Output = io::Result<Router>>) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let app = app.await?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        axum::serve(listener, app).await
    })
}

/// How SQLite writes to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sync {
    /// sqlx's defaults, as the server runs them: every commit is on disk before it returns.
    Default,
    /// No syncing at all, to fill a store quickly before the rounds start.
    Off,
}

/// Opens (creating where needed) the tower-sessions SQLite store in `dir`.
pub(crate) async fn open_sqlite(dir: &Path, sync: Sync) -> io::Result<SqliteStore> {
    std::fs::create_dir_all(dir)?;
    let mut options = SqliteConnectOptions::new()
        .filename(dir.join(SQLITE_FILE))
        .create_if_missing(true);
    if sync == Sync::Off {
        options = options.synchronous(SqliteSynchronous::Off);
    }
    let pool = SqlitePool::connect_with(options)
        .await
        .map_err(io::Error::other)?;
    let store = SqliteStore::new(pool);
    store.migrate().await.map_err(io::Error::other)?;
    Ok(store)
}
