//! A store whose every operation is observed: a span and, with the `metrics` feature, a count
//! and a latency.

use super::{InvalidationFeed, SessionStore};
use crate::changes::{Changes, Saved};
use crate::error::StoreError;
use crate::id::{SessionDigest, SessionId};
use crate::owner::UserSession;
use crate::record::Record;
use crate::telemetry::{Operation, observe};

/// `S`, with every call observed. The middleware puts it around the store it is given, unless
/// [`SessionMiddlewareBuilder::cache`](crate::SessionMiddlewareBuilder::cache) put a cache in
/// front, which observes the store behind it instead: a cache hit is not a store operation.
pub(crate) struct Measured<S>(pub(crate) S);

impl<S: SessionStore> SessionStore for Measured<S> {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        observe(Operation::Load, self.0.load(id)).await
    }

    async fn load_at_least(
        &self,
        id: &SessionId,
        at_least: u64,
    ) -> Result<Option<Record>, StoreError> {
        observe(Operation::Load, self.0.load_at_least(id, at_least)).await
    }

    async fn create(&self, id: &SessionId, changes: &Changes) -> Result<Saved, StoreError> {
        observe(Operation::Create, self.0.create(id, changes)).await
    }

    async fn update(&self, id: &SessionId, changes: &Changes) -> Result<Saved, StoreError> {
        observe(Operation::Update, self.0.update(id, changes)).await
    }

    async fn update_from(&self, loaded: &Record, changes: &Changes) -> Result<Saved, StoreError> {
        observe(Operation::Update, self.0.update_from(loaded, changes)).await
    }

    async fn renew(
        &self,
        old: &SessionId,
        new: &SessionId,
        changes: &Changes,
    ) -> Result<Saved, StoreError> {
        observe(Operation::Renew, self.0.renew(old, new, changes)).await
    }

    async fn delete(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        observe(Operation::Delete, self.0.delete(id)).await
    }

    fn invalidations(&self) -> Option<InvalidationFeed> {
        self.0.invalidations()
    }

    async fn sessions_of(&self, user: &str) -> Result<Vec<UserSession>, StoreError> {
        observe(Operation::SessionsOf, self.0.sessions_of(user)).await
    }

    async fn revoke(&self, user: &str, session: SessionDigest) -> Result<bool, StoreError> {
        observe(Operation::Revoke, self.0.revoke(user, session)).await
    }

    async fn revoke_all(
        &self,
        user: &str,
        except: Option<SessionDigest>,
    ) -> Result<Vec<SessionDigest>, StoreError> {
        observe(Operation::RevokeAll, self.0.revoke_all(user, except)).await
    }
}
