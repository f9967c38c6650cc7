//! A store wrapper that counts calls and fails on demand.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use kv_sessions::{
    Changes, InvalidationFeed, Record, Saved, SessionDigest, SessionId, SessionStore, StoreError,
    UserSession,
};

/// Text carried by the errors of a failing [`ProbeStore`]. No response may ever contain it.
pub const STORE_SECRET: &str = "connection to 10.9.8.7 refused: password=hunter2";

/// Counters and a failure switch shared by the test and its [`ProbeStore`].
#[derive(Debug, Default)]
pub struct Probe {
    loads: AtomicUsize,
    saves: AtomicUsize,
    deletes: AtomicUsize,
    listings: AtomicUsize,
    failing: AtomicBool,
    failing_saves: AtomicBool,
}

impl Probe {
    /// How many loads reached the store.
    pub fn loads(&self) -> usize {
        self.loads.load(Ordering::SeqCst)
    }

    /// How many writes (creations, updates, renewals) reached the store.
    pub fn saves(&self) -> usize {
        self.saves.load(Ordering::SeqCst)
    }

    /// How many deletes reached the store, revocations (of one session or of all a user's)
    /// included.
    pub fn deletes(&self) -> usize {
        self.deletes.load(Ordering::SeqCst)
    }

    /// How many listings of a user's sessions reached the store.
    pub fn listings(&self) -> usize {
        self.listings.load(Ordering::SeqCst)
    }

    /// Makes every later call fail (`true`) or succeed again (`false`).
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// Makes every later save fail (`true`) or succeed again (`false`), while loads still work.
    pub fn set_failing_saves(&self, failing: bool) {
        self.failing_saves.store(failing, Ordering::SeqCst);
    }

    fn count(&self, counter: &AtomicUsize) -> Result<(), StoreError> {
        counter.fetch_add(1, Ordering::SeqCst);
        let saving = std::ptr::eq(counter, &self.saves);
        if self.failing.load(Ordering::SeqCst)
            || (saving && self.failing_saves.load(Ordering::SeqCst))
        {
            return Err(StoreError::backend(std::io::Error::other(STORE_SECRET)));
        }
        Ok(())
    }
}

/// A store that passes every call to `S`, counting it, or fails it while the probe says so.
///
/// It passes on `S`'s [`InvalidationFeed`] too, so that a cache in front of it subscribes as it
/// would in front of `S`, and counts a [`load_at_least`](SessionStore::load_at_least) as a load.
#[derive(Debug, Clone)]
pub struct ProbeStore<S> {
    inner: S,
    probe: Arc<Probe>,
}

impl<S> ProbeStore<S> {
    /// Wraps `inner`, reporting to `probe`.
    pub fn new(inner: S, probe: Arc<Probe>) -> Self {
        Self { inner, probe }
    }
}

impl<S: SessionStore> SessionStore for ProbeStore<S> {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        self.probe.count(&self.probe.loads)?;
        self.inner.load(id).await
    }

    async fn load_at_least(
        &self,
        id: &SessionId,
        at_least: u64,
    ) -> Result<Option<Record>, StoreError> {
        self.probe.count(&self.probe.loads)?;
        self.inner.load_at_least(id, at_least).await
    }

    async fn create(&self, id: &SessionId, changes: &Changes) -> Result<Saved, StoreError> {
        self.probe.count(&self.probe.saves)?;
        self.inner.create(id, changes).await
    }

    async fn update(&self, id: &SessionId, changes: &Changes) -> Result<Saved, StoreError> {
        self.probe.count(&self.probe.saves)?;
        self.inner.update(id, changes).await
    }

    async fn update_from(&self, loaded: &Record, changes: &Changes) -> Result<Saved, StoreError> {
        self.probe.count(&self.probe.saves)?;
        self.inner.update_from(loaded, changes).await
    }

    async fn renew(
        &self,
        old: &SessionId,
        new: &SessionId,
        changes: &Changes,
    ) -> Result<Saved, StoreError> {
        self.probe.count(&self.probe.saves)?;
        self.inner.renew(old, new, changes).await
    }

    async fn delete(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        self.probe.count(&self.probe.deletes)?;
        self.inner.delete(id).await
    }

    fn invalidations(&self) -> Option<InvalidationFeed> {
        self.inner.invalidations()
    }

    async fn sessions_of(&self, user: &str) -> Result<Vec<UserSession>, StoreError> {
        self.probe.count(&self.probe.listings)?;
        self.inner.sessions_of(user).await
    }

    async fn revoke(&self, user: &str, session: SessionDigest) -> Result<bool, StoreError> {
        self.probe.count(&self.probe.deletes)?;
        self.inner.revoke(user, session).await
    }

    async fn revoke_all(
        &self,
        user: &str,
        except: Option<SessionDigest>,
    ) -> Result<Vec<SessionDigest>, StoreError> {
        self.probe.count(&self.probe.deletes)?;
        self.inner.revoke_all(user, except).await
    }
}
