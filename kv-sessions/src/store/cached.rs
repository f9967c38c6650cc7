//! A store that reads through a cache.

use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::Instant;

use super::boxed::BoxFuture;
use super::{CacheEpoch, Invalidation, InvalidationFeed, SessionCache, SessionStore, Subscriber};
use crate::changes::{Changes, Saved};
use crate::error::StoreError;
use crate::id::{SessionDigest, SessionId};
use crate::owner::UserSession;
use crate::record::Record;
use crate::telemetry::{self, Answer, Operation};

/// A [`SessionStore`] that keeps copies of `S`'s sessions in the cache `C`.
///
/// - A load asks the cache first; on a miss it loads from the store and caches the result.
/// - A write goes to the store first, then the stored result goes into the cache (a created
///   session through [`SessionCache::insert_created`], which a cache may decline).
/// - A write the store answers with [`Saved::Gone`], a delete, a renewal's old id, a revoked
///   session, and any write that fails are forgotten by the cache. Listing a user's sessions
///   always asks the store, which keeps the index. A write can fail after the store applied it (a
///   flush that fails after the write), so after an error the cache cannot know which copy is
///   current, and asks the store next time.
///
/// The store stays the authority: the cache only ever holds what the store returned, and never
/// puts back a session that was deleted while a copy was on its way from the store (see
/// [`SessionCache`]). Because the cache keeps the newest version of a session when saves finish
/// out of order, concurrent requests cannot leave it holding an older copy than the store.
///
/// # Several app instances
/// Where the store offers an [`InvalidationFeed`] ([`SessionStore::invalidations`]), as the
/// Redis and PostgreSQL stores do, the cache subscribes to it when it is put in front: every
/// session another instance changes is forgotten here as soon as the notice arrives, and a load
/// serves a cached copy only while the feed can vouch for it (see [`InvalidationFeed`]). Where
/// the store offers none, the cache is safe for one instance only: another instance's changes
/// would not reach it, and it would serve its old copy until the session's deadline.
///
/// [`SessionMiddlewareBuilder::cache`](crate::SessionMiddlewareBuilder::cache) builds one of these
/// for you. Build it that way where you watch the [store metrics and
/// spans](crate::guide::monitoring): the middleware then observes the store behind the cache,
/// where a cache hit is no store operation, while a `CachedStore` built by hand is observed as
/// a whole, like any store it is given.
#[derive(Debug, Clone)]
pub struct CachedStore<C, S> {
    cache: Arc<C>,
    store: S,
    feed: Option<InvalidationFeed>,
    /// Whether each call to `store` is observed (see [`telemetry::observe`]).
    observes_store: bool,
}

impl<C: SessionCache, S: SessionStore> CachedStore<C, S> {
    /// Puts `cache` in front of `store`, subscribed to the store's feed if it has one.
    pub fn new(cache: C, store: S) -> Self {
        let cache = Arc::new(cache);
        let feed = store.invalidations();
        if let Some(feed) = &feed {
            let subscriber: Weak<dyn Subscriber> = Arc::downgrade(&cache) as Weak<dyn Subscriber>;
            feed.subscribe(subscriber);
        }
        Self {
            cache,
            store,
            feed,
            observes_store: false,
        }
    }

    /// Puts `cache` in front of `store`, as [`new`](Self::new) does, and observes every call to
    /// the store.
    pub(crate) fn observing(cache: C, store: S) -> Self {
        Self {
            observes_store: true,
            ..Self::new(cache, store)
        }
    }

    /// The cache.
    pub fn cache(&self) -> &C {
        &self.cache
    }

    /// The store behind the cache.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// `work`, a call to the store that is `operation`, observed where this store observes them.
    async fn call<T: Answer>(&self, operation: Operation, work: impl Future<Output = T>) -> T {
        if self.observes_store {
            telemetry::observe(operation, work).await
        } else {
            work.await
        }
    }

