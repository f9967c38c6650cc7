//! The failures of the PostgreSQL store that are its own rather than the driver's, carried
//! inside a [`StoreError`](crate::StoreError).

use std::time::Duration;

use super::tls::PostgresSslMode;

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
    /// The connection that listens for invalidations was closed, by the server or the network.
    #[error("the connection listening for session invalidations closed")]
    ListenerClosed,
    /// The store could not start listening for invalidations, so caches in front of it could
    /// not stay coherent.
    #[error("could not listen on the channel {channel:?} for session invalidations")]
    NotListening {
        channel: String,
        #[source]
        cause: crate::error::BoxError,
    },
    /// The table does not exist: nobody ran the migration.
    #[error(
        "the session table {table} does not exist; create it with `migrate_up` \
         (PostgresStoreBuilder::migrate_up, at start-up or from a deployment step)"
    )]
    Unmigrated { table: String },
    /// The table was created by an earlier release, before sessions could be bound to a user,
    /// and has no columns for the binding.
    #[error(
        "the session table {table} has no columns for the user a session is bound to (an \
         earlier release created it); add them with `migrate_up` (PostgresStoreBuilder::migrate_up, \
         at start-up or from a deployment step), which keeps every session"
    )]
    Unbindable { table: String },
    /// The table was created by an earlier build, which kept session ids in clear where this
    /// one keeps their digests.
    #[error(
        "the session table {table} is in the layout of an earlier build of kv-sessions (its id \
         column is {id_type}, not bytea), which kept session ids in clear; this build keeps only \
         their digests, so those sessions cannot be carried over: drop the table, or run \
         `migrate_down` then `migrate_up`"
    )]
    EarlierLayout { table: String, id_type: String },
    /// The connection string's `sslmode` is not one libpq defines, or one it defines and the
    /// store does not support (`allow`).
    #[error(
        "sslmode={0:?} is not supported: use disable, prefer, require, verify-ca or verify-full"
    )]
    UnknownSslMode(String),
    /// The connection asks for TLS, which this build leaves out.
    #[cfg(not(feature = "postgres-tls"))]
    #[error(
        "sslmode={0} needs TLS, and this build of kv-sessions has none: turn on its \
         `postgres-tls` feature (or use sslmode=disable or prefer, without a CA bundle)"
    )]
    TlsNotBuilt(PostgresSslMode),
    /// `sslrootcert=system` with a mode weaker than `verify-full`, which libpq refuses too: the
    /// platform trusts any public CA, so only the host name ties the certificate to the server.
    #[error("sslrootcert=system needs sslmode=verify-full, not {0}")]
    SystemRootsNeedVerifyFull(PostgresSslMode),
    /// The CA bundle could not be read.
    #[cfg(feature = "postgres-tls")]
    #[error("could not read the CA certificates from {origin}")]
    CaUnreadable {
        origin: String,
        #[source]
        cause: crate::error::BoxError,
    },
    /// The CA bundle held no certificate rustls could use.
    #[cfg(feature = "postgres-tls")]
    #[error(
        "{origin} holds no usable CA certificate ({rejected} could not be parsed); give a PEM \
         bundle with sslrootcert, PGSSLROOTCERT or PostgresStoreBuilder::tls_ca_certificates"
    )]
    NoCaCertificates { origin: String, rejected: usize },
    /// rustls refused the TLS set-up itself.
    #[cfg(feature = "postgres-tls")]
    #[error("could not set up TLS")]
    Tls(#[source] crate::error::BoxError),
    /// The server's certificate did not verify.
    #[cfg(feature = "postgres-tls")]
    #[error(
        "the TLS certificate of PostgreSQL at {server} was refused: {cause}. Check the CA \
         bundle (sslrootcert, PGSSLROOTCERT or the builder's tls_ca_certificates) and that the \
         URL names the host as its certificate does"
    )]
    CertificateRefused { server: String, cause: String },
    /// A store on the app's own pool was asked for the invalidation feed without the settings of
    /// a connection of its own to listen on.
    #[error(
        "the invalidation feed needs a connection of its own, outside the app's pool, which \
         delivers no notifications: give its settings with \
         PostgresStoreBuilder::listener_config, or turn the feed off with invalidation_feed(false)"
    )]
    FeedNeedsListenerConfig,
}
