//! The session of one request, and the untyped [`Session`] handle to it.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::SystemTime;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::Config;
use crate::cookie::Incoming;
use crate::error::{Chain, SessionError, StoreError};
use crate::expiry::Expiry;
use crate::id::SessionId;
use crate::record::{Changes, Record};

/// The untyped session extractor: read and write any key, and control the session's life.
///
/// Prefer a `#[derive(SessionKeys)]` struct for your own keys; `Session` is for the rest:
/// logout ([`purge`](Session::purge)), login ([`renew`](Session::renew)), and keys only known at
/// run time. All handles of one request, typed or not, share one session, loaded from the store
/// at most once, when the first of them is extracted. Accessors are synchronous; the changes are
/// saved when the response leaves the middleware.
///
/// ```no_run
/// use actix_web::{HttpResponse, post};
/// use kv_sessions::{Session, SessionError};
///
/// #[post("/logout")]
/// async fn logout(session: Session) -> HttpResponse {
///     session.purge();
///     HttpResponse::Ok().finish()
/// }
///
/// #[post("/theme/{name}")]
/// async fn theme(session: Session, name: actix_web::web::Path<String>) -> Result<HttpResponse, SessionError> {
///     session.insert("theme", name.into_inner())?;
///     Ok(HttpResponse::NoContent().finish())
/// }
/// ```
#[derive(Clone)]
pub struct Session(Rc<RequestSession>);

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id())
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Reads the value stored under `key` as a `T`.
    ///
    /// `Ok(None)` where the key is absent; [`SessionError::Deserialize`] where the stored value
    /// is not a `T`.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, SessionError> {
        let state = self.0.state.borrow();
        state.get(key).map(|json| parse(key, json)).transpose()
    }

    /// Stores `value` under `key`, replacing what was there.
    ///
    /// [`SessionError::TooLarge`] where the session would outgrow
    /// [`max_session_size`](crate::SessionMiddlewareBuilder::max_session_size); the session then
    /// stays as it was.
    pub fn insert<T: Serialize>(
        &self,
        key: impl Into<String>,
        value: T,
    ) -> Result<(), SessionError> {
        let key = key.into();
        let json = match serde_json::to_string(&value) {
            Ok(json) => json,
            Err(source) => return Err(SessionError::Serialize { key, source }),
        };
        let limit = self.0.config.max_session_size;
        let mut state = self.0.state.borrow_mut();
        let size = state.size_with(&key, &json);
        if size > limit {
            return Err(SessionError::TooLarge { key, size, limit });
        }
        state.changes.set(key, json);
        Ok(())
    }

    /// Deletes `key`, and says whether it held a value.
    pub fn remove(&self, key: &str) -> bool {
        self.take_json(key).is_some()
    }

    /// Whether `key` holds a value.
    pub fn contains_key(&self, key: &str) -> bool {
        self.0.state.borrow().get(key).is_some()
    }

    /// Deletes every key. The session and its id stay.
    pub fn clear(&self) {
        self.0.state.borrow_mut().changes.clear();
    }

    /// Ends the session: it is deleted from the store and the cache, and the response removes
    /// the cookie. Typically called on logout.
    ///
    /// Writes made after `purge` in the same request start a new session with a new id, holding
    /// only those writes. [`renew`](Session::renew) after `purge` does nothing: the purged session
    /// never comes back.
    pub fn purge(&self) {
        self.0.state.borrow_mut().purge();
    }

    /// Moves the session's data to a new id and deletes the old one. Call it when privileges
    /// change, typically on login, to defeat session fixation: an id planted by an attacker
    /// before login is worthless after it.
    ///
    /// Writes after `renew` in the same request go to the new id. On a session that has never
    /// been saved, `renew` does nothing: a new session gets a new id anyway. The renewed session
    /// counts as new for [`absolute_lifetime`](crate::SessionMiddlewareBuilder::absolute_lifetime).
    pub fn renew(&self) {
        self.0.state.borrow_mut().renew();
    }

    /// Gives this session its own expiry rule, kept with the session for its later requests;
    /// `None` returns it to the middleware's default. Typically "remember me" on login:
    /// `session.set_expiry(Some(Expiry::OnInactivity(Duration::from_secs(30 * 86_400))))`.
    ///
    /// The rule is saved with the session's next save; on a session that has never been saved it
    /// takes effect when the first value is written. The
    /// [`absolute_lifetime`](crate::SessionMiddlewareBuilder::absolute_lifetime) still caps it.
    pub fn set_expiry(&self, expiry: Option<Expiry>) {
        self.0.state.borrow_mut().expiry = Some(expiry);
    }

    /// The expiry rule this session follows: its own, or the middleware's default.
    pub fn expiry(&self) -> Expiry {
        let own = self.0.state.borrow().own_expiry();
        self.0.config.lifetime.rule(own)
    }

    /// The session's id: `None` for a session that will be created when this request saves it.
    /// After [`renew`](Session::renew), the new id.
    pub fn id(&self) -> Option<SessionId> {
        let state = self.0.state.borrow();
        state
            .renewed_to
            .or_else(|| state.stored.as_ref().map(Record::id))
    }

    /// Removes `key` and returns the JSON text it held.
    pub(crate) fn take_json(&self, key: &str) -> Option<String> {
        let mut state = self.0.state.borrow_mut();
        let previous = state.get(key).map(str::to_owned);
        state.changes.remove(key);
        previous
    }
}

