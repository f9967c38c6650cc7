//! Sessions in memory, on moka: a store of its own, or the cache in front of another store.

use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use moka::future::Cache;
use moka::ops::compute::{CompResult, Op};

use super::{CacheEpoch, Invalidation, SessionCache, SessionStore};
use crate::changes::{Changes, Saved};
use crate::error::StoreError;
use crate::expiry::Expiry;
use crate::id::{SessionDigest, SessionId};
use crate::record::Record;

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
/// the cache at its session's deadline. Clones share the same cache. Entries are keyed by the
/// [`SessionDigest`] of their id, the name a shared store's [`Invalidation`]s use.
///
/// As a cache, it never puts back a session that was invalidated while a load of it was under
/// way. That guarantee does not rest on an entry that eviction could drop: each invalidation
/// moves on one of a fixed set of counters (the session's [`CacheEpoch`]) and is remembered
/// beside it, and an insert checks them under the entry's lock. An insert that a notice from the
/// store's feed spares (its copy is at least the version the notice announces) still goes in, so
/// that an instance's own save, announced back to it, does not cost its next read a miss.
///
/// As a cache, a session already cached is updated in place: a save then costs a lookup and a
/// lock rather than one of moka's writes. The entry keeps the lifetime it was cached with, so a
/// session whose deadline keeps moving is reloaded from the store now and then.
#[derive(Clone)]
pub struct MokaStore {
    cache: Cache<SessionDigest, Cell, DigestHash>,
    stripes: Arc<[Mutex<Stripe>]>,
}

/// How many epoch counters a cache keeps: enough that two sessions rarely share one.
const EPOCH_STRIPES: usize = 1024;

/// How many of its latest invalidations a stripe remembers, so that an insert whose epoch moved
/// on can tell whether any of them concerned its session.
const REMEMBERED: usize = 4;

/// The invalidations of the sessions of one stripe: how many there were, and the latest few.
#[derive(Default)]
struct Stripe {
    count: u64,
    recent: [Option<Invalidation>; REMEMBERED],
}

impl Stripe {
    fn note(&mut self, invalidation: Invalidation) {
        // The remainder is below REMEMBERED, so the cast cannot truncate.
        self.recent[(self.count % REMEMBERED as u64) as usize] = Some(invalidation);
        self.count += 1;
    }

    /// Whether a copy at `version` of session `digest`, loaded when the count was `seen`, may
    /// still be cached: every invalidation since then either concerns another session or spares
    /// that version.
    fn admits(&self, digest: SessionDigest, version: u64, seen: u64) -> bool {
        let since = self.count.saturating_sub(seen);
        if since == 0 {
            return true;
        }
        if since > REMEMBERED as u64 {
            return false;
        }
        (seen..self.count).all(|n| {
            // As above, the remainder cannot truncate.
            let noted = self.recent[(n % REMEMBERED as u64) as usize];
            noted.is_some_and(|noted| noted.digest() != digest || noted.spares(version))
        })
    }
}

/// One cache entry, shared so that it can be updated where it sits.
type Cell = Arc<Mutex<Entry>>;

/// A cached record, and the moment from which it is known to match the store.
struct Entry {
    record: Record,
    read_at: Instant,
}

fn cell(record: Record, read_at: Instant) -> Cell {
    Arc::new(Mutex::new(Entry { record, read_at }))
}

/// Locks a cell. A panic while it was locked cannot leave it half-written (it is only ever
/// replaced whole), so a poisoned lock is still used.
fn lock(cell: &Cell) -> MutexGuard<'_, Entry> {
    cell.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The record a cell holds, if it is live.
fn live(cell: &Cell) -> Option<Record> {
    let entry = lock(cell);
    (!entry.record.is_expired_at(SystemTime::now())).then(|| entry.record.clone())
}

