//! Any store behind one type.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::{InvalidationFeed, SessionStore};
use crate::changes::{Changes, Saved};
use crate::error::StoreError;
use crate::id::{SessionDigest, SessionId};
use crate::owner::UserSession;
use crate::record::Record;

/// Any [`SessionStore`] behind one type, for an app that picks its store at run time.
///
/// ```no_run
/// use actix_web::cookie::Key;
/// use kv_sessions::{BoxedStore, MokaStore, SessionMiddleware, SledStore};
///
/// # fn main() -> Result<(), kv_sessions::StoreError> {
/// let store = match std::env::var("SESSIONS").as_deref() {
///     Ok("memory") => BoxedStore::new(MokaStore::new(10_000)),
///     _ => BoxedStore::new(SledStore::open("sessions.sled")?),
/// };
/// let sessions = SessionMiddleware::builder(store, Key::generate()).build();
/// # Ok(()) }
/// ```
///
/// Each call goes through a trait object and a boxed future, which the middleware pays anyway:
/// it holds its store the same way.
#[derive(Clone)]
pub struct BoxedStore(Arc<dyn DynStore>);

impl std::fmt::Debug for BoxedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoxedStore").finish_non_exhaustive()
    }
}

impl BoxedStore {
    /// Boxes `store`.
    pub fn new<S: SessionStore>(store: S) -> Self {
        Self(Arc::new(store))
    }
}

impl SessionStore for BoxedStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        self.0.load(id).await
    }

    async fn load_at_least(
        &self,
        id: &SessionId,
        at_least: u64,
    ) -> Result<Option<Record>, StoreError> {
        self.0.load_at_least(id, at_least).await
    }

    async fn create(&self, id: &SessionId, changes: &Changes) -> Result<Saved, StoreError> {
        self.0.create(id, changes).await
    }

    async fn update(&self, id: &SessionId, changes: &Changes) -> Result<Saved, StoreError> {
        self.0.update(id, changes).await
    }

    async fn update_from(&self, loaded: &Record, changes: &Changes) -> Result<Saved, StoreError> {
        self.0.update_from(loaded, changes).await
    }

    async fn renew(
        &self,
        old: &SessionId,
        new: &SessionId,
        changes: &Changes,
    ) -> Result<Saved, StoreError> {
        self.0.renew(old, new, changes).await
    }

    async fn delete(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        self.0.delete(id).await
    }

    fn invalidations(&self) -> Option<InvalidationFeed> {
        self.0.invalidations()
    }

    async fn sessions_of(&self, user: &str) -> Result<Vec<UserSession>, StoreError> {
        self.0.sessions_of(user).await
    }

    async fn revoke(&self, user: &str, session: SessionDigest) -> Result<bool, StoreError> {
        self.0.revoke(user, session).await
    }

    async fn revoke_all(
        &self,
        user: &str,
        except: Option<SessionDigest>,
    ) -> Result<Vec<SessionDigest>, StoreError> {
        self.0.revoke_all(user, except).await
    }
}

/// A boxed future, the price of calling a store through a trait object.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// [`SessionStore`] made object-safe, so the middleware and the extractors need no type
/// parameter for the store.
pub(crate) trait DynStore: Send + Sync + 'static {
    fn load<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<Option<Record>, StoreError>>;

    fn load_at_least<'a>(
        &'a self,
        id: &'a SessionId,
        at_least: u64,
    ) -> BoxFuture<'a, Result<Option<Record>, StoreError>>;

    fn create<'a>(
        &'a self,
        id: &'a SessionId,
        changes: &'a Changes,
    ) -> BoxFuture<'a, Result<Saved, StoreError>>;

    fn update<'a>(
        &'a self,
        id: &'a SessionId,
        changes: &'a Changes,
    ) -> BoxFuture<'a, Result<Saved, StoreError>>;

    fn update_from<'a>(
        &'a self,
        loaded: &'a Record,
        changes: &'a Changes,
    ) -> BoxFuture<'a, Result<Saved, StoreError>>;

    fn renew<'a>(
        &'a self,
        old: &'a SessionId,
        new: &'a SessionId,
        changes: &'a Changes,
    ) -> BoxFuture<'a, Result<Saved, StoreError>>;

    fn delete<'a>(&'a self, id: &'a SessionId)
    -> BoxFuture<'a, Result<Option<Record>, StoreError>>;

    fn invalidations(&self) -> Option<InvalidationFeed>;

    fn sessions_of<'a>(
        &'a self,
        user: &'a str,
    ) -> BoxFuture<'a, Result<Vec<UserSession>, StoreError>>;

    fn revoke<'a>(
        &'a self,
        user: &'a str,
        session: SessionDigest,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    fn revoke_all<'a>(
        &'a self,
        user: &'a str,
        except: Option<SessionDigest>,
    ) -> BoxFuture<'a, Result<Vec<SessionDigest>, StoreError>>;
}

impl<S: SessionStore> DynStore for S {
    fn load<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<Option<Record>, StoreError>> {
        Box::pin(SessionStore::load(self, id))
    }

    fn load_at_least<'a>(
        &'a self,
        id: &'a SessionId,
        at_least: u64,
    ) -> BoxFuture<'a, Result<Option<Record>, StoreError>> {
        Box::pin(SessionStore::load_at_least(self, id, at_least))
    }

    fn create<'a>(
        &'a self,
        id: &'a SessionId,
        changes: &'a Changes,
    ) -> BoxFuture<'a, Result<Saved, StoreError>> {
        Box::pin(SessionStore::create(self, id, changes))
    }

    fn update<'a>(
        &'a self,
        id: &'a SessionId,
        changes: &'a Changes,
    ) -> BoxFuture<'a, Result<Saved, StoreError>> {
        Box::pin(SessionStore::update(self, id, changes))
    }

    fn update_from<'a>(
        &'a self,
        loaded: &'a Record,
        changes: &'a Changes,
    ) -> BoxFuture<'a, Result<Saved, StoreError>> {
        Box::pin(SessionStore::update_from(self, loaded, changes))
    }

    fn renew<'a>(
        &'a self,
        old: &'a SessionId,
        new: &'a SessionId,
        changes: &'a Changes,
    ) -> BoxFuture<'a, Result<Saved, StoreError>> {
        Box::pin(SessionStore::renew(self, old, new, changes))
    }

    fn delete<'a>(
        &'a self,
        id: &'a SessionId,
    ) -> BoxFuture<'a, Result<Option<Record>, StoreError>> {
        Box::pin(SessionStore::delete(self, id))
    }

    fn invalidations(&self) -> Option<InvalidationFeed> {
        SessionStore::invalidations(self)
    }

    fn sessions_of<'a>(
        &'a self,
        user: &'a str,
    ) -> BoxFuture<'a, Result<Vec<UserSession>, StoreError>> {
        Box::pin(SessionStore::sessions_of(self, user))
    }

    fn revoke<'a>(
        &'a self,
        user: &'a str,
        session: SessionDigest,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(SessionStore::revoke(self, user, session))
    }

    fn revoke_all<'a>(
        &'a self,
        user: &'a str,
        except: Option<SessionDigest>,
    ) -> BoxFuture<'a, Result<Vec<SessionDigest>, StoreError>> {
        Box::pin(SessionStore::revoke_all(self, user, except))
    }
}
