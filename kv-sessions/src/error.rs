//! What can go wrong, as types.

use std::error::Error as StdError;
use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, ResponseError};

/// The boxed cause carried inside a [`StoreError`].
pub(crate) type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// An error from a [`SessionStore`](crate::SessionStore).
///
/// Store implementations wrap their own errors with [`StoreError::backend`],
/// [`StoreError::timeout`] or [`StoreError::corrupt`]; the session layer decides what each kind
/// means for the request.
///
/// Its `Debug` output is its message followed by its causes, one a line, so that whatever prints
/// it (`unwrap`, a `main` that returns it, `std::io::Error::other`) shows words, not a struct.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend could not be reached or refused the operation. The request fails with a 500.
    #[error("the session store failed")]
    Backend(#[source] BoxError),
    /// The backend did not answer within the store's operation timeout. The request fails with a
    /// 500, as for [`Backend`](StoreError::Backend); it is a kind of its own so that an operator
    /// can tell a slow backend from a failing one (the `timeout` outcome of the store metrics).
    /// A write that timed out may still have been applied.
    #[error("the session store did not answer in time")]
    Timeout(#[source] BoxError),
    /// A stored record could not be decoded. The session layer logs it, deletes the record and
    /// starts a fresh session, so one bad record never locks a client out.
    #[error("a stored session record is corrupt")]
    Corrupt(#[source] BoxError),
    /// The store could not be opened, at start-up. Its message is meant for whoever runs the app:
    /// it names what was being opened, what went wrong and how to fix it, and `Debug` shows it
    /// too, so that `unwrap` and a `main` that returns the error print it.
    ///
    /// ```
    /// # use kv_sessions::StoreError;
    /// let error = StoreError::open("the sled directory \"sessions.sled\" is already open");
    /// assert_eq!(format!("{error:?}"), error.to_string());
    /// ```
    #[error(transparent)]
    Open(BoxError),
    /// The store does not do what was asked of it: a store of your own that keeps no binding
    /// between sessions and users, asked to list or revoke a user's sessions. It names the
    /// operation, so that the gap shows up as an error rather than as an empty list.
    #[error("the session store cannot {0}")]
    Unsupported(&'static str),
}

impl StoreError {
    /// Wraps a failure of the backend: I/O, a lost connection, a refused query.
    pub fn backend(cause: impl Into<BoxError>) -> Self {
        Self::Backend(cause.into())
    }

    /// Wraps the failure of an operation that ran past the store's time limit; `cause` says which
    /// limit.
    pub fn timeout(cause: impl Into<BoxError>) -> Self {
        Self::Timeout(cause.into())
    }

    /// Whether this is a [`Timeout`](StoreError::Timeout).
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout(_))
    }

    /// Wraps a failure to decode a stored record.
    pub fn corrupt(cause: impl Into<BoxError>) -> Self {
        Self::Corrupt(cause.into())
    }

    /// Wraps a failure to open the store at start-up, whose message says how to fix it.
    pub fn open(cause: impl Into<BoxError>) -> Self {
        Self::Open(cause.into())
    }

    /// The refusal of [`SessionStore::create`](crate::SessionStore::create) or
    /// [`renew`](crate::SessionStore::renew) to write under a fresh id that a live session
    /// already holds, which the contract asks of every store.
    pub fn id_in_use() -> Self {
        Self::backend(IdInUse)
    }

    /// The answer of a store that cannot list or revoke a user's sessions.
    pub(crate) fn owners_unsupported() -> Self {
        Self::Unsupported(
            "list or revoke a user's sessions: it keeps no binding between sessions and users",
        )
    }

    /// The failure of a write that found, at every one of its `attempts`, that another request
    /// had saved the session since the copy it merged against: what a store that writes with a
    /// version check answers once it stops trying.
    #[cfg(any(feature = "redis", feature = "postgres"))]
    pub(crate) fn contended(attempts: usize) -> Self {
        Self::backend(Contended(attempts))
    }
}

impl fmt::Debug for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        report(self, f)
    }
}

/// Lets `?` hand a store error to a `main` that returns `std::io::Result`, as actix-web's
/// `main` usually does.
impl From<StoreError> for std::io::Error {
    fn from(error: StoreError) -> Self {
        Self::other(error)
    }
}

