//! Sessions in memory, on moka: a store of its own, or the cache in front of another store.

use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use moka::future::Cache;
use moka::ops::compute::{CompResult, Op};

use super::{SessionCache, SessionStore};
use crate::error::StoreError;
use crate::id::SessionId;
use crate::record::{Changes, Record};

/// Sessions in a bounded in-memory [moka](https://docs.rs/moka) cache.
///
/// Use it two ways:
/// - as a [`SessionCache`] in front of a persistent store, through
///   [`SessionMiddlewareBuilder::cache`](crate::SessionMiddlewareBuilder::cache);
/// - as a [`SessionStore`] of its own, for tests and for apps whose sessions may vanish on
///   restart.
///
/// It holds at most `max_sessions` sessions and evicts the least useful ones past that (moka's
/// TinyLFU policy), so as a store of its own it can lose sessions under load. Each entry leaves
/// the cache at its session's deadline. Clones share the same cache.
///
/// A deleted session leaves a short-lived marker behind, so that a load that read the session
/// just before it was deleted cannot put it back into the cache.
///
/// As a cache, a session already cached is updated in place: a save then costs a lookup and a
/// lock rather than one of moka's writes. The entry keeps the lifetime it was cached with, so a
/// session whose deadline keeps moving is reloaded from the store now and then.
#[derive(Clone)]
pub struct MokaStore {
    cache: Cache<SessionId, Cell, IdHash>,
}

/// One cache entry, shared so that it can be updated where it sits.
type Cell = Arc<Mutex<Slot>>;

fn cell(slot: Slot) -> Cell {
    Arc::new(Mutex::new(slot))
}

/// Locks a cell. A panic while it was locked cannot leave it half-written (it is only ever
/// replaced whole), so a poisoned lock is still used.
fn lock(cell: &Cell) -> MutexGuard<'_, Slot> {
    cell.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What a cell holds.
fn read(cell: &Cell) -> Slot {
    lock(cell).clone()
}

/// Puts `record` in `cell` unless what the cell holds outranks it.
fn keep_newest(cell: &Cell, record: &Record) {
    let mut slot = lock(cell);
    if !slot.outranks(record) {
        *slot = Slot::Live(record.clone());
    }
}

/// What the cache holds for one session id.
#[derive(Clone)]
enum Slot {
    Live(Record),
    Deleted,
}

impl Slot {
    /// Whether the cache keeps this slot rather than `record`: a deletion marker always, a
    /// session only when it is a newer version.
    fn outranks(&self, record: &Record) -> bool {
        match self {
            Self::Live(cached) => cached.version() > record.version(),
            Self::Deleted => true,
        }
    }

    fn live(self) -> Option<Record> {
        match self {
            Self::Live(record) if !record.is_expired_at(SystemTime::now()) => Some(record),
            _ => None,
        }
    }
}

/// How long the marker of a deleted session stays: far longer than any load takes.
const DELETED_MARKER_TTL: Duration = Duration::from_secs(5 * 60);

impl std::fmt::Debug for MokaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MokaStore")
            .field("entries", &self.cache.entry_count())
            .finish()
    }
}

impl MokaStore {
    /// A cache that holds at most `max_sessions` sessions.
    pub fn new(max_sessions: u64) -> Self {
        let cache = Cache::builder()
            .max_capacity(max_sessions)
            .expire_after(UntilDeadline)
            .build_with_hasher(IdHash);
        Self { cache }
    }

    async fn get_live(&self, id: &SessionId) -> Option<Record> {
        self.cache.get(id).await.and_then(|cell| read(&cell).live())
    }

    async fn mark_deleted(&self, id: &SessionId) {
        self.cache.insert(*id, cell(Slot::Deleted)).await;
    }

    /// Caches `record` through moka's compute path, which replaces the entry unless it holds a
    /// deletion marker or a newer version.
    async fn insert_entry(&self, record: Record) {
        self.cache
            .entry(record.id())
            .and_compute_with(|cached| {
                let keep_cached =
                    cached.is_some_and(|cached| lock(cached.value()).outranks(&record));
                std::future::ready(if keep_cached {
                    Op::Nop
                } else {
                    Op::Put(cell(Slot::Live(record)))
                })
            })
            .await;
    }
}

impl SessionStore for MokaStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        Ok(self.get_live(id).await)
    }

    async fn save(&self, id: &SessionId, changes: &Changes) -> Result<Record, StoreError> {
        let now = SystemTime::now();
        let outcome = self
            .cache
            .entry(*id)
            .and_compute_with(|stored| {
                let base = stored.and_then(|entry| read(entry.value()).live());
                let record = changes.apply_to(*id, base.as_ref(), now);
                std::future::ready(Op::Put(cell(Slot::Live(record))))
            })
            .await;
        match outcome {
            CompResult::Inserted(entry) | CompResult::ReplacedWith(entry) => {
                if let Slot::Live(record) = read(entry.value()) {
                    return Ok(record);
                }
            }
            _ => {}
        }
        Err(StoreError::backend("moka did not store the session"))
    }

    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        self.mark_deleted(id).await;
        Ok(())
    }
}

