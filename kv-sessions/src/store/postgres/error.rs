//! The failures of the PostgreSQL store that are its own rather than the driver's, carried
//! inside a [`StoreError`](crate::StoreError).

use std::time::Duration;

/// A failure of the PostgreSQL store's own making.
#[derive(Debug, thiserror::Error)]
pub(super) enum PostgresError {
    /// The configured table name is not a plain lowercase SQL identifier.
    #[error("the session table name {name:?} is not usable: {reason}")]
    InvalidTableName { name: String, reason: &'static str },
    /// The store was built outside a tokio runtime, where nothing could drive its connections.
    #[error("the PostgreSQL session store must be built inside a tokio runtime")]
    NoRuntime,
    /// The database does not store text as UTF-8, so sizes would not count what the session
    /// layer counts.
    #[error("the database's encoding is {0}; the PostgreSQL session store needs UTF8")]
    NotUtf8(String),
    /// An operation, counting the wait for a pooled connection, took longer than allowed.
    #[error("the session database did not answer within {0:?}")]
    Timeout(Duration),
    /// A session created under a fresh id found a live session already there.
    #[error("a new session id is already in use")]
    IdInUse,
}
