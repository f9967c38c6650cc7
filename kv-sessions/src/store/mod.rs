//! Where sessions live: the [`SessionStore`] and [`SessionCache`] extension points and the
//! stores that ship with the crate.
//!
//! | type | role |
//! |---|---|
//! | [`SledStore`] | the embedded default: a local sled database that survives restarts |
//! | [`MokaStore`] | an in-memory store, and the usual [`SessionCache`] in front of another store |
//! | [`RedisStore`] | sessions in Redis, shared by every instance of an app |
//! | `PostgresStore` | sessions in a PostgreSQL table, shared by every instance (feature `postgres`) |
//! | [`CachedStore`] | a store that reads through a cache into another store |

use std::future::Future;
use std::time::{Instant, SystemTime};

use crate::changes::{Changes, Saved};
use crate::error::{Chain, StoreError};
use crate::id::{SessionDigest, SessionId};
use crate::owner::UserSession;
use crate::record::Record;

mod boxed;
mod cached;
mod feed;
mod measured;
#[cfg(feature = "moka")]
mod moka;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "sled")]
mod sled;

pub use self::boxed::BoxedStore;
pub(crate) use self::boxed::DynStore;
pub use self::cached::CachedStore;
pub(crate) use self::feed::Subscriber;
pub use self::feed::{Invalidation, InvalidationFeed, ParseInvalidationError};
pub(crate) use self::measured::Measured;
#[cfg(feature = "moka")]
pub use self::moka::MokaStore;
#[cfg(feature = "postgres")]
pub use self::postgres::{PostgresSslMode, PostgresStore, PostgresStoreBuilder};
#[cfg(feature = "redis")]
pub use self::redis::{InvalidationMode, RedisStore, RedisStoreBuilder};
#[cfg(feature = "sled")]
pub use self::sled::{Durability, SledStore, SledStoreBuilder};

/// How many times a store that writes with a version check (merge against a copy, write where
/// the session is still that copy) tries one write before it fails with
/// [`StoreError::contended`]. Every failed try means another write to the session succeeded in
/// between, so only a session written by dozens of requests at once, without pause, runs out.
#[cfg(any(feature = "redis", feature = "postgres"))]
pub(crate) const WRITE_ATTEMPTS: usize = 64;

/// How many times [`SessionStore::revoke_all`]'s provided method lists a user's sessions and
/// revokes what it found before it gives up: every pass after the first exists only because a
/// session of the user was renewed or created while the pass before it ran.
const REVOKE_PASSES: usize = 16;

/// Loads session `id` from `store` for a request whose cookie says the session has reached
/// version `at_least` (0 where the cookie does not say). A corrupt record is logged and deleted,
/// and counts as no session, so that the client gets a fresh one rather than an error it could
/// never get past.
pub(crate) async fn load_for_request(
    store: &dyn DynStore,
    id: &SessionId,
    at_least: u64,
) -> Result<Option<Record>, StoreError> {
    match store.load_at_least(id, at_least).await {
        Err(error @ StoreError::Corrupt(_)) => {
            tracing::warn!(error = %Chain(&error), "discarding a corrupt session record");
            if let Err(error) = store.delete(id).await {
                tracing::warn!(error = %Chain(&error), "could not delete a corrupt session record");
            }
            Ok(None)
        }
        loaded => loaded,
    }
}