/// Writes `error` as a person reads it, for the `Debug` output of the crate's public errors:
/// its message, then each of its causes on a line of its own.
///
/// `Debug` is what `unwrap`, `expect` and a `main` that returns an error print, and what
/// `std::io::Error` prints of the error it carries. A derived `Debug` would show them the
/// error's fields, not its message, and none of its causes. `{:#?}` gives the same text.
pub(crate) fn report(error: &(dyn StdError + 'static), f: &mut fmt::Formatter<'_>) -> fmt::Result {
    write!(f, "{error}")?;
    let mut causes = causes(error).peekable();
    if causes.peek().is_some() {
        f.write_str("\n\nCaused by:")?;
    }
    for cause in causes {
        write!(f, "\n    {cause}")?;
    }
    Ok(())
}

/// The messages of `error`'s sources, in order, less each one that the message before it
/// already quotes: many errors (redis', io::Error's wrappers) print their source and also
/// return it, and a reader needs it once.
fn causes<'e>(error: &'e (dyn StdError + 'static)) -> impl Iterator<Item = String> + 'e {
    let mut previous = error.to_string();
    std::iter::successors(error.source(), |&cause| cause.source()).filter_map(move |cause| {
        let message = cause.to_string();
        let quoted = previous.contains(&message);
        previous.clone_from(&message);
        (!quoted).then_some(message)
    })
}

/// The session changed under every try of a write: see [`StoreError::contended`].
#[cfg(any(feature = "redis", feature = "postgres"))]
#[derive(Debug, thiserror::Error)]
#[error(
    "the session was under too much contention: another request saved it before each of {0} \
     attempts to write it"
)]
struct Contended(usize);

/// A fresh session id that a live session already holds: see [`StoreError::id_in_use`].
#[derive(Debug, thiserror::Error)]
#[error("a new session id is already in use")]
struct IdInUse;

/// Why a shared store could not start: the message of a [`StoreError::Open`] for whoever runs
/// the app, naming the server (never its credentials) and the cause.
///
/// The message spells out the cause and all of its own causes, and the error has no source: the
/// driver's errors put their most telling part at the end of their chain (tokio-postgres says
/// "db error" and leaves `database "x" does not exist` to its source), and whoever prints only the
/// message, as `{}` and most loggers do, must still see it.
#[cfg(any(feature = "redis", feature = "postgres"))]
#[derive(Debug, thiserror::Error)]
pub(crate) enum StartError {
    /// The URL does not parse.
    #[error("the {engine} URL does not parse ({}); it looks like {example}", Chain(&**.cause))]
    BadUrl {
        engine: &'static str,
        example: &'static str,
        cause: BoxError,
    },
    /// The server could not be reached, or did not answer the first operation.
    #[error(
        "could not reach {engine} at {server}: {}. Check the URL, and that the server runs and \
         accepts connections from this machine",
        Chain(&**.cause)
    )]
    Unreachable {
        engine: &'static str,
        server: String,
        cause: BoxError,
    },
    /// A key prefix for Redis Cluster that holds a brace, which Redis would read as the start or
    /// end of a hash tag, so that a session's keys would not share a slot.
    #[cfg(feature = "redis")]
    #[error(
        "the key prefix {prefix:?} holds `{{` or `}}`, which Redis Cluster reads as a hash tag; \
         choose a prefix without braces"
    )]
    HashTagInPrefix { prefix: String },
    /// The server's TLS certificate did not verify: signed by no CA the store trusts, issued
    /// for another host name, or expired.
    #[cfg(feature = "redis-tls")]
    #[error(
        "{engine} at {server} presented a TLS certificate that was refused ({reason}). Check that \
         the store trusts the CA that signed it (the system's, SSL_CERT_FILE or SSL_CERT_DIR, or \
         CA certificates given to the builder) and that the URL's host is a name the certificate \
         holds"
    )]
    CertificateRefused {
        engine: &'static str,
        server: String,
        /// What rustls found wrong with the certificate.
        reason: String,
    },
    /// The server answered, and refused: no such database, a wrong password, no permission.
    #[cfg(feature = "postgres")]
    #[error(
        "{engine} at {server} refused the session store: {reason}. Check the database name, the \
         user and the password in the URL"
    )]
    Refused {
        engine: &'static str,
        server: String,
        /// The server's own words, with its error code.
        reason: String,
    },
}