    /// Brings the cache in line with the store's answer to a write of session `id`.
    async fn follow(
        &self,
        id: &SessionId,
        seen: CacheEpoch,
        result: Result<Saved, StoreError>,
    ) -> Result<Saved, StoreError> {
        match &result {
            Ok(Saved::Stored(record)) => self.cache.insert(record.clone(), seen).await,
            Ok(Saved::TooLarge(_)) => {}
            Ok(Saved::Gone) | Err(_) => self.cache.invalidate(id).await,
        }
        result
    }
}

impl<C: SessionCache> Subscriber for C {
    fn hear<'a>(&'a self, invalidation: &'a Invalidation) -> BoxFuture<'a, ()> {
        Box::pin(SessionCache::hear(self, invalidation))
    }
}

impl<C: SessionCache, S: SessionStore> SessionStore for CachedStore<C, S> {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        self.load_at_least(id, 0).await
    }

    async fn load_at_least(
        &self,
        id: &SessionId,
        at_least: u64,
    ) -> Result<Option<Record>, StoreError> {
        let cached = match &self.feed {
            None if at_least == 0 => self.cache.get(id).await,
            None => self.cache.get_fresh(id, at_least, None).await,
            Some(feed) => {
                let read_since = feed.read_since(Instant::now());
                self.cache.get_fresh(id, at_least, Some(read_since)).await
            }
        };
        telemetry::cache_lookup(cached.is_some());
        if let Some(record) = cached {
            return Ok(Some(record));
        }
        let seen = self.cache.epoch(id);
        let loaded = self.call(Operation::Load, self.store.load(id)).await?;
        if let Some(record) = &loaded {
            self.cache.insert(record.clone(), seen).await;
        }
        Ok(loaded)
    }

    async fn create(&self, id: &SessionId, changes: &Changes) -> Result<Saved, StoreError> {
        let created = self
            .call(Operation::Create, self.store.create(id, changes))
            .await;
        if let Ok(Saved::Stored(record)) = &created {
            self.cache.insert_created(record.clone()).await;
            return created;
        }
        // Nothing was created: the cache follows as it does after any other write.
        self.follow(id, self.cache.epoch(id), created).await
    }

    async fn update(&self, id: &SessionId, changes: &Changes) -> Result<Saved, StoreError> {
        let seen = self.cache.epoch(id);
        let updated = self
            .call(Operation::Update, self.store.update(id, changes))
            .await;
        self.follow(id, seen, updated).await
    }

    async fn update_from(&self, loaded: &Record, changes: &Changes) -> Result<Saved, StoreError> {
        let id = loaded.id();
        let seen = self.cache.epoch(&id);
        let updated = self
            .call(Operation::Update, self.store.update_from(loaded, changes))
            .await;
        self.follow(&id, seen, updated).await
    }

    async fn renew(
        &self,
        old: &SessionId,
        new: &SessionId,
        changes: &Changes,
    ) -> Result<Saved, StoreError> {
        let seen = self.cache.epoch(new);
        let renewed = self
            .call(Operation::Renew, self.store.renew(old, new, changes))
            .await;
        self.cache.invalidate(old).await;
        self.follow(new, seen, renewed).await
    }

    async fn delete(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        let deleted = self.call(Operation::Delete, self.store.delete(id)).await;
        self.cache.invalidate(id).await;
        deleted
    }

    fn invalidations(&self) -> Option<InvalidationFeed> {
        self.feed.clone()
    }

    async fn sessions_of(&self, user: &str) -> Result<Vec<UserSession>, StoreError> {
        self.call(Operation::SessionsOf, self.store.sessions_of(user))
            .await
    }

    async fn revoke(&self, user: &str, session: SessionDigest) -> Result<bool, StoreError> {
        let revoked = self
            .call(Operation::Revoke, self.store.revoke(user, session))
            .await;
        if !matches!(revoked, Ok(false)) {
            self.cache.hear(&Invalidation::removed(session)).await;
        }
        revoked
    }

    // `revoke_all` is the provided method, over the two above, so that the cache forgets each
    // session as it is revoked, even where a later step fails.
}
