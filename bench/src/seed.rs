//! Filling stores with sessions straight through their store APIs, faster than HTTP could:
//! the cold-read scenario's sessions, and the sessions whose memory and disk the footprint
//! measures.
//!
//! Every seeded session holds what `GET /set` leaves behind: `test_key` = "something" and
//! `counter` = 1.

use std::fs;
use std::io;
use std::path::Path;
use std::time::Duration;

use kv_sessions::{Changes, Expiry, SessionId, SessionPolicy, SessionStore, SledStore};
use tokio::task::JoinSet;

use crate::server::VALUE;
use crate::server::kv::CookieSigner;
use crate::variant::ColdStore;

/// How long seeded sessions live. A day, stored as the sessions' own rule, so that reads during
/// a long run never count as the activity that rewrites a session.
const SEEDED_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);
/// How many saves run at once while filling a store.
const PARALLEL_SAVES: usize = 4;

/// The bytes of data in one seeded session: its 16-byte id, and its keys and values as JSON.
pub(crate) const SESSION_DATA_BYTES: usize =
    16 + "test_key".len() + VALUE.len() + 2 + "counter".len() + 1;

/// Writes `sessions` sessions into a new `store` in `dir`, and their cookies, one per line, to
/// `cookies`.
pub(crate) fn seed(
    store: ColdStore,
    dir: &Path,
    sessions: usize,
    cookies: &Path,
) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let lines = runtime.block_on(async {
        match store {
            ColdStore::Sled => seed_sled(dir, sessions).await,
            #[cfg(feature = "peers")]
            ColdStore::Sqlite => tower::seed_sqlite(dir, sessions).await,
        }
    })?;
    fs::write(cookies, lines.join("\n") + "\n")
}

async fn seed_sled(dir: &Path, sessions: usize) -> io::Result<Vec<String>> {
    let store = SledStore::open(dir).map_err(io::Error::other)?;
    let signer = std::sync::Arc::new(CookieSigner::new());
    let cookies = fill_kv(&store, sessions, move |id| signer.cookie(id)).await?;
    store.flush().await.map_err(io::Error::other)?;
    Ok(cookies)
}

/// What a seeded kv-sessions session holds.
pub(crate) fn kv_changes() -> Changes {
    let mut changes = Changes::new(SessionPolicy::new(Expiry::OnInactivity(SEEDED_LIFETIME)));
    changes
        .set_expiry(Some(Expiry::OnInactivity(SEEDED_LIFETIME)))
        .insert("test_key", VALUE)
        .and_then(|changes| changes.insert("counter", 1))
        .expect("a string and a number serialize");
    changes
}

/// Saves `count` seeded sessions into `store`, and returns `keep` of each id (`()` keeps
/// nothing, and costs no memory).
pub(crate) async fn fill_kv<S, T>(
    store: &S,
    count: usize,
    keep: impl Fn(SessionId) -> T + Clone + Send + 'static,
) -> io::Result<Vec<T>>
where
    S: SessionStore + Clone,
    T: Send + 'static,
{
    let mut tasks = JoinSet::new();
    for share in shares(count) {
        let (store, keep) = (store.clone(), keep.clone());
        tasks.spawn(async move {
            let changes = kv_changes();
            let mut kept = Vec::with_capacity(share);
            for _ in 0..share {
                let id = SessionId::generate();
                store
                    .create(&id, &changes)
                    .await
                    .map_err(io::Error::other)?;
                kept.push(keep(id));
            }
            Ok::<_, io::Error>(kept)
        });
    }
    collect(tasks).await
}

/// `count` split into [`PARALLEL_SAVES`] near-equal parts.
fn shares(count: usize) -> impl Iterator<Item = usize> {
    (0..PARALLEL_SAVES)
        .map(move |i| count / PARALLEL_SAVES + usize::from(i < count % PARALLEL_SAVES))
}

async fn collect<T: 'static>(mut tasks: JoinSet<io::Result<Vec<T>>>) -> io::Result<Vec<T>> {
    let mut all = Vec::new();
    while let Some(done) = tasks.join_next().await {
        all.extend(done.map_err(io::Error::other)??);
    }
    Ok(all)
}

/// Seeding tower-sessions stores.
#[cfg(feature = "peers")]
pub(crate) mod tower {
    use std::collections::HashMap;
    use std::io;
    use std::path::Path;

    use tokio::task::JoinSet;
    use tower_sessions::SessionStore;
    use tower_sessions::cookie::time::{Duration, OffsetDateTime};
    use tower_sessions::session::{Id, Record};

    use super::{SEEDED_LIFETIME, collect, shares};
    use crate::server::VALUE;
    use crate::server::tower::{Sync, open_sqlite};

    /// tower-sessions' cookie name.
    const COOKIE_NAME: &str = "id";

    pub(super) async fn seed_sqlite(dir: &Path, sessions: usize) -> io::Result<Vec<String>> {
        let store = open_sqlite(dir, Sync::Off).await?;
        fill(&store, sessions, |id| format!("{COOKIE_NAME}={id}")).await
    }

    /// What a seeded tower-sessions session holds.
    pub(crate) fn record() -> Record {
        let lifetime = Duration::seconds(i64::try_from(SEEDED_LIFETIME.as_secs()).unwrap_or(0));
        Record {
            id: Id::default(),
            data: HashMap::from([
                ("test_key".to_owned(), VALUE.into()),
                ("counter".to_owned(), 1.into()),
            ]),
            expiry_date: OffsetDateTime::now_utc() + lifetime,
        }
    }

    /// Saves `count` seeded sessions into `store`, and returns `keep` of each id.
    pub(crate) async fn fill<S, T>(
        store: &S,
        count: usize,
        keep: impl Fn(Id) -> T + Clone + Send + 'static,
    ) -> io::Result<Vec<T>>
    where
        S: SessionStore + Clone,
        T: Send + 'static,
    {
        let mut tasks = JoinSet::new();
        for share in shares(count) {
            let (store, keep) = (store.clone(), keep.clone());
            tasks.spawn(async move {
                let mut kept = Vec::with_capacity(share);
                for _ in 0..share {
                    let record = record();
                    store.save(&record).await.map_err(io::Error::other)?;
                    kept.push(keep(record.id));
                }
                Ok::<_, io::Error>(kept)
            });
        }
        collect(tasks).await
    }
}