/// An error from a session extractor or accessor.
///
/// As an actix-web [`ResponseError`] every variant becomes a bare `500 Internal Server Error`,
/// except [`Ended`](SessionError::Ended), a `409 Conflict`. The body never carries the cause; the
/// cause and its whole source chain go to the log through [tracing], at the `error` level (`info`
/// for `Ended`, which is the client's race, not the server's fault). `Debug` shows the message
/// and its causes, one a line.
///
/// [`ResponseError`]: https://docs.rs/actix-web/4/actix_web/trait.ResponseError.html
/// [tracing]: https://docs.rs/tracing
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// A session extractor was used on an app without the middleware.
    #[error(
        "no session middleware: wrap the App with `kv_sessions::SessionMiddleware` \
         (`App::new().wrap(middleware.clone())`) to use session extractors"
    )]
    MiddlewareMissing,
    /// The store failed to load or save the session.
    #[error("could not load or save the session")]
    Store(#[from] StoreError),
    /// The value stored under `key` does not deserialize into the requested type. Neither this
    /// error nor its source quotes the stored value, which may be secret: they name the key, the
    /// type and where in the JSON text reading stopped.
    #[error("the value stored under session key `{key}` does not deserialize into `{type_name}`")]
    Deserialize {
        /// The stored key.
        key: String,
        /// The type it was read as.
        type_name: &'static str,
        /// Why serde_json stopped, without the value.
        #[source]
        source: UnreadableValue,
    },
    /// Writing `key` would make the session larger than its limit; the session was left as it
    /// was. See [`max_session_size`](crate::SessionMiddlewareBuilder::max_session_size).
    #[error(
        "writing session key `{key}` would grow the session to {size} bytes, past its limit of {limit}"
    )]
    TooLarge {
        /// The stored key.
        key: String,
        /// The session's size with the write, in bytes of keys and JSON values.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The request's writes, merged when the response saved them with the writes of requests
    /// that saved first, would make the session larger than its limit. Nothing was saved, and
    /// the response is an error rather than a success the store does not hold.
    #[error("could not save the session")]
    TooLargeToSave(#[source] crate::changes::TooLarge),
    /// The session ended while this request was writing to it: by the time the response saved,
    /// a concurrent request had purged or renewed it, or it had expired. Or the request's cookie
    /// names a session that this middleware renewed away less than a minute before: the request
    /// comes from the page of a login. The request's writes were not kept, the session was not
    /// brought back, and the response sends no cookie, so that it cannot replace a newer one
    /// (the cookie of the login that renewed it, say).
    ///
    /// It answers `409 Conflict`. A client may retry: the retry writes to whatever session its
    /// cookie then names, or to a new one.
    #[error("the session ended while this request was writing to it")]
    Ended,
    /// The value given for `key` cannot be serialized to JSON.
    #[error("the value for session key `{key}` cannot be serialized")]
    Serialize {
        /// The stored key.
        key: String,
        /// What serde_json reported.
        #[source]
        source: serde_json::Error,
    },
    /// [`Session::bind`](crate::Session::bind) was given a user id that is empty or longer than
    /// [`SessionOwner::MAX_USER_LEN`](crate::SessionOwner::MAX_USER_LEN) bytes; the session was
    /// left as it was.
    #[error("a session cannot be bound to a user id of {len} bytes: it takes 1 to 256")]
    InvalidOwner {
        /// The user id's length in bytes.
        len: usize,
    },
}

impl fmt::Debug for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        report(self, f)
    }
}

impl ResponseError for SessionError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Ended => StatusCode::CONFLICT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(error = %Chain(self), "session error");
        } else {
            tracing::info!(error = %Chain(self), "session write refused");
        }
        HttpResponse::build(status)
            .content_type(ContentType::plaintext())
            .body(status.canonical_reason().unwrap_or("Error"))
    }
}

/// Shows an error followed by each of its sources, on one line, for the log and for messages
/// that spell out their cause.
pub(crate) struct Chain<'a>(pub(crate) &'a (dyn StdError + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        causes(self.0).try_for_each(|cause| write!(f, ": {cause}"))
    }
}

/// Why a stored value did not deserialize, without the value: serde_json's own messages quote
/// the text they met (`invalid type: string "…"`), and a session value may be a secret.
#[derive(thiserror::Error)]
#[error("the stored JSON is {} (line {line}, column {column})", describe(*.category))]
pub struct UnreadableValue {
    category: serde_json::error::Category,
    line: usize,
    column: usize,
}