/// Whether a cache that holds `cached` keeps it rather than `record`: only when it is a newer
/// version.
fn outranks(cached: &Record, record: &Record) -> bool {
    cached.version() > record.version()
}

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
            .build_with_hasher(DigestHash);
        let stripes = (0..EPOCH_STRIPES)
            .map(|_| Mutex::new(Stripe::default()))
            .collect();
        Self { cache, stripes }
    }

    async fn get_live(&self, id: &SessionId) -> Option<Record> {
        self.cache
            .get(&id.digest())
            .await
            .and_then(|cell| live(&cell))
    }

    fn stripe(&self, digest: &SessionDigest) -> MutexGuard<'_, Stripe> {
        let hash = DigestHash.hash_one(digest);
        // The modulus keeps the index below EPOCH_STRIPES, so the cast cannot truncate.
        let stripe = &self.stripes[(hash % EPOCH_STRIPES as u64) as usize];
        stripe.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn current_epoch(&self, digest: &SessionDigest) -> CacheEpoch {
        CacheEpoch::new(self.stripe(digest).count)
    }

    /// Whether `record`, of the session `digest`, loaded or saved when the epoch was `seen`, may
    /// be cached.
    fn admits(&self, digest: SessionDigest, record: &Record, seen: CacheEpoch) -> bool {
        self.stripe(&digest)
            .admits(digest, record.version(), seen.get())
    }

    /// Applies `changes` to the entry of `id` through moka's compute path, which runs one
    /// computation per key at a time. `merge` sees the live record, if any, and says what to
    /// store.
    async fn compute(
        &self,
        id: &SessionId,
        merge: impl FnOnce(Option<Record>) -> Result<Saved, StoreError>,
    ) -> Result<Saved, StoreError> {
        let mut outcome = None;
        self.cache
            .entry(id.digest())
            .and_compute_with(|stored| {
                let merged = merge(stored.and_then(|entry| live(entry.value())));
                let op = match &merged {
                    Ok(Saved::Stored(record)) => Op::Put(cell(record.clone(), Instant::now())),
                    _ => Op::Nop,
                };
                outcome = Some(merged);
                std::future::ready(op)
            })
            .await;
        outcome.unwrap_or_else(|| Err(StoreError::backend("moka skipped a session write")))
    }

    /// Caches `record`, of the session `digest`, through moka's compute path, unless an
    /// invalidation since `seen` forbids it or a newer version is cached.
    async fn insert_entry(&self, digest: SessionDigest, record: Record, seen: CacheEpoch) {
        self.cache
            .entry(digest)
            .and_compute_with(|cached| {
                let keep_cached = !self.admits(digest, &record, seen)
                    || cached.is_some_and(|cached| outranks(&lock(cached.value()).record, &record));
                std::future::ready(if keep_cached {
                    Op::Nop
                } else {
                    Op::Put(cell(record, seen.taken()))
                })
            })
            .await;
    }

    /// Updates the cached cell of `record`'s session, `digest`, in place, and says whether that
    /// cell is still the one in the cache, so that the update counts.
    async fn update_in_place(
        &self,
        digest: SessionDigest,
        cached: &Cell,
        record: &Record,
        seen: CacheEpoch,
    ) -> bool {
        {
            let mut slot = lock(cached);
            if !self.admits(digest, record, seen) {
                return true;
            }
            if !outranks(&slot.record, record) {
                slot.record = record.clone();
                slot.read_at = slot.read_at.max(seen.taken());
            }
        }
        self.cache
            .get(&digest)
            .await
            .is_some_and(|current| Arc::ptr_eq(&current, cached))
    }

    /// Removes the entry of `digest` through the compute path, where `stale` says its record
    /// must go, so that no insert checking its epoch can interleave, and returns the live record
    /// it removed.
    async fn remove_where(
        &self,
        digest: SessionDigest,
        stale: impl FnOnce(&Record) -> bool,
    ) -> Option<Record> {
        let removed = self
            .cache
            .entry(digest)
            .and_compute_with(|cached| {
                let remove = cached.is_some_and(|cached| stale(&lock(cached.value()).record));
                std::future::ready(if remove { Op::Remove } else { Op::Nop })
            })
            .await;
        match removed {
            CompResult::Removed(entry) => live(entry.value()),
            _ => None,
        }
    }
}

impl SessionStore for MokaStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        Ok(self.get_live(id).await)
    }

    async fn create(&self, id: &SessionId, changes: &Changes) -> Result<Saved, StoreError> {
        let now = SystemTime::now();
        self.compute(id, |stored| match stored {
            Some(_) => Err(StoreError::id_in_use()),
            None => Ok(changes.apply_to(*id, None, now).into()),
        })
        .await
    }

    async fn update(&self, id: &SessionId, changes: &Changes) -> Result<Saved, StoreError> {
        let now = SystemTime::now();
        self.compute(id, |stored| match stored {
            Some(base) => Ok(changes.apply_to(*id, Some(&base), now).into()),
            None => Ok(Saved::Gone),
        })
        .await
    }

    async fn delete(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        Ok(self.remove_where(id.digest(), |_| true).await)
    }
}

impl SessionCache for MokaStore {
    async fn get(&self, id: &SessionId) -> Option<Record> {
        self.get_live(id).await
    }

