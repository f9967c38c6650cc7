//! Where sessions live: the [`SessionStore`] and [`SessionCache`] extension points and the
//! stores that ship with the crate.
//!
//! | type | role |
//! |---|---|
//! | [`SledStore`] | the embedded default: a local sled database that survives restarts |
//! | [`MokaStore`] | an in-memory store, and the usual [`SessionCache`] in front of another store |
//! | [`CachedStore`] | a store that reads through a cache into another store |

use std::future::Future;
use std::pin::Pin;

use crate::error::StoreError;
use crate::id::SessionId;
use crate::record::{Changes, Record};

mod cached;
mod codec;
mod moka;
mod sled;

pub use self::cached::CachedStore;
pub use self::moka::MokaStore;
pub use self::sled::{Durability, SledStore, SledStoreBuilder};

/// A place to keep sessions.
///
/// Implement it to put sessions somewhere of your own. The three operations are all a store
/// needs; expiry, caching, cookies and change tracking are handled above it.
///
/// # Contract
/// - [`load`](SessionStore::load) never returns a record whose
///   [`expires_at`](Record::expires_at) has passed.
/// - [`save`](SessionStore::save) applies the [`Changes`] **atomically to the latest stored
///   copy** and returns the result, with a version one above the copy it merged into (or 1).
///   Two concurrent saves that write different keys must both survive. Stores that keep whole
///   records can read, merge with [`Changes::apply_to`] and compare-and-swap; stores with native
///   per-field writes (a hash per session, a JSON column) can apply the writes directly.
/// - A record that cannot be decoded is reported as [`StoreError::Corrupt`]; any other failure
///   as [`StoreError::Backend`].
///
/// The futures must be `Send`, so one store can serve every actix worker thread. Write the
/// methods as `async fn` in your `impl`.
///
/// ```no_run
/// use kv_sessions::{Changes, Record, SessionId, SessionStore, StoreError};
///
/// /// A store that forgets everything, to show the shape of an implementation.
/// struct Forgetful;
///
/// impl SessionStore for Forgetful {
///     async fn load(&self, _id: &SessionId) -> Result<Option<Record>, StoreError> {
///         Ok(None)
///     }
///
///     async fn save(&self, id: &SessionId, changes: &Changes) -> Result<Record, StoreError> {
///         Ok(changes.apply_to(*id, None, std::time::SystemTime::now()))
///     }
///
///     async fn delete(&self, _id: &SessionId) -> Result<(), StoreError> {
///         Ok(())
///     }
/// }
/// ```
pub trait SessionStore: Send + Sync + 'static {
    /// Reads the session `id`, or `None` where there is none or it has expired.
    fn load(
        &self,
        id: &SessionId,
    ) -> impl Future<Output = Result<Option<Record>, StoreError>> + Send;

    /// Applies `changes` to the latest copy of session `id`, creating it where there is none,
    /// and returns the record as stored.
    fn save(
        &self,
        id: &SessionId,
        changes: &Changes,
    ) -> impl Future<Output = Result<Record, StoreError>> + Send;

    /// Deletes the session `id`. Deleting a session that does not exist is not an error.
    fn delete(&self, id: &SessionId) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// A fast, lossy copy of sessions kept in front of a [`SessionStore`] by [`CachedStore`].
///
/// A cache may drop any entry at any time, so it has no errors to report: a cache that cannot
/// answer simply misses. It must never return an expired record, and it must never replace a
/// record with an older version of it, because two saves of one session can finish in either
/// order.
pub trait SessionCache: Send + Sync + 'static {
    /// The cached copy of session `id`, if there is a live one.
    fn get(&self, id: &SessionId) -> impl Future<Output = Option<Record>> + Send;

    /// Keeps `record`, unless a newer version of the same session is already cached.
    fn insert(&self, record: Record) -> impl Future<Output = ()> + Send;

    /// Forgets session `id`.
    fn invalidate(&self, id: &SessionId) -> impl Future<Output = ()> + Send;
}

/// A boxed future, the price of calling a store through a trait object.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// [`SessionStore`] made object-safe, so the middleware and the extractors need no type
/// parameter for the store.
pub(crate) trait DynStore: Send + Sync + 'static {
    fn load<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<Option<Record>, StoreError>>;

    fn save<'a>(
        &'a self,
        id: &'a SessionId,
        changes: &'a Changes,
    ) -> BoxFuture<'a, Result<Record, StoreError>>;

    fn delete<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<(), StoreError>>;
}

impl<S: SessionStore> DynStore for S {
    fn load<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<Option<Record>, StoreError>> {
        Box::pin(SessionStore::load(self, id))
    }

    fn save<'a>(
        &'a self,
        id: &'a SessionId,
        changes: &'a Changes,
    ) -> BoxFuture<'a, Result<Record, StoreError>> {
        Box::pin(SessionStore::save(self, id, changes))
    }

    fn delete<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(SessionStore::delete(self, id))
    }
}