/// Parses the JSON text stored under `key`.
pub(crate) fn parse<T: DeserializeOwned>(key: &str, json: &str) -> Result<T, SessionError> {
    serde_json::from_str(json).map_err(|source| SessionError::Deserialize {
        key: key.to_owned(),
        source,
    })
}

/// The future returned when a [`Session`] is extracted.
pub(crate) type SessionFuture = Pin<Box<dyn Future<Output = Result<Session, SessionError>>>>;

impl FromRequest for Session {
    type Error = SessionError;
    type Future = SessionFuture;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Session::extract(req)
    }
}

impl Session {
    /// Finds the request's session and loads it, once per request.
    pub(crate) fn extract(req: &HttpRequest) -> SessionFuture {
        let request_session = req.extensions().get::<Rc<RequestSession>>().cloned();
        Box::pin(async move {
            let request_session = request_session.ok_or(SessionError::MiddlewareMissing)?;
            request_session.load().await?;
            Ok(Session(request_session))
        })
    }
}

/// The session state of one request, shared by the middleware and every extractor of it.
pub(crate) struct RequestSession {
    config: Arc<Config>,
    incoming: Incoming,
    loaded: tokio::sync::OnceCell<()>,
    state: RefCell<State>,
}

/// What the request has done to its session so far.
struct State {
    /// The stored copy the request started from; `None` for a new session.
    stored: Option<Record>,
    /// The writes made by the request, to be applied to the latest stored copy.
    changes: Changes,
    /// The expiry rule set by [`Session::set_expiry`], if it was called.
    expiry: Option<Option<Expiry>>,
    /// The id of a session purged by this request, to be deleted.
    purged: Option<SessionId>,
    /// The new id that [`Session::renew`] moved the session to.
    renewed_to: Option<SessionId>,
}

impl State {
    fn new(stored: Option<Record>) -> Self {
        Self {
            stored,
            changes: Changes::new(SystemTime::UNIX_EPOCH),
            expiry: None,
            purged: None,
            renewed_to: None,
        }
    }

    fn get(&self, key: &str) -> Option<&str> {
        match self.changes.lookup(key) {
            Some(write) => write,
            None => self.stored.as_ref().and_then(|record| record.get(key)),
        }
    }

    /// The session's size, in bytes of keys and JSON values, once `key` holds `json`.
    fn size_with(&self, key: &str, json: &str) -> usize {
        let stored = self.stored.iter().flat_map(Record::entries);
        let unchanged = stored
            .filter(|(stored_key, _)| {
                *stored_key != key && self.changes.lookup(stored_key).is_none()
            })
            .map(|(k, v)| k.len() + v.len());
        let written = self
            .changes
            .writes()
            .filter(|(written_key, _)| *written_key != key)
            .filter_map(|(k, v)| v.map(|v| k.len() + v.len()));
        unchanged.chain(written).sum::<usize>() + key.len() + json.len()
    }

    fn own_expiry(&self) -> Option<Expiry> {
        match self.expiry {
            Some(set) => set,
            None => self.stored.as_ref().and_then(Record::expiry),
        }
    }

    fn purge(&mut self) {
        if let Some(record) = self.stored.take() {
            self.purged = Some(record.id());
        }
        self.changes = Changes::new(SystemTime::UNIX_EPOCH);
        self.expiry = None;
        self.renewed_to = None;
    }

    fn renew(&mut self) {
        if self.stored.is_some() {
            self.renewed_to = Some(SessionId::generate());
        }
    }

    /// Whether the request changed anything a save would keep.
    fn is_dirty(&self) -> bool {
        self.changes.touches_entries() || self.expiry.is_some()
    }

    /// Whether the changes write at least one value, so that a new session is worth creating.
    fn writes_a_value(&self) -> bool {
        self.changes.writes().any(|(_, json)| json.is_some())
    }
}

/// What the response must do with the session cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CookieUpdate {
    /// Leave the browser's cookie as it is.
    Keep,
    /// Send a cookie for this session.
    Set(Issue),
    /// Remove the browser's cookie.
    Remove,
}

/// A session cookie to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Issue {
    pub(crate) id: SessionId,
    pub(crate) rule: Expiry,
    pub(crate) deadline: SystemTime,
}

impl RequestSession {
    pub(crate) fn new(config: Arc<Config>, incoming: Incoming) -> Self {
        Self {
            config,
            incoming,
            loaded: tokio::sync::OnceCell::new(),
            state: RefCell::new(State::new(None)),
        }
    }

    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    /// Loads the stored session the first time it is called; later calls, and calls made while
    /// the first is under way, share that load.
    async fn load(&self) -> Result<(), SessionError> {
        self.loaded
            .get_or_try_init(|| async {
                let stored = match self.incoming {
                    Incoming::Valid { id, .. } => self.load_record(id).await?,
                    Incoming::Absent | Incoming::Rejected => None,
                };
                *self.state.borrow_mut() = State::new(stored);
                Ok::<(), SessionError>(())
            })
            .await
            .map(drop)
    }

