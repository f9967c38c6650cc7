//! A session store of your own, written from the public [`SessionStore`] trait alone:
//! [`HashMapStore`] keeps sessions in a `HashMap` behind a lock.
//!
//! It is here to show what a store must guarantee, method by method, in the simplest setting
//! where every guarantee holds. It keeps sessions in one process's memory, unbounded, and loses
//! them on restart: for real use, take `MokaStore` (in memory, bounded) or `SledStore` (on
//! disk).
//!
//! The one idea to take away: every method applies its whole change in one atomic step against
//! the latest stored copy. Here the lock gives that; a database gives it with a transaction or a
//! compare-and-swap, Redis with a script.
//!
//! It also keeps the binding of sessions to users, so that an app can list a user's sessions and
//! revoke them. The binding travels inside the `Record`, which `Changes::apply_to` fills in, so
//! the store only answers the two questions, here by looking at every session. A store meant
//! for many sessions keeps an index from users to their sessions instead, changed in the same
//! atomic step as the record.
//!
//! Records stay `Record` values here, so nothing is ever decoded and no error arises. A store
//! that serializes records reports one it cannot decode as [`StoreError::corrupt`] (the session
//! layer then starts a fresh session) and any other failure as [`StoreError::backend`] (the
//! request fails with an opaque 500).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use kv_sessions::{
    Changes, Record, Saved, SessionDigest, SessionId, SessionStore, StoreError, UserSession,
};

/// Sessions in a `HashMap` behind a [`Mutex`].
///
/// Clones share the same sessions, so one store can be handed to the middleware and kept for
/// [`sweep_expired`](HashMapStore::sweep_expired).
///
/// ```
/// use kv_sessions::SessionMiddleware;
/// use kv_sessions_examples::custom_store::HashMapStore;
///
/// let store = HashMapStore::new();
/// let sessions = SessionMiddleware::builder(store.clone(), actix_web::cookie::Key::generate()).build();
/// # let _ = sessions;
/// ```
#[derive(Debug, Clone, Default)]
pub struct HashMapStore {
    sessions: Arc<Mutex<HashMap<SessionId, Record>>>,
}

/// Why [`HashMapStore::create`](SessionStore::create) refused an id: a live session holds it.
///
/// The session layer only creates sessions under ids it has just drawn at random, so this never
/// happens unless ids repeat; merging into the other session would hand its data to a stranger.
#[derive(Debug, thiserror::Error)]
#[error("session id {0} is already in use")]
pub struct IdInUse(SessionId);

impl HashMapStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of records held, expired ones included until they are swept.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether the store holds no record at all.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Deletes every expired record, and returns how many it deleted.
    ///
    /// No method ever returns an expired record, so this changes nothing a client can see: it
    /// only gives the memory back. A session the browser simply stops using is never deleted
    /// otherwise, so call this now and then, say every minute.
    pub fn sweep_expired(&self) -> usize {
        let now = SystemTime::now();
        let mut sessions = self.lock();
        let before = sessions.len();
        sessions.retain(|_, record| !record.is_expired_at(now));
        before - sessions.len()
    }

    /// The sessions, locked for one operation.
    ///
    /// No method panics while it holds the lock halfway through a change, so a lock poisoned by
    /// a panic elsewhere still guards a consistent map, and is taken as it is.
    fn lock(&self) -> MutexGuard<'_, HashMap<SessionId, Record>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `record` if it is still live at `now`. An expired record counts as absent everywhere: it is
/// never returned, never merged into, and never moved.
fn live(record: Option<&Record>, now: SystemTime) -> Option<&Record> {
    record.filter(|record| !record.is_expired_at(now))
}

/// Stores what `saved` holds, if it holds a record. [`Saved::Gone`] and [`Saved::TooLarge`]
/// write nothing.
fn keep(sessions: &mut HashMap<SessionId, Record>, saved: &Saved) {
    if let Saved::Stored(record) = saved {
        sessions.insert(record.id(), record.clone());
    }
}

