//! A store under test, whatever its type, with handles to look beneath it.

use std::sync::Arc;

use kv_sessions::{
    BoxedStore, CachedStore, Changes, InvalidationFeed, MokaStore, Record, Saved, SessionDigest,
    SessionId, SessionStore, SledStore, StoreError, UserSession,
};

use crate::engine::Opened;
use crate::fault::{Faults, FaultyStore};
use crate::shared::Scratch;

/// A store under test, whatever its type: the stack the middleware talks to, and handles to look
/// beneath it. A [`FaultyStore`] sits at the bottom of every stack, under any cache, so that
/// tests can make the store itself misbehave.
#[derive(Debug, Clone)]
pub struct AnyStore {
    top: BoxedStore,
    bottom: BoxedStore,
    faults: Arc<Faults>,
    sled: Option<SledStore>,
    scratch: Option<Arc<dyn Scratch>>,
}

impl AnyStore {
    /// `store`, under a fault layer.
    pub fn plain<S: SessionStore + Clone>(store: S) -> Self {
        let faulty = FaultyStore::new(store.clone());
        Self {
            faults: Arc::clone(faulty.faults()),
            top: BoxedStore::new(faulty),
            bottom: BoxedStore::new(store),
            sled: None,
            scratch: None,
        }
    }

    /// `store`, under a fault layer, under `cache`.
    pub fn cached<S: SessionStore + Clone>(cache: MokaStore, store: S) -> Self {
        let faulty = FaultyStore::new(store.clone());
        Self {
            faults: Arc::clone(faulty.faults()),
            top: BoxedStore::new(CachedStore::new(cache, faulty)),
            bottom: BoxedStore::new(store),
            sled: None,
            scratch: None,
        }
    }

    /// The store an engine `opened`, under a fault layer, under `cache` where there is one.
    pub(crate) fn stacked(opened: Opened, cache: Option<MokaStore>) -> Self {
        let stack = match cache {
            Some(cache) => Self::cached(cache, opened.store),
            None => Self::plain(opened.store),
        };
        Self {
            sled: opened.sled,
            scratch: opened.scratch,
            ..stack
        }
    }

    /// The same stack, noting that `sled` is the database at its bottom.
    pub fn on_sled(mut self, sled: SledStore) -> Self {
        self.sled = Some(sled);
        self
    }

    /// A guard that empties the stack's scratch space when the test drops it, even while a
    /// server's workers still hold clones of the stack.
    pub fn scratch_guard(&self) -> ScratchGuard {
        ScratchGuard(self.scratch.clone())
    }

    /// The sled database underneath, if there is one.
    pub fn sled(&self) -> Option<&SledStore> {
        self.sled.as_ref()
    }

    /// The switches of the store under the cache.
    pub fn faults(&self) -> &Arc<Faults> {
        &self.faults
    }

    /// The session `id` as the bottom store holds it, bypassing any cache: what a restart would
    /// find.
    pub async fn persisted(&self, id: &SessionId) -> Option<Record> {
        self.bottom
            .load(id)
            .await
            .expect("load from the bottom store")
    }
}

impl SessionStore for AnyStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        self.top.load(id).await
    }

    async fn load_at_least(
        &self,
        id: &SessionId,
        at_least: u64,
    ) -> Result<Option<Record>, StoreError> {
        self.top.load_at_least(id, at_least).await
    }

    async fn create(&self, id: &SessionId, changes: &Changes) -> Result<Saved, StoreError> {
        self.top.create(id, changes).await
    }

    async fn update(&self, id: &SessionId, changes: &Changes) -> Result<Saved, StoreError> {
        self.top.update(id, changes).await
    }

    async fn update_from(&self, loaded: &Record, changes: &Changes) -> Result<Saved, StoreError> {
        self.top.update_from(loaded, changes).await
    }

    async fn renew(
        &self,
        old: &SessionId,
        new: &SessionId,
        changes: &Changes,
    ) -> Result<Saved, StoreError> {
        self.top.renew(old, new, changes).await
    }

    async fn delete(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        self.top.delete(id).await
    }

    fn invalidations(&self) -> Option<InvalidationFeed> {
        self.top.invalidations()
    }

    async fn sessions_of(&self, user: &str) -> Result<Vec<UserSession>, StoreError> {
        self.top.sessions_of(user).await
    }

    async fn revoke(&self, user: &str, session: SessionDigest) -> Result<bool, StoreError> {
        self.top.revoke(user, session).await
    }

    async fn revoke_all(
        &self,
        user: &str,
        except: Option<SessionDigest>,
    ) -> Result<Vec<SessionDigest>, StoreError> {
        self.top.revoke_all(user, except).await
    }
}

/// Empties a test's scratch space on a shared server when dropped.
#[derive(Debug)]
pub struct ScratchGuard(Option<Arc<dyn Scratch>>);

impl ScratchGuard {
    /// Leaves the scratch space as it is when the guard drops, for a store that lives on.
    pub(crate) fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for ScratchGuard {
    fn drop(&mut self) {
        if let Some(scratch) = &self.0 {
            scratch.clear();
        }
    }
}