impl UnreadableValue {
    pub(crate) fn new(error: &serde_json::Error) -> Self {
        Self {
            category: error.classify(),
            line: error.line(),
            column: error.column(),
        }
    }

    /// What kind of failure it was: a value of another shape (`Data`), text that is not JSON
    /// (`Syntax`), or text cut short (`Eof`).
    pub fn category(&self) -> serde_json::error::Category {
        self.category
    }
}

impl fmt::Debug for UnreadableValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        report(self, f)
    }
}

fn describe(category: serde_json::error::Category) -> &'static str {
    use serde_json::error::Category;
    match category {
        Category::Data => "of another type or shape",
        Category::Syntax => "not valid JSON",
        Category::Eof => "cut short",
        Category::Io => "unreadable",
    }
}

#[cfg(test)]
mod tests {
    use actix_web::body::MessageBody;

    use super::*;

    #[test]
    fn responses_are_opaque_500s() {
        let secret = std::io::Error::other("db password is hunter2");
        let error = SessionError::from(StoreError::backend(secret));
        let response = error.error_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = response.into_body().try_into_bytes().unwrap();
        assert_eq!(body, "Internal Server Error");
    }

    #[test]
    fn a_write_to_a_session_that_ended_is_a_bare_409() {
        let response = SessionError::Ended.error_response();
        assert_eq!(response.status(), StatusCode::CONFLICT);
        let body = response.into_body().try_into_bytes().unwrap();
        assert_eq!(body, "Conflict");
    }

    #[test]
    fn the_log_line_carries_the_whole_chain() {
        let error = SessionError::from(StoreError::backend(std::io::Error::other("disk full")));
        assert_eq!(
            Chain(&error).to_string(),
            "could not load or save the session: the session store failed: disk full"
        );
    }

    #[test]
    fn debug_shows_the_message_then_each_cause_on_a_line() {
        let disk = std::io::Error::other("disk full");
        let error = SessionError::from(StoreError::backend(disk));
        assert_eq!(
            format!("{error:?}"),
            "could not load or save the session\n\nCaused by:\n    the session store failed\n    \
             disk full"
        );
        assert_eq!(format!("{error:#?}"), format!("{error:?}"));
        let open = StoreError::open("the sled directory is already open");
        assert_eq!(format!("{open:?}"), "the sled directory is already open");
    }

    /// An error that prints its source and also returns it, as many do.
    #[derive(Debug, thiserror::Error)]
    #[error("could not connect: {0}")]
    struct Quoting(#[source] std::io::Error);

    #[test]
    fn a_cause_that_its_error_already_quotes_is_shown_once() {
        let refused = std::io::Error::other("connection refused");
        let error = StoreError::backend(Quoting(refused));
        assert_eq!(
            Chain(&error).to_string(),
            "the session store failed: could not connect: connection refused"
        );
        assert_eq!(
            format!("{error:?}"),
            "the session store failed\n\nCaused by:\n    could not connect: connection refused"
        );
    }

    #[test]
    fn an_io_error_made_of_a_store_error_shows_its_message() {
        let error = std::io::Error::from(StoreError::open("could not reach Redis"));
        let shown = format!("{error:?}");
        assert!(shown.contains("error: could not reach Redis"), "{shown}");
        assert!(!shown.contains("Open("), "{shown}");
    }

    #[test]
    fn the_missing_middleware_error_says_how_to_fix_it() {
        let message = SessionError::MiddlewareMissing.to_string();
        assert!(message.contains("wrap the App with `kv_sessions::SessionMiddleware`"));
    }

    #[test]
    fn a_value_that_does_not_deserialize_is_never_quoted() {
        let error = crate::session::parse::<u32>("token", "\"s3cret\"").expect_err("a string");
        let chain = Chain(&error).to_string();
        assert_eq!(
            chain,
            "the value stored under session key `token` does not deserialize into `u32`: the \
             stored JSON is of another type or shape (line 1, column 8)"
        );
        let syntax = crate::session::parse::<u32>("token", "s3cret").expect_err("not JSON");
        assert!(!Chain(&syntax).to_string().contains("s3cret"));
    }
}
