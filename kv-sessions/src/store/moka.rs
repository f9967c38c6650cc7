//! Sessions in memory, on moka: a store of its own, or the cache in front of another store.

use std::collections::{HashMap, HashSet};
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
use crate::owner::{SessionOwner, UserSession};
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
///
/// # A user's sessions
/// As a store, it keeps an index from each user to the digests of the sessions bound to them,
/// changed under moka's per-key compute lock by the write that changes a session's binding (a
/// bind, an unbind, a renewal, a delete, a revocation) and by no other, so a save that leaves
/// the binding alone does no more than before. A renewal puts the new id in the index and in the
/// cache before it removes the old one, so that a revoke-all running meanwhile finds one of the
/// two. As a cache it keeps no index, and its reads, inserts and invalidations do no index work.
///
/// Sessions that moka expires or evicts leave the index lazily, not through an eviction
/// listener (which would cost the cache a notification per write): a listing of the user, and
/// every save that binds a session to the user, drops the user's entries whose session is gone.
/// An entry can therefore outlive its session until the user's next listing or login, but a
/// listing never shows it.
#[derive(Clone)]
pub struct MokaStore {
    cache: Cache<SessionDigest, Cell, DigestHash>,
    stripes: Arc<[Mutex<Stripe>]>,
    owners: Arc<Owners>,
}

/// Which sessions are bound to each user, for a [`MokaStore`] used as a store.
///
/// The rule it keeps: **every live session in the cache bound to a user is in that user's set.**
/// A digest joins a set, under the session's compute lock, before the session is written bound;
/// it leaves a set only under that lock, where the session is no longer bound to the user or is
/// being removed. A set may hold sessions that are gone, until a listing or a bind trims it.
///
/// Each change of a user's set gives it a new generation, drawn from one counter, so that no
/// two states of a set, even across its removal and return, share one. A listing reads the
/// set's sessions one by one, and a renewal could move a session from a digest the listing has
/// yet to read to one it has already passed; the listing therefore starts over when the
/// generation moved while it read.
#[derive(Default)]
struct Owners {
    users: Mutex<Users>,
}

/// The sets of [`Owners`], behind its lock.
#[derive(Default)]
struct Users {
    sets: HashMap<Box<str>, UserSet>,
    /// How many changes the sets have seen: the source of generations.
    changes: u64,
}

/// The sessions bound to one user.
#[derive(Default)]
struct UserSet {
    generation: u64,
    sessions: HashSet<SessionDigest>,
}

impl Owners {
    fn users(&self) -> MutexGuard<'_, Users> {
        // A panic cannot leave a set half-changed: each change is one insert or one removal.
        self.users.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The generation of `user`'s set, and its sessions.
    fn snapshot(&self, user: &str) -> (Option<u64>, Vec<SessionDigest>) {
        let users = self.users();
        users.sets.get(user).map_or((None, Vec::new()), |set| {
            (Some(set.generation), set.sessions.iter().copied().collect())
        })
    }

    fn generation(&self, user: &str) -> Option<u64> {
        self.users().sets.get(user).map(|set| set.generation)
    }

    fn add(&self, user: &str, digest: SessionDigest) {
        let mut users = self.users();
        users.changes += 1;
        let generation = users.changes;
        let set = users.sets.entry(user.into()).or_default();
        set.sessions.insert(digest);
        set.generation = generation;
    }

    fn remove(&self, user: &str, digest: SessionDigest) {
        let mut users = self.users();
        users.changes += 1;
        let generation = users.changes;
        let Some(set) = users.sets.get_mut(user) else {
            return;
        };
        set.sessions.remove(&digest);
        set.generation = generation;
        if set.sessions.is_empty() {
            users.sets.remove(user);
        }
    }

    /// Moves `digest` from the set of `before` to that of `after`, where the two differ; where
    /// they are the same, it does nothing at all.
    fn rebind(&self, digest: SessionDigest, before: Option<&str>, after: Option<&str>) {
        if before == after {
            return;
        }
        if let Some(before) = before {
            self.remove(before, digest);
        }
        if let Some(after) = after {
            self.add(after, digest);
        }
    }
}