impl SessionStore for HashMapStore {
    /// A live session, or `None`. An expired record may still sit in the map until it is swept,
    /// so the deadline is checked on every read.
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        Ok(live(self.lock().get(id), SystemTime::now()).cloned())
    }

    /// A new session from `changes` alone. `Changes::apply_to` with no base does the work: it
    /// applies the writes, sets version 1, the creation time (kept from the old id when the
    /// session is being moved by `renew`), the deadline, and checks the size cap.
    async fn create(&self, id: &SessionId, changes: &Changes) -> Result<Saved, StoreError> {
        let now = SystemTime::now();
        let mut sessions = self.lock();
        if live(sessions.get(id), now).is_some() {
            return Err(StoreError::backend(IdInUse(*id)));
        }
        let saved = Saved::from(changes.apply_to(*id, None, now));
        keep(&mut sessions, &saved);
        Ok(saved)
    }

    /// `changes` merged into the latest copy, read and written under one lock so that no other
    /// save can slip in between: two concurrent updates of different keys both survive.
    ///
    /// An update never creates. A session deleted, renewed away or expired since the request
    /// loaded it answers [`Saved::Gone`] and nothing is written; otherwise a request that was
    /// under way during a logout would bring the session back.
    async fn update(&self, id: &SessionId, changes: &Changes) -> Result<Saved, StoreError> {
        let now = SystemTime::now();
        let mut sessions = self.lock();
        let Some(base) = live(sessions.get(id), now) else {
            return Ok(Saved::Gone);
        };
        let saved = Saved::from(changes.apply_to(*id, Some(base), now));
        keep(&mut sessions, &saved);
        Ok(saved)
    }

    /// Moves the latest copy of `old`, with `changes`, to `new`, in one step under the lock.
    ///
    /// The provided method, a `delete` then a `create`, would be correct too; a store overrides
    /// it where it can do the move atomically, as here, so that a failure or a refusal between
    /// the two steps cannot lose the session. Where `old` is gone, none of its data moves: `new`
    /// holds only the writes of `changes`, and is not created when they write nothing.
    async fn renew(
        &self,
        old: &SessionId,
        new: &SessionId,
        changes: &Changes,
    ) -> Result<Saved, StoreError> {
        let now = SystemTime::now();
        let mut sessions = self.lock();
        let base = live(sessions.get(old), now).cloned();
        if base.is_none() && !changes.writes_a_value() {
            return Ok(Saved::Gone);
        }
        if live(sessions.get(new), now).is_some() {
            return Err(StoreError::backend(IdInUse(*new)));
        }
        let saved = Saved::from(changes.apply_to(*new, base.as_ref(), now));
        if let Saved::Stored(_) = saved {
            sessions.remove(old);
        }
        keep(&mut sessions, &saved);
        Ok(saved)
    }

    /// Removes the session, and hands back the record it held if that record was live. The
    /// provided `renew` moves what `delete` returns, so an expired record must never come back
    /// from here.
    async fn delete(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        let removed = self.lock().remove(id);
        Ok(removed.filter(|record| !record.is_expired_at(SystemTime::now())))
    }

    /// The live sessions bound to `user`. The handle of each is its id's digest: the listing
    /// may be shown to the user, and the id is what a cookie needs.
    async fn sessions_of(&self, user: &str) -> Result<Vec<UserSession>, StoreError> {
        let now = SystemTime::now();
        let sessions = self.lock();
        let owned = sessions.values().filter(|record| {
            !record.is_expired_at(now) && record.owner().is_some_and(|owner| owner.user() == user)
        });
        Ok(owned.filter_map(UserSession::of).collect())
    }

    /// Deletes the session with digest `session` if it is live and bound to `user`, under the
    /// lock, so that a concurrent renewal either moved it first (and a revoke-all's next listing
    /// finds it under its new id) or finds it gone.
    async fn revoke(&self, user: &str, session: SessionDigest) -> Result<bool, StoreError> {
        let now = SystemTime::now();
        let mut sessions = self.lock();
        let found = sessions.iter().find(|(id, record)| {
            id.digest() == session
                && !record.is_expired_at(now)
                && record.owner().is_some_and(|owner| owner.user() == user)
        });
        let Some((&id, _)) = found else {
            return Ok(false);
        };
        sessions.remove(&id);
        Ok(true)
    }
}