/// A place to keep sessions.
///
/// Implement it to put sessions somewhere of your own. Expiry policy, caching, cookies and
/// change tracking are handled above it; a store applies [`Changes`] as they come, atomically.
///
/// # Contract
/// Every store follows these rules; the conformance suite of this repository checks them, and
/// the guide gives [the outcome of every pair of concurrent
/// operations](crate::guide::security#concurrent-requests-of-one-session) that follows from them.
///
/// - [`load`](SessionStore::load) never returns a record whose
///   [`expires_at`](Record::expires_at) has passed.
/// - [`create`](SessionStore::create) writes a new session under a freshly minted id. It never
///   merges into a live session that somehow holds the id; it fails instead.
/// - [`update`](SessionStore::update) applies the [`Changes`] **atomically to the latest stored
///   copy** and returns the result, with a version one above it. It **never creates**: where the
///   session is gone (deleted, renewed away, expired), nothing is written and the answer is
///   [`Saved::Gone`]. Two concurrent updates that write different keys both survive.
/// - Merging is [`Changes::apply_to`], and nothing else: which entries survive, which expiry rule
///   wins, the deadline and the size cap (a result past it is refused whole with
///   [`Saved::TooLarge`]). A store reads the latest copy, calls `apply_to`, and writes the result
///   only where the stored version is still the one it read, reading again where it is not.
/// - [`update_from`](SessionStore::update_from) is [`update`](SessionStore::update) given the
///   copy the request loaded, which may be stale. A store may merge against it instead of reading
///   first, but only behind the same version check; the provided method simply updates.
/// - [`renew`](SessionStore::renew) moves the latest copy of a session, with the changes, to a
///   new id and deletes the old id, as one operation. Where the old id is gone, none of its data
///   moves: the new session holds only the changes' writes (and is not created if they write no
///   value). The provided method does this correctly from `delete` and `create`; override it
///   where the backend can do it in one transaction, script or statement.
/// - [`delete`](SessionStore::delete) removes the session and hands back the live record it
///   removed, if there was one.
/// - A record that cannot be decoded is reported as [`StoreError::Corrupt`], an operation that
///   ran past the store's time limit as [`StoreError::Timeout`], and any other failure as
///   [`StoreError::Backend`].
///
/// A store that keeps [`Record::owner`] (every store of this crate does) also answers
/// [`sessions_of`](SessionStore::sessions_of) and [`revoke`](SessionStore::revoke):
///
/// - The binding is part of the record: every write stores the [`Record::owner`] that
///   `apply_to` returns, and a store keeps an index from each user to their sessions, changed in
///   the same atomic step as the record, and only by a write that changes the binding (so a
///   save that leaves it alone costs nothing more). A renewal moves the index entry with the
///   session; a delete and expiry remove it (expiry at the latest by the store's next sweep, or
///   where the index is lazily trimmed, by the next listing).
/// - `sessions_of` answers from the index, at a cost proportional to the user's sessions, and
///   never lists a session that has expired or is bound to someone else.
/// - `revoke` deletes a session only where it is live and bound to the given user, and
///   announces the deletion on the store's feed, as `delete` does.
/// - A store that keeps no binding leaves both provided methods, which fail with
///   [`StoreError::Unsupported`]: an app asking for a user's sessions learns that it cannot
///   have them, rather than that there are none.
///
/// The futures must be `Send`, so one store can serve every actix worker thread. Write the
/// methods as `async fn` in your `impl`.
///
/// ```no_run
/// use std::collections::HashMap;
/// use std::sync::Mutex;
/// use std::time::SystemTime;
///
/// use kv_sessions::{Changes, Record, Saved, SessionId, SessionStore, StoreError};
///
/// /// Sessions in a map behind a lock: every operation is atomic because it holds the lock.
/// #[derive(Default)]
/// struct MapStore(Mutex<HashMap<SessionId, Record>>);
///
/// impl MapStore {
///     fn live(&self, id: &SessionId) -> Option<Record> {
///         let map = self.0.lock().unwrap();
///         map.get(id).filter(|r| !r.is_expired_at(SystemTime::now())).cloned()
///     }
/// }
///
/// impl SessionStore for MapStore {
///     async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
///         Ok(self.live(id))
///     }
///
///     async fn create(&self, id: &SessionId, changes: &Changes) -> Result<Saved, StoreError> {
///         let mut map = self.0.lock().unwrap();
///         let saved = Saved::from(changes.apply_to(*id, None, SystemTime::now()));
///         if let Saved::Stored(record) = &saved {
///             map.insert(*id, record.clone());
///         }
///         Ok(saved)
///     }
///
///     async fn update(&self, id: &SessionId, changes: &Changes) -> Result<Saved, StoreError> {
///         let mut map = self.0.lock().unwrap();
///         let now = SystemTime::now();
///         let Some(base) = map.get(id).filter(|r| !r.is_expired_at(now)) else {
///             return Ok(Saved::Gone);
///         };
///         let saved = Saved::from(changes.apply_to(*id, Some(base), now));
///         if let Saved::Stored(record) = &saved {
///             map.insert(*id, record.clone());
///         }
///         Ok(saved)
///     }
///
///     async fn delete(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
///         let removed = self.0.lock().unwrap().remove(id);
///         Ok(removed.filter(|r| !r.is_expired_at(SystemTime::now())))
///     }
/// }
/// ```
pub trait SessionStore: Send + Sync + 'static {
    /// Reads the session `id`, or `None` where there is none or it has expired.
    fn load(
        &self,
        id: &SessionId,
    ) -> impl Future<Output = Result<Option<Record>, StoreError>> + Send;

    /// Reads the session `id`, which the caller knows to have reached version `at_least` (the
    /// version the client's cookie was issued for): [`load`](SessionStore::load), except that a
    /// cache must not answer with an older copy. A store always answers with its latest copy, and
    /// the provided method simply loads.
    fn load_at_least(
        &self,
        id: &SessionId,
        at_least: u64,
    ) -> impl Future<Output = Result<Option<Record>, StoreError>> + Send {
        let _ = at_least;
        self.load(id)
    }

    /// Creates the session `id`, a freshly minted id, from `changes` applied to nothing.
    fn create(
        &self,
        id: &SessionId,
        changes: &Changes,
    ) -> impl Future<Output = Result<Saved, StoreError>> + Send;

    /// Applies `changes` to the latest copy of the live session `id`; [`Saved::Gone`], with
    /// nothing written, where there is none.
    fn update(
        &self,
        id: &SessionId,
        changes: &Changes,
    ) -> impl Future<Output = Result<Saved, StoreError>> + Send;

    /// Applies `changes`, made by a request that loaded `loaded`, to the latest copy of that
    /// session: [`update`](SessionStore::update) with a hint.
    ///
    /// `loaded` may be stale: another request may have saved or deleted the session since. A
    /// store that merges against it (saving the read an update would make first) must write only
    /// where the stored version is still `loaded`'s, and otherwise merge against the latest copy.
    /// The provided method ignores the hint and calls `update`.
    fn update_from(
        &self,
        loaded: &Record,
        changes: &Changes,
    ) -> impl Future<Output = Result<Saved, StoreError>> + Send {
        async move { self.update(&loaded.id(), changes).await }
    }

    /// Moves the session `old`, with `changes` applied, to the freshly minted id `new`, and
    /// deletes `old`. Where `old` is gone, `new` gets only the writes of `changes`.
    ///
    /// The middleware mints `new` with [`SessionId::generate_successor`], so its digest starts
    /// with the same byte as `old`'s: a store may rely on that to keep the two side by side
    /// ([`RedisStore`] on Redis Cluster refuses other ids).
    ///
    /// The provided method deletes `old` first, taking the latest copy in the same step, and
    /// then creates `new` from it: a concurrent update of `old` either lands before the move and
    /// moves with it, or finds `old` gone; a concurrent delete either wins, and nothing moves, or
    /// finds nothing to delete. A crash between the two steps, or a merge past the size cap,
    /// loses the session rather than keeping both ids alive.
    ///
    #[cfg_attr(feature = "redis", doc = "[`RedisStore`]: crate::RedisStore")]
    #[cfg_attr(
        not(feature = "redis"),
        doc = "[`RedisStore`]: https://docs.rs/kv-sessions/latest/kv_sessions/struct.RedisStore.html"
    )]
    fn renew(
        &self,
        old: &SessionId,
        new: &SessionId,
        changes: &Changes,
    ) -> impl Future<Output = Result<Saved, StoreError>> + Send {
        async move {
            let moved = match self.delete(old).await? {
                Some(base) => changes.apply_to(*new, Some(&base), SystemTime::now()),
                None if changes.writes_a_value() => return self.create(new, changes).await,
                None => return Ok(Saved::Gone),
            };
            match moved {
                Ok(record) => self.create(new, &Changes::moving(&record, changes)).await,
                Err(refusal) => Ok(Saved::TooLarge(refusal)),
            }
        }
    }

    /// Deletes the session `id`, and returns the live record it held, if any. Deleting a session
    /// that does not exist is not an error.
    fn delete(
        &self,
        id: &SessionId,
    ) -> impl Future<Output = Result<Option<Record>, StoreError>> + Send;

    /// The feed on which this store announces every session it changes, for a cache in front of
    /// it to subscribe to; `None`, the provided answer, where it has none.
    ///
    /// A store shared by several app instances should offer one: without it, a
    /// [`CachedStore`] in front of it is safe for one instance only, since each instance's cache
    /// would keep serving its copy of a session another instance changed or purged. Wrappers
    /// ([`BoxedStore`], [`CachedStore`]) pass the feed of the store they wrap through.
    fn invalidations(&self) -> Option<InvalidationFeed> {
        None
    }

    /// The live sessions bound to `user`, in any order. The provided method fails with
    /// [`StoreError::Unsupported`].
    fn sessions_of(
        &self,
        user: &str,
    ) -> impl Future<Output = Result<Vec<UserSession>, StoreError>> + Send {
        let _ = user;
        async { Err(StoreError::owners_unsupported()) }
    }

    /// Deletes the session whose digest is `session` where it is live and bound to `user`, and
    /// says whether it did. The provided method fails with [`StoreError::Unsupported`].
    fn revoke(
        &self,
        user: &str,
        session: SessionDigest,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        let _ = (user, session);
        async { Err(StoreError::owners_unsupported()) }
    }

    /// Revokes every live session bound to `user` but `except`, and returns the digests of the
    /// sessions it revoked.
    ///
    /// When it returns, no session bound to `user` is live but `except` and those bound after
    /// it started: a session renewed meanwhile is revoked under its new id (a renewal moves the
    /// binding atomically, so the new id shows up in the next listing), and a request under way
    /// on a revoked session cannot bring it back. A login of the same user that binds a new
    /// session meanwhile may or may not be revoked, depending on whether its save lands before
    /// the last listing.
    ///
    /// The provided method lists the user's sessions and revokes each, and lists again until a
    /// listing finds nothing more to revoke; after 16 listings that each found another session,
    /// it fails with [`StoreError::Backend`]. Override it where the backend can do it in one
    /// step.
    fn revoke_all(
        &self,
        user: &str,
        except: Option<SessionDigest>,
    ) -> impl Future<Output = Result<Vec<SessionDigest>, StoreError>> + Send {
        async move {
            let mut revoked = Vec::new();
            for _ in 0..REVOKE_PASSES {
                let listed = self.sessions_of(user).await?;
                let targets: Vec<SessionDigest> = listed
                    .iter()
                    .map(UserSession::handle)
                    .filter(|handle| Some(*handle) != except)
                    .collect();
                if targets.is_empty() {
                    return Ok(revoked);
                }
                for target in targets {
                    if self.revoke(user, target).await? {
                        revoked.push(target);
                    }
                }
            }
            Err(StoreError::backend(RevokeOutpaced(REVOKE_PASSES)))
        }
    }
}

