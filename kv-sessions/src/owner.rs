//! Sessions bound to a user: the binding, and the handle that lists and revokes a user's
//! sessions from anywhere in the app.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};

use crate::error::SessionError;
use crate::id::SessionDigest;
use crate::record::Record;
use crate::session::Session;
use crate::store::DynStore;

/// The user a session belongs to, and the label the app gave it (a device name, say), as
/// [`Session::bind`](crate::Session::bind) stores them in the session's record.
///
/// The user is kept as text: a typed id (a number, a UUID) becomes its [`Display`](fmt::Display)
/// form, and [`UserSessions`] looks it up by the same form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionOwner {
    user: Box<str>,
    label: Option<Box<str>>,
}

impl SessionOwner {
    /// The longest user id, in bytes, that [`Session::bind`](crate::Session::bind) accepts.
    pub const MAX_USER_LEN: usize = 256;

    /// The longest label, in bytes; a longer one is cut at a character boundary.
    pub const MAX_LABEL_LEN: usize = 256;

    /// The owner `user`, with no label.
    pub fn new(user: impl fmt::Display) -> Self {
        Self {
            user: user.to_string().into_boxed_str(),
            label: None,
        }
    }

    /// The same owner with `label`, shown beside the session when the user's sessions are
    /// listed. A label longer than [`MAX_LABEL_LEN`](Self::MAX_LABEL_LEN) bytes is cut at the
    /// last character boundary within it: a label is for people, and a long `User-Agent` should
    /// not fail a login.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        let mut label = label.into();
        if label.len() > Self::MAX_LABEL_LEN {
            let mut end = Self::MAX_LABEL_LEN;
            while !label.is_char_boundary(end) {
                end -= 1;
            }
            label.truncate(end);
        }
        self.label = Some(label.into_boxed_str());
        self
    }

    /// The user.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The label, if the app set one.
    pub fn label(&self) -> Option<&str> {
        self.label.as_deref()
    }

    /// Why this owner cannot be stored, if it cannot: an empty user id, or one longer than
    /// [`MAX_USER_LEN`](Self::MAX_USER_LEN) bytes.
    pub(crate) fn check(&self) -> Result<(), SessionError> {
        let len = self.user.len();
        if len == 0 || len > Self::MAX_USER_LEN {
            return Err(SessionError::InvalidOwner { len });
        }
        Ok(())
    }
}

/// One of a user's live sessions, as [`UserSessions::list`] reports it.
///
/// It names the session by its [`handle`](UserSession::handle), the digest its store keys it
/// by, which can be shown to the user and sent back in a form: the cookie's id, which is what a
/// client needs to use the session, never leaves the store's caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSession {
    handle: SessionDigest,
    created_at: SystemTime,
    saved_at: SystemTime,
    expires_at: SystemTime,
    label: Option<Box<str>>,
    current: bool,
}

impl UserSession {
    /// The session with digest `handle`, as a store reads it back: created at `created_at`, last
    /// saved at `saved_at`, live until `expires_at`, with the owner's `label`.
    pub fn new(
        handle: SessionDigest,
        created_at: SystemTime,
        saved_at: SystemTime,
        expires_at: SystemTime,
        label: Option<&str>,
    ) -> Self {
        Self {
            handle,
            created_at,
            saved_at,
            expires_at,
            label: label.map(Box::from),
            current: false,
        }
    }

    /// The listing of `record`, where it is bound to a user: what a store that keeps whole
    /// [`Record`]s answers for each of the user's sessions.
    pub fn of(record: &Record) -> Option<Self> {
        Some(Self::new(
            record.id().digest(),
            record.created_at(),
            record.saved_at()?,
            record.expires_at(),
            record.owner()?.label(),
        ))
    }

    /// The handle that [`UserSessions::revoke`] takes; its text form is 32 hex digits, which
    /// [`SessionDigest`]'s `FromStr` reads back.
    pub fn handle(&self) -> SessionDigest {
        self.handle
    }

    /// When the session was created (by the login that bound it, usually).
    pub fn created_at(&self) -> SystemTime {
        self.created_at
    }

    /// When the session was last saved: a good sign of when its device was last seen.
    pub fn saved_at(&self) -> SystemTime {
        self.saved_at
    }

    /// When the session expires unless it is saved again.
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }

    /// The label the app gave the session when it bound it, if any.
    pub fn label(&self) -> Option<&str> {
        self.label.as_deref()
    }

    /// Whether it is the session of the request that listed it, where [`UserSessions`] was
    /// extracted in a request.
    pub fn is_current(&self) -> bool {
        self.current
    }
}