/// The user `record` is bound to, if any.
fn user_of(record: &Record) -> Option<&str> {
    record.owner().map(SessionOwner::user)
}

/// Whether `record` is bound to `user`.
fn bound_to(record: &Record, user: &str) -> bool {
    user_of(record) == Some(user)
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
        Self {
            cache,
            stripes,
            owners: Arc::default(),
        }
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
    /// store. Where the stored result is bound to another user than the live record, the owners
    /// index follows, before the record is written.
    async fn compute(
        &self,
        id: &SessionId,
        merge: impl FnOnce(Option<Record>) -> Result<Saved, StoreError>,
    ) -> Result<Saved, StoreError> {
        let digest = id.digest();
        let mut outcome = None;
        self.cache
            .entry(digest)
            .and_compute_with(|stored| {
                let base = stored.and_then(|entry| live(entry.value()));
                let before = base.as_ref().and_then(Record::shared_owner);
                let merged = merge(base);
                let op = match &merged {
                    Ok(Saved::Stored(record)) => {
                        let before = before.as_deref().map(SessionOwner::user);
                        self.owners.rebind(digest, before, user_of(record));
                        Op::Put(cell(record.clone(), Instant::now()))
                    }
                    _ => Op::Nop,
                };
                outcome = Some(merged);
                std::future::ready(op)
            })
            .await;
        outcome.unwrap_or_else(|| Err(StoreError::backend("moka skipped a session write")))
    }

    /// Creates `new` from `changes` applied to `base`, the live record of the session being
    /// renewed (if any), as [`SessionStore::renew`] does.
    async fn create_moved(
        &self,
        new: &SessionId,
        base: Option<&Record>,
        changes: &Changes,
        now: SystemTime,
    ) -> Result<Saved, StoreError> {
        let record = match changes.apply_to_renewal(*new, base, now) {
            Ok(record) => record,
            Err(answer) => return Ok(answer),
        };
        self.compute(new, |stored| match stored {
            Some(_) => Err(StoreError::id_in_use()),
            None => Ok(Saved::Stored(record)),
        })
        .await
    }

    /// Removes the session `digest` through the compute path where `doomed` says so of its
    /// record (live or not), takes it out of the owners index in the same step, and returns the
    /// record it removed.
    async fn remove_session(
        &self,
        digest: SessionDigest,
        doomed: impl FnOnce(&Record) -> bool,
    ) -> Option<Cell> {
        let removed = self
            .cache
            .entry(digest)
            .and_compute_with(|stored| {
                let record = stored.map(|entry| lock(entry.value()).record.clone());
                let remove = record.as_ref().is_some_and(doomed);
                if let Some(user) = record.as_ref().filter(|_| remove).and_then(user_of) {
                    self.owners.remove(user, digest);
                }
                std::future::ready(if remove { Op::Remove } else { Op::Nop })
            })
            .await;
        match removed {
            CompResult::Removed(entry) => Some(entry.into_value()),
            _ => None,
        }
    }

    /// Drops `digest` from the set of `user` where, under its compute lock, the session is no
    /// longer live and bound to `user`.
    async fn trim(&self, user: &str, digest: SessionDigest) {
        self.cache
            .entry(digest)
            .and_compute_with(|stored| {
                let bound = stored
                    .and_then(|entry| live(entry.value()))
                    .is_some_and(|record| bound_to(&record, user));
                if !bound {
                    self.owners.remove(user, digest);
                }
                std::future::ready(Op::Nop)
            })
            .await;
    }

    /// The live sessions bound to `user`, read until a pass over the user's set sees it keep
    /// one generation throughout; the entries whose session is gone are dropped on the way.
    async fn list(&self, user: &str) -> Vec<UserSession> {
        loop {
            let (generation, digests) = self.owners.snapshot(user);
            let mut sessions = Vec::with_capacity(digests.len());
            for digest in digests {
                let cached = self.cache.get(&digest).await;
                match cached.and_then(|cell| live(&cell)) {
                    Some(record) if bound_to(&record, user) => {
                        sessions.extend(UserSession::of(&record));
                    }
                    _ => self.trim(user, digest).await,
                }
            }
            if self.owners.generation(user) == generation {
                return sessions;
            }
        }
    }

    /// After a save of `changes` stored `saved`: where the changes bound the session to a user,
    /// drops that user's entries whose session is gone, so that the sets of users who sign in
    /// again and again do not grow with their expired sessions.
    async fn trim_after_bind(&self, changes: &Changes, saved: &Result<Saved, StoreError>) {
        if let (Some(Some(owner)), Ok(Saved::Stored(_))) = (changes.owner(), saved) {
            self.list(owner.user()).await;
        }
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
        let saved = self
            .compute(id, |stored| match stored {
                Some(_) => Err(StoreError::id_in_use()),
                None => Ok(changes.apply_to(*id, None, now).into()),
            })
            .await;
        self.trim_after_bind(changes, &saved).await;
        saved
    }

    async fn update(&self, id: &SessionId, changes: &Changes) -> Result<Saved, StoreError> {
        let now = SystemTime::now();
        let saved = self
            .compute(id, |stored| match stored {
                Some(base) => Ok(changes.apply_to(*id, Some(&base), now).into()),
                None => Ok(Saved::Gone),
            })
            .await;
        self.trim_after_bind(changes, &saved).await;
        saved
    }

    /// Moves the session under the old id's compute lock: the new id is written, and indexed,
    /// before the old one leaves the cache and the index, so a concurrent update of the old id
    /// either moves with it or finds it gone, and a revoke-all finds one of the two.
    async fn renew(
        &self,
        old: &SessionId,
        new: &SessionId,
        changes: &Changes,
    ) -> Result<Saved, StoreError> {
        let now = SystemTime::now();
        let from = old.digest();
        let mut outcome = None;
        let moved = &mut outcome;
        self.cache
            .entry(from)
            .and_compute_with(|stored| async move {
                let base = stored.and_then(|entry| live(entry.value()));
                let saved = self.create_moved(new, base.as_ref(), changes, now).await;
                let op = match (&saved, &base) {
                    (Ok(Saved::Stored(_)), Some(base)) => {
                        if let Some(user) = user_of(base) {
                            self.owners.remove(user, from);
                        }
                        Op::Remove
                    }
                    _ => Op::Nop,
                };
                *moved = Some(saved);
                op
            })
            .await;
        let saved =
            outcome.unwrap_or_else(|| Err(StoreError::backend("moka skipped a session renewal")));
        self.trim_after_bind(changes, &saved).await;
        saved
    }

    async fn delete(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        let removed = self.remove_session(id.digest(), |_| true).await;
        Ok(removed.and_then(|cell| live(&cell)))
    }

    /// Reads the user's set, and each of its sessions from the cache.
    async fn sessions_of(&self, user: &str) -> Result<Vec<UserSession>, StoreError> {
        Ok(self.list(user).await)
    }

    /// Removes the session, and its entry in the user's set, under its compute lock.
    async fn revoke(&self, user: &str, session: SessionDigest) -> Result<bool, StoreError> {
        let now = SystemTime::now();
        let removed = self
            .remove_session(session, |record| {
                !record.is_expired_at(now) && bound_to(record, user)
            })
            .await;
        Ok(removed.is_some())
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

#[cfg(test)]
mod owners {
    use super::*;
    use crate::changes::SessionPolicy;

    fn changes(ttl: Duration) -> Changes {
        let mut changes = Changes::new(SessionPolicy::new(Expiry::OnInactivity(ttl)));
        changes.set("k", "1");
        changes
    }

    fn writing() -> Changes {
        changes(Duration::from_secs(600))
    }

    fn binding(user: &str) -> Changes {
        let mut changes = writing();
        changes.bind(SessionOwner::new(user).with_label("phone"));
        changes
    }

    /// The digests in `user`'s set, sorted.
    fn indexed(store: &MokaStore, user: &str) -> Vec<SessionDigest> {
        let (_, mut digests) = store.owners.snapshot(user);
        digests.sort();
        digests
    }

    async fn listed(store: &MokaStore, user: &str) -> Vec<SessionDigest> {
        let mut listed: Vec<_> = store
            .sessions_of(user)
            .await
            .expect("list")
            .iter()
            .map(UserSession::handle)
            .collect();
        listed.sort();
        listed
    }

    fn index_changes(store: &MokaStore) -> u64 {
        store.owners.users().changes
    }

    #[actix_rt::test]
    async fn the_index_follows_a_bind_a_rebind_and_an_unbind() {
        let store = MokaStore::new(100);
        let id = SessionId::generate();
        store.create(&id, &binding("alice")).await.expect("create");
        assert_eq!(indexed(&store, "alice"), [id.digest()]);
        assert_eq!(listed(&store, "alice").await, [id.digest()]);

        store.update(&id, &binding("bob")).await.expect("rebind");
        assert_eq!(indexed(&store, "alice"), []);
        assert_eq!(listed(&store, "bob").await, [id.digest()]);

        let mut unbinding = writing();
        unbinding.unbind();
        store.update(&id, &unbinding).await.expect("unbind");
        assert_eq!(indexed(&store, "bob"), []);
        assert!(store.load(&id).await.expect("load").is_some());
    }

    #[actix_rt::test]
    async fn a_renewal_moves_the_entry_to_the_new_id() {
        let store = MokaStore::new(100);
        let (old, new) = (SessionId::generate(), SessionId::generate());
        store.create(&old, &binding("alice")).await.expect("create");
        let renewed = store.renew(&old, &new, &writing()).await.expect("renew");
        assert!(matches!(renewed, Saved::Stored(record) if bound_to(&record, "alice")));
        assert_eq!(indexed(&store, "alice"), [new.digest()]);
        assert_eq!(store.load(&old).await.expect("load"), None);
    }

    #[actix_rt::test]
    async fn a_renewal_that_binds_indexes_only_the_new_id() {
        let store = MokaStore::new(100);
        let (old, new) = (SessionId::generate(), SessionId::generate());
        store.create(&old, &writing()).await.expect("create");
        store
            .renew(&old, &new, &binding("alice"))
            .await
            .expect("renew");
        assert_eq!(listed(&store, "alice").await, [new.digest()]);
    }

    #[actix_rt::test]
    async fn a_delete_and_a_revocation_remove_the_entry() {
        let store = MokaStore::new(100);
        let (deleted, revoked) = (SessionId::generate(), SessionId::generate());
        store
            .create(&deleted, &binding("alice"))
            .await
            .expect("create");
        store
            .create(&revoked, &binding("alice"))
            .await
            .expect("create");
        store.delete(&deleted).await.expect("delete");
        assert_eq!(indexed(&store, "alice"), [revoked.digest()]);

        assert!(!store.revoke("bob", revoked.digest()).await.expect("revoke"));
        assert!(
            store
                .revoke("alice", revoked.digest())
                .await
                .expect("revoke")
        );
        assert!(
            !store
                .revoke("alice", revoked.digest())
                .await
                .expect("revoke")
        );
        assert_eq!(store.load(&revoked).await.expect("load"), None);
        assert_eq!(indexed(&store, "alice"), []);
        assert_eq!(
            store.update(&revoked, &writing()).await.expect("update"),
            Saved::Gone,
            "a request in flight cannot bring it back"
        );
    }

    #[actix_rt::test]
    async fn a_save_that_leaves_the_binding_alone_does_no_index_work() {
        let store = MokaStore::new(100);
        let (unbound, bound, renewed) = (
            SessionId::generate(),
            SessionId::generate(),
            SessionId::generate(),
        );
        store.create(&unbound, &writing()).await.expect("create");
        store.update(&unbound, &writing()).await.expect("update");
        store
            .renew(&unbound, &renewed, &writing())
            .await
            .expect("renew");
        store.delete(&renewed).await.expect("delete");
        assert_eq!(index_changes(&store), 0);

        store
            .create(&bound, &binding("alice"))
            .await
            .expect("create");
        let after_bind = index_changes(&store);
        store.update(&bound, &writing()).await.expect("update");
        assert_eq!(index_changes(&store), after_bind);
    }

    #[actix_rt::test]
    async fn as_a_cache_it_does_no_index_work() {
        let cache = MokaStore::new(100);
        let id = SessionId::generate();
        let now = SystemTime::now();
        let record = Record::new(id, 1, now, now + Duration::from_secs(60), [])
            .with_owner(SessionOwner::new("alice"), now);
        SessionCache::insert_created(&cache, record.clone()).await;
        let seen = cache.epoch(&id);
        SessionCache::insert(&cache, record.clone(), seen).await;
        assert!(SessionCache::get(&cache, &id).await.is_some());
        cache.hear(&Invalidation::removed(id.digest())).await;
        SessionCache::insert(&cache, record, cache.epoch(&id)).await;
        SessionCache::invalidate(&cache, &id).await;
        assert_eq!(index_changes(&cache), 0);
    }

    #[actix_rt::test]
    async fn expired_sessions_leave_the_index_at_the_next_listing_or_bind() {
        let store = MokaStore::new(100);
        let (expiring, listed_later, kept) = (
            SessionId::generate(),
            SessionId::generate(),
            SessionId::generate(),
        );
        for (id, user) in [(expiring, "alice"), (listed_later, "bob")] {
            // Long enough that the create's own trim, which lists the user, still finds it live
            // on a loaded machine.
            let mut short = changes(Duration::from_millis(200));
            short.bind(SessionOwner::new(user));
            store.create(&id, &short).await.expect("create");
        }
        actix_rt::time::sleep(Duration::from_millis(300)).await;

        store
            .create(&kept, &binding("alice"))
            .await
            .expect("create");
        assert_eq!(indexed(&store, "alice"), [kept.digest()], "the bind trims");
        assert_eq!(indexed(&store, "bob"), [listed_later.digest()]);
        assert_eq!(listed(&store, "bob").await, []);
        assert_eq!(indexed(&store, "bob"), [], "the listing trims");
    }

    #[actix_rt::test]
    async fn evicted_sessions_are_never_listed_and_leave_the_index() {
        let store = MokaStore::new(4);
        for _ in 0..64 {
            store
                .create(&SessionId::generate(), &binding("alice"))
                .await
                .expect("create");
            store.cache.run_pending_tasks().await;
        }
        let listed = listed(&store, "alice").await;
        assert!(listed.len() <= 4, "{} listed", listed.len());
        assert_eq!(indexed(&store, "alice"), listed);
    }

    #[actix_rt::test]
    async fn a_listing_shows_the_owners_label_and_times() {
        let store = MokaStore::new(100);
        let id = SessionId::generate();
        let Saved::Stored(record) = store.create(&id, &binding("alice")).await.expect("create")
        else {
            panic!("not stored");
        };
        let expected = UserSession::new(
            id.digest(),
            record.created_at(),
            record.saved_at().expect("bound"),
            record.expires_at(),
            Some("phone"),
        );
        assert_eq!(store.sessions_of("alice").await.expect("list"), [expected]);
    }

    /// Runs `work` on a thread of its own, with a runtime of its own, so that it races the
    /// others for real.
    fn on_a_thread<T: Send + 'static>(
        work: impl std::future::Future<Output = T> + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        std::thread::spawn(move || actix_rt::System::new().block_on(work))
    }

    #[test]
    fn no_session_escapes_a_revoke_all_racing_its_renewal() {
        let store = MokaStore::new(10_000);
        for _ in 0..200 {
            let (old, new) = (SessionId::generate(), SessionId::generate());
            actix_rt::System::new().block_on(async {
                store.create(&old, &binding("alice")).await.expect("create");
            });
            let barrier = Arc::new(std::sync::Barrier::new(2));
            let renewing = {
                let (store, barrier) = (store.clone(), Arc::clone(&barrier));
                on_a_thread(async move {
                    barrier.wait();
                    store.renew(&old, &new, &writing()).await.expect("renew")
                })
            };
            let revoking = {
                let (store, barrier) = (store.clone(), Arc::clone(&barrier));
                on_a_thread(async move {
                    barrier.wait();
                    store.revoke_all("alice", None).await.expect("revoke all")
                })
            };
            renewing.join().expect("renew thread");
            revoking.join().expect("revoke thread");
            actix_rt::System::new().block_on(async {
                assert_eq!(store.sessions_of("alice").await.expect("list"), []);
                for id in [old, new] {
                    let loaded = store.load(&id).await.expect("load");
                    assert!(
                        loaded.is_none_or(|record| record.owner().is_none()),
                        "{id:?}"
                    );
                }
            });
        }
    }
}