    /// Loads one record. A corrupt record is logged and deleted, and the client gets a fresh
    /// session rather than an error it could never get past.
    async fn load_record(&self, id: SessionId) -> Result<Option<Record>, SessionError> {
        match self.config.store.load(&id).await {
            Ok(record) => Ok(record),
            Err(error @ StoreError::Corrupt(_)) => {
                tracing::warn!(error = %Chain(&error), "discarding a corrupt session record");
                if let Err(error) = self.config.store.delete(&id).await {
                    tracing::warn!(error = %Chain(&error), "could not delete a corrupt session record");
                }
                Ok(None)
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Saves what the request changed, and says what to do with the cookie.
    ///
    /// Nothing is saved when the response is a server error: the handler failed, and its
    /// half-made changes must not persist.
    pub(crate) async fn commit(&self, server_error: bool) -> Result<CookieUpdate, SessionError> {
        if self.loaded.get().is_none() {
            return Ok(self.unsaved_cookie(None));
        }
        let mut state = self.state.replace(State::new(None));
        if server_error {
            let found = state.stored.is_some() || state.purged.is_some();
            return Ok(self.unsaved_cookie(Some(found)));
        }
        if let Some(id) = state.purged {
            self.config.store.delete(&id).await?;
        }
        let now = SystemTime::now();
        if let Some(saved) = self.save(&mut state, now).await? {
            return Ok(CookieUpdate::Set(self.issue(&saved)));
        }
        match &state.stored {
            _ if state.purged.is_some() => Ok(CookieUpdate::Remove),
            Some(stored) if self.incoming_needs_resealing() => {
                Ok(CookieUpdate::Set(self.issue(stored)))
            }
            stored => Ok(self.unsaved_cookie(Some(stored.is_some()))),
        }
    }

    /// The cookie for a stored record.
    fn issue(&self, record: &Record) -> Issue {
        Issue {
            id: record.id(),
            rule: self.config.lifetime.rule(record.expiry()),
            deadline: record.expires_at(),
        }
    }

    /// Whether the incoming cookie was opened by a previous key and must be sealed again.
    fn incoming_needs_resealing(&self) -> bool {
        matches!(
            self.incoming,
            Incoming::Valid {
                current_key: false,
                ..
            }
        )
    }

    /// The cookie update for a request that saved nothing. `found` says whether the cookie's
    /// session was found in the store, where it was looked up. A cookie that names no live
    /// session is removed, so that the browser stops sending it.
    fn unsaved_cookie(&self, found: Option<bool>) -> CookieUpdate {
        match (self.incoming, found) {
            (Incoming::Rejected, _) | (Incoming::Valid { .. }, Some(false)) => CookieUpdate::Remove,
            _ => CookieUpdate::Keep,
        }
    }

    /// Writes the changes to the store, and returns the record as saved, if anything was saved.
    /// The request's changes are taken out of `state`.
    ///
    /// - A renewed session is written whole under its new id, then the old id is deleted.
    /// - A stored session gets the request's changes, or only a later deadline where a read
    ///   counts as activity.
    /// - A new session is created only when the request wrote a value.
    async fn save(
        &self,
        state: &mut State,
        now: SystemTime,
    ) -> Result<Option<Record>, SessionError> {
        let lifetime = &self.config.lifetime;
        let store = &self.config.store;
        let own = state.own_expiry();
        let rule = lifetime.rule(own);
        let saved = match (&state.stored, state.renewed_to) {
            (Some(stored), Some(new_id)) => {
                let moved = state.changes.apply_to(stored.id(), Some(stored), now);
                let mut changes = Changes::replacing(&moved, lifetime.deadline(rule, now, now));
                changes.set_expiry(own);
                let saved = store.save(&new_id, &changes).await?;
                store.delete(&stored.id()).await?;
                saved
            }
            (Some(stored), None) if state.is_dirty() || lifetime.needs_refresh(stored, now) => {
                let deadline = lifetime.deadline(rule, stored.created_at(), now);
                let mut changes = take_changes(&mut state.changes).with_deadline(deadline);
                changes.set_expiry(own);
                store.save(&stored.id(), &changes).await?
            }
            (None, _) if state.writes_a_value() => {
                let mut changes = take_changes(&mut state.changes)
                    .with_deadline(lifetime.deadline(rule, now, now));
                changes.set_expiry(own);
                store.save(&SessionId::generate(), &changes).await?
            }
            _ => return Ok(None),
        };
        Ok(Some(saved))
    }
}

/// The writes in `changes`, leaving none behind.
fn take_changes(changes: &mut Changes) -> Changes {
    std::mem::replace(changes, Changes::new(SystemTime::UNIX_EPOCH))
}