impl SessionCache for MokaStore {
    async fn get(&self, id: &SessionId) -> Option<Record> {
        self.get_live(id).await
    }

    async fn insert(&self, record: Record) {
        let id = record.id();
        if let Some(cached) = self.cache.get(&id).await {
            keep_newest(&cached, &record);
            // The entry may have been evicted or replaced while it was being updated; then the
            // update went nowhere, and the record is cached the slow way.
            if self
                .cache
                .get(&id)
                .await
                .is_some_and(|current| Arc::ptr_eq(&current, &cached))
            {
                return;
            }
        }
        self.insert_entry(record).await;
    }

    async fn invalidate(&self, id: &SessionId) {
        self.mark_deleted(id).await;
    }
}

/// Hashes session ids by folding their bytes together.
///
/// An id is 122 random bits from the operating system, and only ids the server minted reach the
/// cache (a cookie's id counts only under a valid signature), so no client can choose ids that
/// collide: the id's own bits are as good a hash as SipHash's, at a fraction of the cost.
#[derive(Debug, Clone, Copy)]
struct IdHash;

impl BuildHasher for IdHash {
    type Hasher = FoldHasher;

    fn build_hasher(&self) -> FoldHasher {
        FoldHasher(0)
    }
}

/// The hasher of [`IdHash`]: each 8-byte word of input is XORed into the state.
struct FoldHasher(u64);

impl Hasher for FoldHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0; 8];
            word.iter_mut().zip(chunk).for_each(|(w, b)| *w = *b);
            self.0 = self.0.rotate_left(29) ^ u64::from_le_bytes(word);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Evicts each session at its deadline, and each deletion marker after its time.
struct UntilDeadline;

impl UntilDeadline {
    fn remaining(slot: &Slot) -> Option<Duration> {
        let left = match slot {
            Slot::Live(record) => record
                .expires_at()
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO),
            Slot::Deleted => DELETED_MARKER_TTL,
        };
        Some(left)
    }
}

impl moka::Expiry<SessionId, Cell> for UntilDeadline {
    fn expire_after_create(&self, _: &SessionId, cell: &Cell, _: Instant) -> Option<Duration> {
        Self::remaining(&lock(cell))
    }

    fn expire_after_update(
        &self,
        _: &SessionId,
        cell: &Cell,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Self::remaining(&lock(cell))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn record(id: SessionId, version: u64, value: &str) -> Record {
        let now = SystemTime::now();
        let entries = BTreeMap::from([("k".to_string(), value.to_string())]);
        Record::new(id, version, now, now + Duration::from_secs(60), entries)
    }

    #[actix_rt::test]
    async fn a_cache_never_replaces_a_newer_version_with_an_older_one() {
        let cache = MokaStore::new(10);
        let id = SessionId::generate();
        cache.insert(record(id, 2, "new")).await;
        cache.insert(record(id, 1, "old")).await;
        assert_eq!(cache.get(&id).await.unwrap().get("k"), Some("new"));
        cache.insert(record(id, 3, "newer")).await;
        assert_eq!(cache.get(&id).await.unwrap().get("k"), Some("newer"));
    }

    #[actix_rt::test]
    async fn a_cache_does_not_return_an_expired_record() {
        let cache = MokaStore::new(10);
        let id = SessionId::generate();
        let past = SystemTime::now() - Duration::from_secs(1);
        cache
            .insert(Record::new(id, 1, past, past, BTreeMap::new()))
            .await;
        assert_eq!(SessionCache::get(&cache, &id).await, None);
    }

    #[actix_rt::test]
    async fn an_invalidated_session_is_not_put_back_by_a_late_load() {
        let cache = MokaStore::new(10);
        let id = SessionId::generate();
        cache.insert(record(id, 1, "v")).await;
        SessionCache::invalidate(&cache, &id).await;
        assert_eq!(SessionCache::get(&cache, &id).await, None);
        cache.insert(record(id, 1, "v")).await;
        assert_eq!(SessionCache::get(&cache, &id).await, None);
    }

    #[actix_rt::test]
    async fn as_a_store_a_save_after_a_delete_starts_over() {
        let store = MokaStore::new(10);
        let id = SessionId::generate();
        let mut changes = Changes::new(SystemTime::now() + Duration::from_secs(60));
        changes.set("a", "1");
        store.save(&id, &changes).await.unwrap();
        store.delete(&id).await.unwrap();
        assert_eq!(store.load(&id).await.unwrap(), None);
        let mut changes = Changes::new(SystemTime::now() + Duration::from_secs(60));
        changes.set("b", "2");
        let saved = store.save(&id, &changes).await.unwrap();
        assert_eq!(saved.version(), 1);
        assert_eq!(saved.get("a"), None);
    }
}
