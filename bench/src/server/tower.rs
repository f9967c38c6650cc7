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
use tower_sessions_sqlx_store::SqliteStore;
use tower_sessions_sqlx_store::sqlx::sqlite::{
    SqliteConnectOptions, SqlitePool, SqliteSynchronous,
};

use super::{CACHED_SESSIONS, NO_VALUE, SAVED, VALUE};

/// The SQLite file inside a variant's directory.
const SQLITE_FILE: &str = "sessions.sqlite";

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
