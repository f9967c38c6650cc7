//! The embedded default store, on sled.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::SessionStore;
use super::codec;
use crate::error::StoreError;
use crate::id::SessionId;
use crate::record::{Changes, Record};

/// The sled tree that holds one record per session, keyed by the id's 16 bytes.
const SESSIONS_TREE: &str = "sessions";
/// sled's page cache by default: modest, because the session cache sits in front of it.
const DEFAULT_CACHE_CAPACITY: u64 = 64 * 1024 * 1024;
/// How often sled writes its log to disk by default.
const DEFAULT_FLUSH_EVERY: Duration = Duration::from_millis(500);

/// Sessions in a local [sled](https://docs.rs/sled) database: nothing to install, and every
/// session survives a restart.
///
/// Every operation runs on tokio's blocking pool, so a read that misses sled's page cache never
/// stalls an actix worker. A save merges its [`Changes`] into the latest stored record with
/// sled's atomic compare-and-swap loop, so concurrent requests that write different keys of one
/// session all keep their writes.
///
/// # Durability
/// sled acknowledges a write once it is in its in-memory log and writes the log to disk in the
/// background, every 500 ms by default ([`SledStoreBuilder::flush_every`]). A crash of the process
/// or the machine can therefore lose the writes of the last flush interval. A graceful shutdown
/// loses nothing: call [`SledStore::flush`] once the server has stopped; dropping the last clone of
/// the store flushes too.
///
/// # Sharing
/// One directory can be open in one process at a time. Open the store once, before
/// `HttpServer::new`, and clone it (clones share the database).
///
/// ```no_run
/// # fn main() -> Result<(), kv_sessions::StoreError> {
/// let store = kv_sessions::SledStore::builder("sessions.sled")
///     .cache_capacity(32 * 1024 * 1024)
///     .open()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SledStore {
    db: sled::Db,
    sessions: sled::Tree,
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore").finish_non_exhaustive()
    }
}

impl SledStore {
    /// Opens (or creates) the store in directory `path`, with default settings.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::builder(path).open()
    }

    /// Starts configuring a store in directory `path`.
    pub fn builder(path: impl AsRef<Path>) -> SledStoreBuilder {
        SledStoreBuilder {
            path: path.as_ref().to_path_buf(),
            cache_capacity: DEFAULT_CACHE_CAPACITY,
            flush_every: Some(DEFAULT_FLUSH_EVERY),
        }
    }

    /// Writes every acknowledged save to disk, and returns once it is there.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let db = self.db.clone();
        run_blocking(move || db.flush().map(drop).map_err(StoreError::backend)).await
    }

    /// The number of stored records, counting expired ones that have not been removed yet.
    ///
    /// This walks the whole store on the calling thread: it is meant for tests and operators,
    /// not for request handlers.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Whether the store holds no records at all.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Stores raw `bytes` as the record of `id`, bypassing the encoder, so that tests can check
    /// how the store copes with damaged data.
    #[doc(hidden)]
    pub fn insert_raw(&self, id: &SessionId, bytes: &[u8]) -> Result<(), StoreError> {
        self.sessions
            .insert(id.as_bytes(), bytes)
            .map(drop)
            .map_err(StoreError::backend)
    }

    fn load_now(&self, id: SessionId) -> Result<Option<Record>, StoreError> {
        let Some(bytes) = self
            .sessions
            .get(id.as_bytes())
            .map_err(StoreError::backend)?
        else {
            return Ok(None);
        };
        let record = codec::decode(id, &bytes).map_err(StoreError::corrupt)?;
        if record.is_expired_at(SystemTime::now()) {
            self.remove_if_unchanged(id, &bytes)?;
            return Ok(None);
        }
        Ok(Some(record))
    }

    /// Removes an expired record, unless a concurrent save has replaced it meanwhile.
    fn remove_if_unchanged(&self, id: SessionId, seen: &sled::IVec) -> Result<(), StoreError> {
        let swapped = self
            .sessions
            .compare_and_swap(id.as_bytes(), Some(seen), None::<&[u8]>)
            .map_err(StoreError::backend)?;
        // A failed swap means a save got there first, and its record is live.
        drop(swapped);
        Ok(())
    }

    fn save_now(&self, id: SessionId, changes: &Changes) -> Result<Record, StoreError> {
        let now = SystemTime::now();
        let mut merged = None;
        self.sessions
            .update_and_fetch(id.as_bytes(), |stored| {
                let base = stored.and_then(|bytes| decode_for_merge(id, bytes));
                let record = changes.apply_to(id, base.as_ref(), now);
                let bytes = codec::encode(&record);
                merged = Some(record);
                Some(bytes)
            })
            .map_err(StoreError::backend)?;
        merged.ok_or_else(|| StoreError::backend("sled skipped the update of a session record"))
    }

    fn delete_now(&self, id: SessionId) -> Result<(), StoreError> {
        self.sessions
            .remove(id.as_bytes())
            .map(drop)
            .map_err(StoreError::backend)
    }
}

/// Decodes the stored copy a save merges into. A corrupt copy is replaced rather than merged:
/// the save still succeeds, and the damage is logged.
fn decode_for_merge(id: SessionId, bytes: &[u8]) -> Option<Record> {
    codec::decode(id, bytes)
        .inspect_err(|error| tracing::warn!(%error, "overwriting a corrupt session record"))
        .ok()
}

impl SessionStore for SledStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        let (store, id) = (self.clone(), *id);
        run_blocking(move || store.load_now(id)).await
    }

    async fn save(&self, id: &SessionId, changes: &Changes) -> Result<Record, StoreError> {
        let (store, id, changes) = (self.clone(), *id, changes.clone());
        run_blocking(move || store.save_now(id, &changes)).await
    }

    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        let (store, id) = (self.clone(), *id);
        run_blocking(move || store.delete_now(id)).await
    }
}

/// Settings for a [`SledStore`], from [`SledStore::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `open` is called"]
pub struct SledStoreBuilder {
    path: PathBuf,
    cache_capacity: u64,
    flush_every: Option<Duration>,
}

impl SledStoreBuilder {
    /// The most memory, in bytes, that sled may use for its page cache. Defaults to 64 MiB:
    /// with a session cache in front, sled's own cache mostly holds the index.
    pub fn cache_capacity(mut self, bytes: u64) -> Self {
        self.cache_capacity = bytes;
        self
    }

    /// How often sled writes acknowledged saves to disk in the background; this is the most a
    /// crash can lose. Defaults to 500 ms. `None` turns the background flush off, leaving only
    /// [`SledStore::flush`] and the flush on drop.
    pub fn flush_every(mut self, interval: Option<Duration>) -> Self {
        self.flush_every = interval;
        self
    }

    /// Opens the store. This touches the disk: call it at start-up, not inside a handler.
    pub fn open(self) -> Result<SledStore, StoreError> {
        let flush_every_ms = self
            .flush_every
            .map(|every| u64::try_from(every.as_millis()).unwrap_or(u64::MAX).max(1));
        let db = sled::Config::new()
            .path(&self.path)
            .cache_capacity(self.cache_capacity)
            .flush_every_ms(flush_every_ms)
            .open()
            .map_err(StoreError::backend)?;
        let sessions = db.open_tree(SESSIONS_TREE).map_err(StoreError::backend)?;
        Ok(SledStore { db, sessions })
    }
}

/// Runs store work on tokio's blocking pool.
async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(StoreError::backend)?
}