    async fn get_fresh(
        &self,
        id: &SessionId,
        at_least: u64,
        read_since: Option<Instant>,
    ) -> Option<Record> {
        let cell = self.cache.get(&id.digest()).await?;
        let entry = lock(&cell);
        let fresh = entry.record.version() >= at_least
            && read_since.is_none_or(|since| entry.read_at >= since)
            && !entry.record.is_expired_at(SystemTime::now());
        fresh.then(|| entry.record.clone())
    }

    fn epoch(&self, id: &SessionId) -> CacheEpoch {
        self.current_epoch(&id.digest())
    }

    async fn insert(&self, record: Record, seen: CacheEpoch) {
        let digest = record.id().digest();
        if let Some(cached) = self.cache.get(&digest).await {
            // The entry may have been evicted or replaced while it was being updated; then the
            // update went nowhere, and the record is cached the slow way.
            if self.update_in_place(digest, &cached, &record, seen).await {
                return;
            }
        }
        self.insert_entry(digest, record, seen).await;
    }

    /// A plain moka insert, with no lookup first and no per-key lock, and only while the cache
    /// has room.
    ///
    /// A full cache admits a new entry only where it has been read more often than the entry it
    /// would evict (moka's TinyLFU policy). A session that no request has read yet never has,
    /// so offering it to a full cache would cost an insert and a removal for nothing; its first
    /// load caches it like any other.
    async fn insert_created(&self, record: Record) {
        let full = self
            .cache
            .policy()
            .max_capacity()
            .is_some_and(|capacity| self.cache.entry_count() >= capacity);
        if !full {
            let digest = record.id().digest();
            self.cache
                .insert(digest, cell(record, Instant::now()))
                .await;
        }
    }

    async fn invalidate(&self, id: &SessionId) {
        self.hear(&Invalidation::removed(id.digest())).await;
    }

    /// Notes the notice in the session's stripe first, so that from then on no insert of a copy
    /// it does not spare gets in; then looks the session up the cheap way, and takes moka's
    /// compute path only where it finds a copy the notice does not spare. Most notices need no
    /// more: an instance's own saves, announced back to it, spare its copy, and in a broadcast
    /// fleet most notices name sessions this instance never cached.
    async fn hear(&self, invalidation: &Invalidation) {
        let digest = invalidation.digest();
        self.stripe(&digest).note(*invalidation);
        let stale = |cached: &Record| !invalidation.spares(cached.version());
        let cached = self.cache.get(&digest).await;
        if cached.is_some_and(|cell| stale(&lock(&cell).record)) {
            self.remove_where(digest, stale).await;
        }
    }
}

/// Hashes session digests by folding their bytes together.
///
/// A digest is a SHA-256 of an id of 122 random bits, and only ids the server minted reach the
/// cache (a cookie's id counts only under a valid signature), so no client can choose digests
/// that collide: the digest's own bits are as good a hash as SipHash's, at a fraction of the
/// cost.
#[derive(Debug, Clone, Copy)]
struct DigestHash;

impl BuildHasher for DigestHash {
    type Hasher = FoldHasher;

    fn build_hasher(&self) -> FoldHasher {
        FoldHasher(0)
    }
}

/// The hasher of [`DigestHash`]: each 8-byte word of input is XORed into the state.
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

/// Evicts each session at its deadline, and never later than [`Expiry::LONGEST`] from now, so
/// that no deadline read from a store can overflow moka's clock.
struct UntilDeadline;

impl UntilDeadline {
    fn remaining(cell: &Cell) -> Option<Duration> {
        let left = lock(cell)
            .record
            .expires_at()
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        Some(left.min(Expiry::LONGEST))
    }
}

impl moka::Expiry<SessionDigest, Cell> for UntilDeadline {
    fn expire_after_create(&self, _: &SessionDigest, cell: &Cell, _: Instant) -> Option<Duration> {
        Self::remaining(cell)
    }

