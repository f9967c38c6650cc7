#![doc = "kv-sessions"]
#![forbid(unsafe_code)]

mod config;
mod cookie;
mod error;
mod expiry;
mod id;
mod key;
mod middleware;
mod record;
mod session;
mod store;

pub use kv_sessions_macros::SessionKeys;

pub use crate::config::SessionMiddlewareBuilder;
pub use crate::error::{SessionError, StoreError};
pub use crate::expiry::Expiry;
pub use crate::id::{ParseSessionIdError, SessionId};
pub use crate::key::{SessionKey, SessionKeys, SessionValue};
pub use crate::middleware::SessionMiddleware;
pub use crate::record::{Changes, Record};
pub use crate::session::Session;
pub use crate::store::{CachedStore, MokaStore, SessionCache, SessionStore, SledStore, SledStoreBuilder};

/// Items used by the code that `#[derive(SessionKeys)]` generates. Not a public API: anything
/// here may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use actix_web::dev::Payload;
    pub use actix_web::{FromRequest, HttpRequest};

    pub use crate::key::{KeysFuture, extract_keys, key};
}