/// The failure of a revoke-all that kept finding new sessions of the user.
#[derive(Debug, thiserror::Error)]
#[error("new sessions of the user kept appearing: {0} listings each found another to revoke")]
struct RevokeOutpaced(usize);

/// Where a cache stands on one session id: how many times it was told to forget it, and when it
/// was asked. See [`SessionCache`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheEpoch {
    count: u64,
    taken: Instant,
}

impl CacheEpoch {
    /// The epoch numbered `count`, taken now.
    pub fn new(count: u64) -> Self {
        Self {
            count,
            taken: Instant::now(),
        }
    }

    /// Its number.
    pub fn get(self) -> u64 {
        self.count
    }

    /// When it was taken: a copy the store returned after this moment was read from the store no
    /// earlier than it.
    pub fn taken(self) -> Instant {
        self.taken
    }
}

/// A fast, lossy copy of sessions kept in front of a [`SessionStore`] by [`CachedStore`].
///
/// A cache may drop any entry at any time, so it has no errors to report: a cache that cannot
/// answer simply misses. It must never return an expired record, and it must never replace a
/// record with an older version of it, because two saves of one session can finish in either
/// order.
///
/// It must also never put back a session it was told to forget while a copy was on its way from
/// the store. [`CachedStore`] reads [`epoch`](SessionCache::epoch) before it asks the store, and
/// passes it to [`insert`](SessionCache::insert) with the answer; an
/// [`invalidate`](SessionCache::invalidate) in between moves the epoch on, and the insert must
/// then do nothing. The check and the write must be atomic with respect to `invalidate`. Epochs
/// may be shared between ids (a striped counter), which only costs an occasional skipped insert.
///
/// In front of a store that offers an [`InvalidationFeed`], the cache also hears the feed's
/// [`Invalidation`]s, which name sessions by their [`SessionDigest`](crate::SessionDigest), and
/// is asked for copies read from the store after a given moment: see
/// [`get_fresh`](SessionCache::get_fresh) and [`hear`](SessionCache::hear).
pub trait SessionCache: Send + Sync + 'static {
    /// The cached copy of session `id`, if there is a live one.
    fn get(&self, id: &SessionId) -> impl Future<Output = Option<Record>> + Send;

    /// The cached copy of session `id`, if there is a live one at version `at_least` or later,
    /// read from the store at or after `read_since` where that is given (the moment is the
    /// [`CacheEpoch::taken`] of the insert that cached it).
    ///
    /// The provided method serves [`get`](SessionCache::get)'s copy where it is new enough and
    /// no moment is given; a cache that does not remember when it read its copies misses
    /// whenever one is.
    fn get_fresh(
        &self,
        id: &SessionId,
        at_least: u64,
        read_since: Option<Instant>,
    ) -> impl Future<Output = Option<Record>> + Send {
        async move {
            if read_since.is_some() {
                return None;
            }
            self.get(id)
                .await
                .filter(|record| record.version() >= at_least)
        }
    }

    /// The epoch of `id` now, to be passed to a later [`insert`](SessionCache::insert).
    fn epoch(&self, id: &SessionId) -> CacheEpoch;

    /// Keeps `record`, unless `id` was invalidated since `seen` or a newer version of the same
    /// session is already cached.
    fn insert(&self, record: Record, seen: CacheEpoch) -> impl Future<Output = ()> + Send;

    /// Offers `record`, a session the store has just created under a fresh id. A cache may
    /// decline it, as it may drop any entry.
    ///
    /// No other request can know that id yet, so nothing can have invalidated it and no other
    /// version of it can be cached: a cache may skip the checks that
    /// [`insert`](SessionCache::insert) makes. The default makes them anyway.
    fn insert_created(&self, record: Record) -> impl Future<Output = ()> + Send {
        let seen = self.epoch(&record.id());
        self.insert(record, seen)
    }

    /// Forgets session `id`, and moves its epoch on.
    fn invalidate(&self, id: &SessionId) -> impl Future<Output = ()> + Send;

    /// Takes in a notice from the store's feed: forgets the copy of the session it names unless
    /// that copy is at least the notice's version, and refuses, from then on, an insert of an
    /// older copy whose load was under way (an insert whose epoch was taken before this call).
    fn hear(&self, invalidation: &Invalidation) -> impl Future<Output = ()> + Send;
}