    fn expire_after_update(
        &self,
        _: &SessionDigest,
        cell: &Cell,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Self::remaining(cell)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::changes::SessionPolicy;

    fn record(id: SessionId, version: u64, value: &str) -> Record {
        let now = SystemTime::now();
        let entries = BTreeMap::from([("k".to_string(), value.to_string())]);
        Record::new(id, version, now, now + Duration::from_secs(60), entries)
    }

    async fn insert(cache: &MokaStore, record: Record) {
        let seen = cache.epoch(&record.id());
        SessionCache::insert(cache, record, seen).await;
    }

    #[actix_rt::test]
    async fn a_cache_never_replaces_a_newer_version_with_an_older_one() {
        let cache = MokaStore::new(10);
        let id = SessionId::generate();
        insert(&cache, record(id, 2, "new")).await;
        insert(&cache, record(id, 1, "old")).await;
        assert_eq!(cache.get(&id).await.unwrap().get("k"), Some("new"));
        insert(&cache, record(id, 3, "newer")).await;
        assert_eq!(cache.get(&id).await.unwrap().get("k"), Some("newer"));
    }

    #[actix_rt::test]
    async fn a_created_session_is_cached_then_updated_like_any_other() {
        let cache = MokaStore::new(10);
        let id = SessionId::generate();
        SessionCache::insert_created(&cache, record(id, 1, "created")).await;
        assert_eq!(cache.get(&id).await.unwrap().get("k"), Some("created"));
        insert(&cache, record(id, 2, "updated")).await;
        assert_eq!(cache.get(&id).await.unwrap().get("k"), Some("updated"));
        SessionCache::invalidate(&cache, &id).await;
        assert_eq!(cache.get(&id).await, None);
    }

    #[actix_rt::test]
    async fn a_full_cache_is_not_offered_sessions_nobody_has_read() {
        let cache = MokaStore::new(2);
        let read = [SessionId::generate(), SessionId::generate()];
        for id in read {
            insert(&cache, record(id, 1, "read")).await;
        }
        cache.cache.run_pending_tasks().await;
        let created = SessionId::generate();
        SessionCache::insert_created(&cache, record(created, 1, "created")).await;
        assert_eq!(cache.get(&created).await, None, "not even for a moment");
        cache.cache.run_pending_tasks().await;
        assert_eq!(cache.get(&created).await, None);
        for id in read {
            assert!(
                cache.get(&id).await.is_some(),
                "the sessions that were read stay"
            );
        }
    }

    #[actix_rt::test]
    async fn a_cache_does_not_return_an_expired_record() {
        let cache = MokaStore::new(10);
        let id = SessionId::generate();
        let past = SystemTime::now() - Duration::from_secs(1);
        insert(&cache, Record::new(id, 1, past, past, BTreeMap::new())).await;
        assert_eq!(SessionCache::get(&cache, &id).await, None);
    }

    #[actix_rt::test]
    async fn a_copy_loaded_before_an_invalidation_is_never_cached() {
        let cache = MokaStore::new(10);
        let id = SessionId::generate();
        insert(&cache, record(id, 1, "v")).await;
        let seen_by_a_load = cache.epoch(&id);
        SessionCache::invalidate(&cache, &id).await;
        assert_eq!(SessionCache::get(&cache, &id).await, None);
        SessionCache::insert(&cache, record(id, 1, "v"), seen_by_a_load).await;
        assert_eq!(SessionCache::get(&cache, &id).await, None);
    }

    #[actix_rt::test]
    async fn an_invalidation_outlasts_a_cache_flooded_past_its_capacity() {
        let cache = MokaStore::new(8);
        let id = SessionId::generate();
        let seen_by_a_load = cache.epoch(&id);
        SessionCache::invalidate(&cache, &id).await;
        for _ in 0..1_000 {
            insert(&cache, record(SessionId::generate(), 1, "filler")).await;
        }
        cache.cache.run_pending_tasks().await;
        SessionCache::insert(&cache, record(id, 1, "purged"), seen_by_a_load).await;
        assert_eq!(SessionCache::get(&cache, &id).await, None);
    }

    #[actix_rt::test]
    async fn an_in_place_update_after_an_invalidation_does_nothing() {
        let cache = MokaStore::new(10);
        let id = SessionId::generate();
        insert(&cache, record(id, 1, "v1")).await;
        let seen_by_a_save = cache.epoch(&id);
        let cached = cache.cache.get(&id.digest()).await.expect("cached");
        cache
            .stripe(&id.digest())
            .note(Invalidation::removed(id.digest()));
        assert!(
            cache
                .update_in_place(id.digest(), &cached, &record(id, 2, "v2"), seen_by_a_save)
                .await
        );
        assert_eq!(lock(&cached).record.get("k"), Some("v1"));
    }

    #[actix_rt::test]
    async fn as_a_store_an_update_of_a_deleted_session_creates_nothing() {
        let store = MokaStore::new(10);
        let id = SessionId::generate();
        let mut changes = Changes::new(SessionPolicy::default());
        changes.set("a", "1");
        assert!(matches!(
            store.create(&id, &changes).await,
            Ok(Saved::Stored(_))
        ));
        let deleted = store.delete(&id).await.unwrap();
        assert_eq!(
            deleted
                .and_then(|r| r.get("a").map(str::to_owned))
                .as_deref(),
            Some("1")
        );
        assert_eq!(store.load(&id).await.unwrap(), None);
        assert_eq!(store.update(&id, &changes).await.unwrap(), Saved::Gone);
        assert_eq!(store.load(&id).await.unwrap(), None);
    }
}
