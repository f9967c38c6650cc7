//! The session of one request, and the untyped [`Session`] handle to it.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use actix_web::dev::{Extensions, Payload};
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::changes::{Changes, SessionPolicy};
use crate::commit::{self, CookieUpdate};
use crate::config::Config;
use crate::cookie::{Cookies, Fallbacks, Incoming, Rejection};
use crate::error::SessionError;
use crate::error::UnreadableValue;
use crate::expiry::Expiry;
use crate::id::{SessionDigest, SessionId};
use crate::owner::SessionOwner;
use crate::record::Record;
use crate::store;

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
    /// [`SessionError::TooLarge`] where the session as this request sees it would outgrow
    /// [`max_session_size`](crate::SessionMiddlewareBuilder::max_session_size); the session then
    /// stays as it was. The cap is checked again when the response saves, against the latest
    /// stored copy, so that concurrent requests cannot grow a session past it together.
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
        let limit = self.0.config.lifetime.policy.max_size();
        let mut state = self.0.state.borrow_mut();
        let size = state.size_with(&key, &json);
        if size > limit {
            return Err(SessionError::TooLarge { key, size, limit });
        }
        state.changes.set(key, json);
        Ok(())
    }

    /// Deletes `key` and returns the JSON text it held, as actix-session's `remove` does.
    pub fn remove(&self, key: &str) -> Option<String> {
        let mut state = self.0.state.borrow_mut();
        let previous = state.get(key).map(str::to_owned);
        state.changes.remove(key);
        previous
    }

    /// Deletes `key` and returns the value it held as a `T`.
    ///
    /// The key is deleted even where its value is not a `T`; the error then says so, where
    /// actix-session's `remove_as` hands back the JSON text instead.
    pub fn remove_as<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, SessionError> {
        self.remove(key).map(|json| parse(key, &json)).transpose()
    }

    /// Replaces the value under `key` with `f` of it. Does nothing where `key` is absent.
    ///
    /// Errors as [`get`](Session::get) where the stored value is not a `T`, and as
    /// [`insert`](Session::insert) for the new value; either way the session stays as it was.
    /// The read and the write are of this request's copy: a concurrent request that updates the
    /// same key may save in between, and the last save wins.
    pub fn update<T: Serialize + DeserializeOwned>(
        &self,
        key: impl Into<String>,
        f: impl FnOnce(T) -> T,
    ) -> Result<(), SessionError> {
        let key = key.into();
        match self.get(&key)? {
            Some(value) => self.insert(key, f(value)),
            None => Ok(()),
        }
    }

    /// As [`update`](Session::update), but stores `default` where `key` is absent.
    pub fn update_or<T: Serialize + DeserializeOwned>(
        &self,
        key: impl Into<String>,
        default: T,
        f: impl FnOnce(T) -> T,
    ) -> Result<(), SessionError> {
        let key = key.into();
        let value = self.get(&key)?.map_or(default, f);
        self.insert(key, value)
    }

    /// Every key and its JSON text, as this request sees the session: the stored copy with this
    /// request's writes and removals applied. A copy, in key order, where actix-session lends
    /// its map.
    pub fn entries(&self) -> BTreeMap<String, String> {
        let state = self.0.state.borrow();
        state
            .entries()
            .map(|(key, json)| (key.to_owned(), json.to_owned()))
            .collect()
    }

    /// Whether `key` holds a value.
    pub fn contains_key(&self, key: &str) -> bool {
        self.0.state.borrow().get(key).is_some()
    }

    /// Deletes every key and unbinds the session from its user. The session and its id stay.
    pub fn clear(&self) {
        self.0.state.borrow_mut().changes.clear();
    }

    /// Ends the session: it is deleted from the store and the cache, and the response removes
    /// the cookie, whatever the response's status. Typically called on logout.
    ///
    /// Writes made after `purge` in the same request start a new session with a new id, holding
    /// only those writes. [`renew`](Session::renew) after `purge` does nothing: the purged session
    /// never comes back.
    pub fn purge(&self) {
        self.0.purge();
    }

    /// Moves the session's data to a new id and deletes the old one. Call it when privileges
    /// change, typically on login, to defeat session fixation: an id planted by an attacker
    /// before login is worthless after it.
    ///
    /// Writes after `renew` in the same request go to the new id. On a session that has never
    /// been saved, `renew` does nothing: a new session gets a new id anyway. The move happens in
    /// one store operation when the response leaves, on the latest stored copy. If the session
    /// was purged meanwhile (a concurrent logout), none of its data moves: the new id holds only
    /// this request's writes.
    ///
    /// Everything else moves: every key, the session's own expiry rule, and its creation time,
    /// so [`absolute_lifetime`](crate::SessionMiddlewareBuilder::absolute_lifetime) still counts
    /// from the session's first save, which may be before the login. A session planted by an
    /// attacker brings its keys and its rule along: on login, call [`clear`](Session::clear)
    /// unless the anonymous session holds something worth keeping, and
    /// [`set_expiry`](Session::set_expiry) with `None` as well as `Some`. The guide's chapter on
    /// [login and logout](crate::guide::login_and_logout) shows a complete login.
    pub fn renew(&self) {
        self.0.state.borrow_mut().renew();
    }

    /// Gives this session its own expiry rule, kept with the session for its later requests;
    /// `None` returns it to the middleware's default. Typically "remember me" on login:
    /// `session.set_expiry(Some(Expiry::OnInactivity(Duration::from_secs(30 * 86_400))))`.
    ///
    /// The rule is saved with the session's next save; on a session that has never been saved it
    /// takes effect when the first value is written. Only a request that calls `set_expiry`
    /// sends a rule: a concurrent request that saves later keeps the rule set here. The
    /// [`absolute_lifetime`](crate::SessionMiddlewareBuilder::absolute_lifetime) still caps it,
    /// and no deadline lies more than [`Expiry::LONGEST`] ahead, so any duration is safe.
    pub fn set_expiry(&self, expiry: Option<Expiry>) {
        self.0.state.borrow_mut().changes.set_expiry(expiry);
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

    /// Binds the session to `owner`, the user who signed in on it, with the app's label for the
    /// device, if any: the session then appears in [`UserSessions::list`] for that user and goes
    /// with [`UserSessions::revoke_all`]. Typically called on login, right after
    /// [`renew`](Session::renew); the binding is saved with the session and moves with every
    /// later renewal.
    ///
    /// Binding again replaces the binding; [`clear`](Session::clear) and
    /// [`purge`](Session::purge) remove it, as does [`unbind`](Session::unbind). A request that
    /// leaves the binding alone pays nothing for it.
    ///
    /// [`SessionError::InvalidOwner`] where the user id is empty or longer than
    /// [`SessionOwner::MAX_USER_LEN`] bytes; the session then stays as it was.
    ///
    /// [`UserSessions::list`]: crate::UserSessions::list
    /// [`UserSessions::revoke_all`]: crate::UserSessions::revoke_all
    pub fn bind(&self, owner: SessionOwner) -> Result<(), SessionError> {
        owner.check()?;
        self.0.state.borrow_mut().changes.bind(owner);
        Ok(())
    }

    /// Unbinds the session from its user, keeping its keys: it no longer appears among the
    /// user's sessions.
    pub fn unbind(&self) {
        self.0.state.borrow_mut().changes.unbind();
    }

    /// The user this session is bound to, as this request sees it: the stored binding, or the
    /// one this request set.
    pub fn owner(&self) -> Option<SessionOwner> {
        let state = self.0.state.borrow();
        match state.changes.owner() {
            Some(owner) => owner.cloned(),
            None => state.stored.as_ref()?.owner().cloned(),
        }
    }

    /// What this request has done to the session, for a test or an outer middleware to check.
    ///
    /// It stays readable once the response has left the session middleware, from
    /// [`SessionExt::loaded_session`](crate::SessionExt::loaded_session) on the
    /// `ServiceResponse`; the keys then read as empty. It tells what the request asked for,
    /// whatever became of it: on a server error only a purge is carried out, and writes to a
    /// session that ended meanwhile are refused with [`SessionError::Ended`].
    pub fn status(&self) -> SessionStatus {
        self.0.status()
    }
}

