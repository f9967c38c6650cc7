//! A store wrapper that sits under the cache and misbehaves on demand: writes that fail after
//! they were applied, loads held at a gate after they have read the store, and a store that has
//! stopped answering.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use kv_sessions::{
    Changes, InvalidationFeed, Record, Saved, SessionDigest, SessionId, SessionStore, StoreError,
    UserSession,
};

use crate::gate::Gate;

/// The switches of a [`FaultyStore`], shared with the test.
#[derive(Debug, Default)]
pub struct Faults {
    fail_after_writes: AtomicBool,
    held_loads: Mutex<Option<Gate>>,
    timing_out: AtomicBool,
}

impl Faults {
    /// Makes later writes apply and then report failure, as a flush that fails after sled
    /// applied the write does (`true`), or behave again (`false`).
    pub fn fail_after_writes(&self, failing: bool) {
        self.fail_after_writes.store(failing, Ordering::SeqCst);
    }

    /// Holds every later load at `gate`, once it has read the store; `None` lets loads run.
    pub fn hold_loads(&self, gate: Option<Gate>) {
        *self
            .held_loads
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = gate;
    }

    /// Makes later loads and writes fail at once with [`StoreError::Timeout`], without reaching
    /// the store, as a shared store whose server stopped answering fails once its operation
    /// timeout has passed (`true`), or reach the store again (`false`).
    pub fn time_out(&self, timing_out: bool) {
        self.timing_out.store(timing_out, Ordering::SeqCst);
    }

    /// The timeout the store answers while [`time_out`](Self::time_out) is on.
    fn answering(&self) -> Result<(), StoreError> {
        if self.timing_out.load(Ordering::SeqCst) {
            return Err(StoreError::timeout(
                "the store stopped answering, as the test asked",
            ));
        }
        Ok(())
    }

    fn load_gate(&self) -> Option<Gate> {
        self.held_loads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn after_write(&self, written: Result<Saved, StoreError>) -> Result<Saved, StoreError> {
        if self.fail_after_writes.load(Ordering::SeqCst) {
            return Err(StoreError::backend(
                "the write was applied, then its flush failed",
            ));
        }
        written
    }
}

/// A store that passes every call to `S` and misbehaves as its [`Faults`] say.
#[derive(Debug, Clone)]
pub struct FaultyStore<S> {
    inner: S,
    faults: Arc<Faults>,
}

impl<S> FaultyStore<S> {
    /// Wraps `inner`, with switches of its own.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            faults: Arc::default(),
        }
    }

    /// The store underneath.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The switches.
    pub fn faults(&self) -> &Arc<Faults> {
        &self.faults
    }
}

impl<S: SessionStore> SessionStore for FaultyStore<S> {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        self.faults.answering()?;
        let loaded = self.inner.load(id).await;
        if let Some(gate) = self.faults.load_gate() {
            gate.pass().await;
        }
        loaded
    }

    async fn create(&self, id: &SessionId, changes: &Changes) -> Result<Saved, StoreError> {
        self.faults.answering()?;
        let created = self.inner.create(id, changes).await;
        self.faults.after_write(created)
    }

    async fn update(&self, id: &SessionId, changes: &Changes) -> Result<Saved, StoreError> {
        self.faults.answering()?;
        let updated = self.inner.update(id, changes).await;
        self.faults.after_write(updated)
    }

    async fn update_from(&self, loaded: &Record, changes: &Changes) -> Result<Saved, StoreError> {
        self.faults.answering()?;
        let updated = self.inner.update_from(loaded, changes).await;
        self.faults.after_write(updated)
    }

    async fn renew(
        &self,
        old: &SessionId,
        new: &SessionId,
        changes: &Changes,
    ) -> Result<Saved, StoreError> {
        self.faults.answering()?;
        let renewed = self.inner.renew(old, new, changes).await;
        self.faults.after_write(renewed)
    }

    async fn delete(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        self.faults.answering()?;
        self.inner.delete(id).await
    }

    fn invalidations(&self) -> Option<InvalidationFeed> {
        self.inner.invalidations()
    }

    async fn sessions_of(&self, user: &str) -> Result<Vec<UserSession>, StoreError> {
        self.inner.sessions_of(user).await
    }

    async fn revoke(&self, user: &str, session: SessionDigest) -> Result<bool, StoreError> {
        self.inner.revoke(user, session).await
    }

    async fn revoke_all(
        &self,
        user: &str,
        except: Option<SessionDigest>,
    ) -> Result<Vec<SessionDigest>, StoreError> {
        self.inner.revoke_all(user, except).await
    }
}