/// Lists and revokes a user's sessions, in a request or outside one.
///
/// Take it from the built middleware ([`SessionMiddleware::user_sessions`]) to use it outside a
/// request, from a background task or through [`web::Data`](actix_web::web::Data); or extract it
/// in a handler, where it also knows the request's own session, marks it in
/// [`list`](Self::list) and spares it in [`revoke_others`](Self::revoke_others).
///
/// ```no_run
/// use actix_web::{HttpResponse, post};
/// use kv_sessions::{Session, UserSessions};
///
/// /// After a password change, every other device of the user signs in again.
/// #[post("/password")]
/// async fn change_password(
///     session: Session,
///     sessions: UserSessions,
/// ) -> actix_web::Result<HttpResponse> {
///     let Some(owner) = session.owner() else {
///         return Ok(HttpResponse::Unauthorized().finish());
///     };
///     // ... store the new password ...
///     session.renew();
///     sessions.revoke_others(owner.user()).await?;
///     Ok(HttpResponse::NoContent().finish())
/// }
/// ```
///
/// Revocation deletes the session from the store, so the next request with its cookie starts a
/// fresh, unbound session; a request already under way on it cannot bring it back, since a save
/// never recreates a deleted session. With a cache over a shared store, every instance drops its
/// copy when the store's [feed](crate::InvalidationFeed) announces the deletion.
///
/// Every method fails with [`SessionError::Store`] on a store that does not keep bindings,
/// wrapping [`StoreError::Unsupported`](crate::StoreError::Unsupported), and answers a 500 if returned from a handler.
///
/// [`SessionMiddleware::user_sessions`]: crate::SessionMiddleware::user_sessions
#[derive(Clone)]
pub struct UserSessions {
    store: Arc<dyn DynStore>,
    current: Option<SessionDigest>,
}

impl fmt::Debug for UserSessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserSessions")
            .field("current", &self.current)
            .finish_non_exhaustive()
    }
}

impl UserSessions {
    pub(crate) fn new(store: Arc<dyn DynStore>, current: Option<SessionDigest>) -> Self {
        Self { store, current }
    }

    /// The handle of the request's session, where this was extracted in a request whose
    /// cookie named a live session.
    pub fn current(&self) -> Option<SessionDigest> {
        self.current
    }

    /// The live sessions bound to `user`, oldest first. It costs one store read per session of
    /// the user, not a scan of every session.
    pub async fn list(&self, user: impl fmt::Display) -> Result<Vec<UserSession>, SessionError> {
        let mut sessions = self.store.sessions_of(&user.to_string()).await?;
        for session in &mut sessions {
            session.current = Some(session.handle) == self.current;
        }
        sessions.sort_by_key(|session| (session.created_at, session.handle));
        Ok(sessions)
    }

    /// Revokes the session `handle` if it is bound to `user`, and says whether it did. A handle
    /// of another user's session revokes nothing, so a handle sent back in a form cannot reach
    /// past the signed-in user.
    pub async fn revoke(
        &self,
        user: impl fmt::Display,
        handle: SessionDigest,
    ) -> Result<bool, SessionError> {
        Ok(self.store.revoke(&user.to_string(), handle).await?)
    }

    /// Revokes every session bound to `user`, the request's own included, and returns how many
    /// it revoked. See [`SessionStore::revoke_all`](crate::SessionStore::revoke_all) for what
    /// happens to sessions renewed or created for the user meanwhile.
    pub async fn revoke_all(&self, user: impl fmt::Display) -> Result<u64, SessionError> {
        let revoked = self.store.revoke_all(&user.to_string(), None).await?;
        Ok(revoked.len() as u64)
    }

    /// Revokes every session bound to `user` but the request's own ("sign out everywhere
    /// else"), and returns how many it revoked. Outside a request, or in a request without a
    /// stored session, no session is the request's own, and it revokes them all.
    pub async fn revoke_others(&self, user: impl fmt::Display) -> Result<u64, SessionError> {
        let except = self.current;
        let revoked = self.store.revoke_all(&user.to_string(), except).await?;
        Ok(revoked.len() as u64)
    }
}

/// Loads the request's session, once per request as every session extractor does, to know
/// which of the user's sessions is the request's own.
impl FromRequest for UserSessions {
    type Error = SessionError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, SessionError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let session = Session::load_from(&req.extensions());
        Box::pin(async move {
            let session = session.await?;
            let store = Arc::clone(&session.request().config().store);
            Ok(Self::new(store, session.request().stored_digest()))
        })
    }
}