/// What a request has done to its session: the answer of [`Session::status`].
///
/// The names are actix-session's. Where the meanings differ, `Changed` and `Renewed` are only
/// reported when something would be saved: writes that end up writing no value (a `remove` or a
/// `clear` alone) to a session that was never saved create nothing, and `renew` on such a
/// session does nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionStatus {
    /// Nothing to save: the session was read, or not used. A read may still move the session's
    /// deadline, as [`refresh_after`](crate::SessionMiddlewareBuilder::refresh_after) says.
    Unchanged,
    /// Writes, removals, [`clear`](Session::clear) or [`set_expiry`](Session::set_expiry) are to
    /// be saved.
    Changed,
    /// [`renew`](Session::renew) moves the session to a new id, with any changes.
    Renewed,
    /// [`purge`](Session::purge) was called; so it stays, even if later writes start a new
    /// session.
    Purged,
}

/// Parses the JSON text stored under `key`.
pub(crate) fn parse<T: DeserializeOwned>(key: &str, json: &str) -> Result<T, SessionError> {
    serde_json::from_str(json).map_err(|error| SessionError::Deserialize {
        key: key.to_owned(),
        type_name: std::any::type_name::<T>(),
        source: UnreadableValue::new(&error),
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
    /// The request's session state.
    pub(crate) fn request(&self) -> &RequestSession {
        &self.0
    }

    /// Finds the request's session and loads it, once per request.
    pub(crate) fn extract(req: &HttpRequest) -> SessionFuture {
        Self::load_from(&req.extensions())
    }

    /// Finds the session of the request whose extensions are `extensions`, and loads it, once
    /// per request.
    pub(crate) fn load_from(extensions: &Extensions) -> SessionFuture {
        let request_session = extensions.get::<Rc<RequestSession>>().cloned();
        Box::pin(async move {
            let request_session = request_session.ok_or(SessionError::MiddlewareMissing)?;
            request_session.load().await?;
            Ok(Session(request_session))
        })
    }

    /// The session of the request whose extensions are `extensions`, if it is already loaded.
    pub(crate) fn loaded_in(extensions: &Extensions) -> Option<Session> {
        let request_session = extensions.get::<Rc<RequestSession>>()?;
        let loaded = request_session.loaded.initialized();
        loaded.then(|| Session(Rc::clone(request_session)))
    }
}

/// The session state of one request, shared by the middleware and every extractor of it.
pub(crate) struct RequestSession {
    config: Arc<Config>,
    /// The request's cookie; once the session is loaded, the one whose session was found.
    incoming: Cell<Incoming>,
    /// Further cookies of ours, tried where the first names no live session.
    fallbacks: Fallbacks,
    loaded: tokio::sync::OnceCell<()>,
    state: RefCell<State>,
    /// Whether [`Session::purge`] was called, which nothing later in the request undoes.
    purge_called: Cell<bool>,
    /// The status the request left, recorded when it committed.
    committed: Cell<Option<SessionStatus>>,
    /// Whether the cookie named a session that this middleware renewed away a moment ago.
    renewed_away: Cell<bool>,
}

/// What the request has done to its session so far.
pub(crate) struct State {
    /// The stored copy the request started from; `None` for a new session.
    pub(crate) stored: Option<Record>,
    /// The writes made by the request, to be applied to the latest stored copy, with the expiry
    /// rule it set, if it set one.
    pub(crate) changes: Changes,
    /// The id of a session purged by this request, to be deleted.
    pub(crate) purged: Option<SessionId>,
    /// The new id that [`Session::renew`] moves the session to.
    pub(crate) renewed_to: Option<SessionId>,
}

impl State {
    pub(crate) fn new(stored: Option<Record>, policy: SessionPolicy) -> Self {
        Self {
            stored,
            changes: Changes::new(policy),
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

    /// Every key and its JSON text as the request sees them: the stored ones it left alone, then
    /// the ones it wrote.
    fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        let stored = self.stored.iter().flat_map(Record::entries);
        let unchanged = stored.filter(|(key, _)| self.changes.lookup(key).is_none());
        let written = self
            .changes
            .writes()
            .filter_map(|(key, json)| json.map(|json| (key, json)));
        unchanged.chain(written)
    }

    /// The session's size, in bytes of keys and JSON values, once `key` holds `json`.
    fn size_with(&self, key: &str, json: &str) -> usize {
        let others = self.entries().filter(|(other, _)| *other != key);
        others.map(|(k, v)| k.len() + v.len()).sum::<usize>() + key.len() + json.len()
    }

    /// What the save would do, short of a purge, which [`RequestSession`] tracks, and leaving
    /// out a read's refresh: the choice that [`commit::plan`] carries out.
    pub(crate) fn status(&self) -> SessionStatus {
        match (&self.stored, self.renewed_to) {
            (_, Some(_)) => SessionStatus::Renewed,
            (Some(_), None) if self.changes.is_dirty() => SessionStatus::Changed,
            (None, _) if self.changes.writes_a_value() => SessionStatus::Changed,
            _ => SessionStatus::Unchanged,
        }
    }

    fn own_expiry(&self) -> Option<Expiry> {
        self.changes.rule_over(self.stored.as_ref())
    }

    fn purge(&mut self) {
        if let Some(record) = self.stored.take() {
            self.purged = Some(record.id());
        }
        self.changes = Changes::new(*self.changes.policy());
        self.renewed_to = None;
    }

    /// Mints the new id with [`SessionId::generate_successor`], so that a store may keep the
    /// session beside its successor (one hash slot on Redis Cluster).
    fn renew(&mut self) {
        if let Some(stored) = &self.stored {
            self.renewed_to = Some(SessionId::generate_successor(&stored.id()));
        }
    }
}

impl RequestSession {
    pub(crate) fn new(config: Arc<Config>, cookies: Cookies) -> Self {
        let policy = config.lifetime.policy;
        Self {
            config,
            incoming: Cell::new(cookies.incoming),
            fallbacks: cookies.fallbacks,
            loaded: tokio::sync::OnceCell::new(),
            state: RefCell::new(State::new(None, policy)),
            purge_called: Cell::new(false),
            committed: Cell::new(None),
            renewed_away: Cell::new(false),
        }
    }

    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    /// The digest of the stored session the request's cookie named, if it named a live one.
    pub(crate) fn stored_digest(&self) -> Option<SessionDigest> {
        let state = self.state.borrow();
        state.stored.as_ref().map(|record| record.id().digest())
    }

    /// What the request has done to its session, or what it had done when it committed.
    fn status(&self) -> SessionStatus {
        if let Some(committed) = self.committed.get() {
            return committed;
        }
        if self.purge_called.get() {
            return SessionStatus::Purged;
        }
        self.state.borrow().status()
    }

    fn purge(&self) {
        self.purge_called.set(true);
        self.state.borrow_mut().purge();
    }

    /// Loads the stored session the first time it is called; later calls, and calls made while
    /// the first is under way, share that load.
    pub(crate) async fn load(&self) -> Result<(), SessionError> {
        self.loaded
            .get_or_try_init(|| async {
                let stored = match self.incoming.get() {
                    Incoming::Valid { id, version, .. } => self.load_live(id, version).await?,
                    Incoming::Absent | Incoming::Rejected => None,
                };
                let stored = match stored {
                    None => self.load_fallback().await?,
                    stored => stored,
                };
                *self.state.borrow_mut() = State::new(stored, self.config.lifetime.policy);
                Ok::<(), SessionError>(())
            })
            .await
            .map(drop)
    }

    /// The session of the first fallback cookie whose session is live, which then counts as the
    /// request's cookie: a cookie planted for a dead or made-up session, sent first, does not
    /// push out a signed-in one.
    async fn load_fallback(&self) -> Result<Option<Record>, SessionError> {
        for &(id, current_key, version) in self.fallbacks.iter().flatten() {
            if let Some(record) = self.load_record(id, version).await? {
                self.incoming.set(Incoming::Valid {
                    id,
                    current_key,
                    version,
                });
                return Ok(Some(record));
            }
        }
        Ok(None)
    }

    /// Loads the session the cookie names; where the store holds none, the log is told that the
    /// cookie opened no session.
    async fn load_live(&self, id: SessionId, version: u64) -> Result<Option<Record>, SessionError> {
        let stored = self.load_record(id, version).await?;
        if stored.is_none() {
            Rejection::NoLiveSession.log(&self.config.cookie.name);
            let renewed = self.config.renewals.contains(&id, Instant::now());
            self.renewed_away.set(renewed);
        }
        Ok(stored)
    }

    /// Loads one record, at least at the version the cookie was stamped with; a corrupt one
    /// counts as none, as [`store::load_for_request`] says.
    async fn load_record(
        &self,
        id: SessionId,
        version: u64,
    ) -> Result<Option<Record>, SessionError> {
        Ok(store::load_for_request(&*self.config.store, &id, version).await?)
    }

    /// Saves what the request changed, and says what to do with the cookie: the plan of
    /// [`commit::plan`], carried out against the store.
    pub(crate) async fn commit(&self, server_error: bool) -> Result<CookieUpdate, SessionError> {
        self.committed.set(Some(self.status()));
        let policy = self.config.lifetime.policy;
        let state = self
            .loaded
            .get()
            .map(|()| self.state.replace(State::new(None, policy)));
        let request = commit::Request {
            incoming: self.incoming.get(),
            state,
            renewed_away: self.renewed_away.get(),
            server_error,
            now: SystemTime::now(),
        };
        let plan = commit::plan(request, &self.config.lifetime)?;
        if let Some(commit::Write::Renew { from, .. }) = &plan.write {
            self.config.renewals.record(*from, Instant::now());
        }
        commit::carry_out(plan, &*self.config.store, &self.config.lifetime).await
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn stored() -> Record {
        let created = UNIX_EPOCH + Duration::from_secs(1_000);
        let entries = [("a", "1"), ("c", "3")].map(|(k, v)| (k.to_owned(), v.to_owned()));
        let expires = created + Duration::from_secs(3_600);
        Record::new(SessionId::generate(), 1, created, expires, entries)
    }

    /// What a request does to its state.
    type Act = fn(&mut State);

    fn state(stored: bool, act: Act) -> State {
        let stored = stored.then(self::stored);
        let mut state = State::new(stored, SessionPolicy::default());
        act(&mut state);
        state
    }

    fn read(_: &mut State) {}

    fn write(state: &mut State) {
        state.changes.set("b", "2");
    }

    fn remove(state: &mut State) {
        state.changes.remove("a");
    }

    fn clear(state: &mut State) {
        state.changes.clear();
    }

    fn rule(state: &mut State) {
        state.changes.set_expiry(None);
    }

    #[test]
    fn the_status_is_changed_or_renewed_only_where_the_save_would_write() {
        use SessionStatus::{Changed, Renewed, Unchanged};
        let cases: [(&str, bool, Act, SessionStatus); 12] = [
            ("a read", true, read, Unchanged),
            ("a read of no session", false, read, Unchanged),
            ("a write", true, write, Changed),
            ("a first write", false, write, Changed),
            ("a removal", true, remove, Changed),
            ("a removal alone", false, remove, Unchanged),
            ("a clear", true, clear, Changed),
            ("a clear alone", false, clear, Unchanged),
            ("a rule", true, rule, Changed),
            ("a rule alone", false, rule, Unchanged),
            ("a renewal", true, State::renew, Renewed),
            ("a renewal of no session", false, State::renew, Unchanged),
        ];
        for (case, stored, act, expected) in cases {
            assert_eq!(state(stored, act).status(), expected, "{case}");
        }
    }

    #[test]
    fn entries_are_the_stored_ones_with_the_requests_writes_and_removals() {
        let changed = state(true, |state| {
            state.changes.remove("a").set("b", "2").set("c", "4");
        });
        let entries: BTreeMap<&str, &str> = changed.entries().collect();
        assert_eq!(entries, BTreeMap::from([("b", "2"), ("c", "4")]));
        let cleared = state(true, |state| {
            state.changes.clear().set("d", "5");
        });
        assert_eq!(cleared.entries().collect::<Vec<_>>(), [("d", "5")]);
    }
}
