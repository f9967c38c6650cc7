//! A store that reads through a cache.

use super::{SessionCache, SessionStore};
use crate::error::StoreError;
use crate::id::SessionId;
use crate::record::{Changes, Record};

/// A [`SessionStore`] that keeps copies of `S`'s sessions in the cache `C`.
///
/// - A load asks the cache first; on a miss it loads from the store and caches the result.
/// - A save goes to the store first, then the stored result goes into the cache. A save that
///   fails in the store leaves the cache alone, so the cache never holds a write that did not
///   persist.
/// - A delete removes the session from the store, then from the cache.
///
/// The store stays the authority: the cache only ever holds what the store returned. Because
/// the cache keeps the newest version of a session when saves finish out of order, concurrent
/// requests cannot leave it holding an older copy than the store.
///
/// With several app instances over one shared store, each instance's cache can briefly hold an
/// older copy than the store after another instance saved. Keep a short cache or one instance
/// per client until cross-instance coherence lands.
///
/// [`SessionMiddlewareBuilder::cache`](crate::SessionMiddlewareBuilder::cache) builds one of these
/// for you.
#[derive(Debug, Clone)]
pub struct CachedStore<C, S> {
    cache: C,
    store: S,
}

impl<C: SessionCache, S: SessionStore> CachedStore<C, S> {
    /// Puts `cache` in front of `store`.
    pub fn new(cache: C, store: S) -> Self {
        Self { cache, store }
    }

    /// The cache.
    pub fn cache(&self) -> &C {
        &self.cache
    }

    /// The store behind the cache.
    pub fn store(&self) -> &S {
        &self.store
    }
}

impl<C: SessionCache, S: SessionStore> SessionStore for CachedStore<C, S> {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        if let Some(record) = self.cache.get(id).await {
            return Ok(Some(record));
        }
        let loaded = self.store.load(id).await?;
        if let Some(record) = &loaded {
            self.cache.insert(record.clone()).await;
        }
        Ok(loaded)
    }

    async fn save(&self, id: &SessionId, changes: &Changes) -> Result<Record, StoreError> {
        let record = self.store.save(id, changes).await?;
        self.cache.insert(record.clone()).await;
        Ok(record)
    }

    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        let deleted = self.store.delete(id).await;
        self.cache.invalidate(id).await;
        deleted
    }
}
