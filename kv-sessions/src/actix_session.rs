//! Any [`SessionStore`] of this crate as a store of [actix-session], the middleware that
//! [actix-identity] builds on (feature `actix-session`).
//!
//! An app on actix-session keeps its middleware, its handlers and its `Session` calls, and
//! switches store in one line, with [`ActixSessionStore`]:
//!
//! ```no_run
//! use actix_session::SessionMiddleware;
//! use actix_web::cookie::Key;
//! use actix_web::{App, HttpServer};
//! use kv_sessions::SledStore;
//! use kv_sessions::actix_session::ActixSessionStore;
//!
//! #[actix_web::main]
//! async fn main() -> std::io::Result<()> {
//!     // Open the store once: actix-session builds its middleware in every worker, and each
//!     // worker's clone of the adapter shares this one store.
//!     let sled = SledStore::open("sessions.sled").map_err(std::io::Error::other)?;
//!     let store = ActixSessionStore::new(sled.clone());
//!     let key = Key::generate(); // in production, the same key on every start
//!
//!     HttpServer::new(move || {
//!         App::new().wrap(SessionMiddleware::new(store.clone(), key.clone()))
//!     })
//!     .bind(("127.0.0.1", 8000))?
//!     .run()
//!     .await?;
//!     sled.flush().await.map_err(std::io::Error::other) // the last saves, onto the disk
//! }
//! ```
//!
//! # What the stores add
//!
//! - **Where sessions live**: on local disk with [sled](crate::guide::stores_and_caching), which
//!   survives restarts and needs no server; in memory with moka; moka in front of any of them
//!   through [`CachedStore`](crate::CachedStore); in Redis; or in PostgreSQL, whose table
//!   `migrate_up` creates and upgrades (actix-session ships no SQL store).
//! - **Writes that do not undo each other.** actix-session hands a store the whole state a
//!   request ends with, but this adapter saves only the entries the request changed: two
//!   concurrent requests of one session that write different keys both keep their writes, and
//!   a key one of them removed stays removed. See [Saves](#saves) for exactly what holds.
//! - **Atomic writes**: every save is one merge into the latest stored copy, made atomically by
//!   the store (a transaction, a script, a version check), never a read and a later overwrite.
//! - **No resurrection**: a write that finds its session gone (purged by a logout, renewed away
//!   by a login, expired) fails instead of bringing the session back under a new id. See
//!   [Saves](#saves).
//! - **Stores that never hold a cookie's secret**: each session is kept under a digest of its
//!   id, so whoever reads the store or a backup of it learns no id a cookie could carry.
//! - **A size cap** ([`max_session_size`](ActixSessionStore::max_session_size)) and an
//!   **absolute lifetime** ([`absolute_lifetime`](ActixSessionStore::absolute_lifetime)),
//!   enforced by the store against the merged session.
//!
//! # What actix-session's trait cannot carry
//!
//! - **Typed keys** (`#[derive(SessionKeys)]`), the untyped [`Session`](crate::Session) and
//!   everything else of this crate's middleware: actix-session's own `Session` stays the API.
//! - **Renewals as one move.** actix-session renews by deleting the old session and
//!   saving the request's whole state under a new key, two calls that the store cannot join
//!   into one move: a write another request saved between this request's load and its renewal
//!   is lost, as with actix-session's own stores.
//! - **The cookie rules of this crate's middleware**: actix-session decides when to send the
//!   cookie. In particular, with `TtlExtensionPolicy::OnEveryRequest` it sends back, on every
//!   answer, the cookie the request came with, even where another request renewed the session
//!   meanwhile, which can sign out a user who just signed in.
//! - **Per-session expiry rules.** The lifetime is the middleware's `session_ttl` for every
//!   session, an idle window that each save and each `update_ttl` starts again; like every
//!   deadline of this crate it lies at most [`Expiry::LONGEST`](crate::Expiry::LONGEST) (400
//!   days) ahead.
//! - **Read-your-writes across instances.** This crate's middleware stamps its cookie with the
//!   version each save stored, so that an instance whose cache holds an older copy reads the
//!   store; actix-session's cookie carries only the key. With a cache in front of a shared store,
//!   a client that hops to another instance right after a save may be served that instance's
//!   older copy until the store's invalidation notice arrives there (milliseconds; see
//!   [the guide](crate::guide::more_than_one_instance#a-cache-in-front-of-a-shared-store)).
//! - **Answers other than 500.** A failed save reaches the client as actix-session's opaque
//!   `500 Internal Server Error`, whatever the cause: a store that failed, a session that ended
//!   while the request ran, a session past its size cap. The cause goes to the log.
//!
//! # Saves
//!
//! A load hands actix-session the stored entries plus one of its own, [`LOADED_ENTRIES`],
//! holding a copy of them. When actix-session saves the request's state, the adapter compares
//! it with that copy and applies only the differences to the latest stored copy, as this
//! crate's middleware does:
//!
//! - a key whose value differs from the loaded one is written, a loaded key that is missing is
//!   removed, and every other key keeps its latest stored value, whoever wrote it; where two
//!   requests write one key, the later save wins;
//! - a state without the copy (the handler called `Session::clear`, or removed the entry) is
//!   written whole: it replaces every stored entry, as a clear does;
//! - where the session is gone by the time of the save, nothing is written and the save fails,
//!   so that the client never hears that a write was kept when it was not. actix-session's own
//!   Redis store instead saves the whole state under a new key, bringing back data that a logout
//!   removed.
//!
//! The extra entry is visible to handlers that list a session's entries (`Session::entries`);
//! it never reaches the store.
//!
//! # Switching
//!
//! The keys the adapter hands actix-session are this crate's session ids (32 hex digits, 122
//! random bits). A key minted by one of actix-session's own stores names no session here, so
//! the switch signs every user out once, as any change of store does.
//!
//! [actix-session]: https://docs.rs/actix-session
//! [actix-identity]: https://docs.rs/actix-identity

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ::actix_session::storage::{
    LoadError, SaveError, SessionKey, SessionStore as ActixStore, UpdateError,
};
use actix_web::cookie::time;

use crate::changes::{Changes, Saved, SessionPolicy};
use crate::error::{Chain, SessionError, StoreError};
use crate::expiry::Expiry;
use crate::id::SessionId;
use crate::record::Record;
use crate::store::{self, SessionStore};

/// The entry that holds, in the state a load hands to actix-session, a copy of the entries
/// loaded: what a save compares the request's state with. See [Saves](self#saves).
pub const LOADED_ENTRIES: &str = "kv_sessions.loaded";

/// A [`SessionStore`] of this crate as an `actix_session::storage::SessionStore`: hand it to
/// actix-session's `SessionMiddleware` in place of actix-session's own stores.
///
/// Named for what it is to actix-session, a store; built from one of ours with
/// [`ActixSessionStore::new`]. Clones share the store, so create it once, outside
/// `HttpServer::new`, and clone it into each worker's middleware.
///
/// What it adds to actix-session, and what actix-session's trait leaves out, is set out in [the
/// module's docs](self).
pub struct ActixSessionStore<S> {
    store: Arc<S>,
    max_size: usize,
    absolute_lifetime: Option<Duration>,
}

impl<S> Clone for ActixSessionStore<S> {
    fn clone(&self) -> Self {
        Self {
            store: Arc::clone(&self.store),
            max_size: self.max_size,
            absolute_lifetime: self.absolute_lifetime,
        }
    }
}

impl<S> std::fmt::Debug for ActixSessionStore<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActixSessionStore")
            .field("max_size", &self.max_size)
            .field("absolute_lifetime", &self.absolute_lifetime)
            .finish_non_exhaustive()
    }
}

impl<S: SessionStore> ActixSessionStore<S> {
    /// `store`, for actix-session, with sessions capped at
    /// [`SessionPolicy::DEFAULT_MAX_SIZE`] and no absolute lifetime.
    pub fn new(store: S) -> Self {
        Self {
            store: Arc::new(store),
            max_size: SessionPolicy::DEFAULT_MAX_SIZE,
            absolute_lifetime: None,
        }
    }

    /// Caps sessions at `bytes` of keys and values: a save that would grow a session past it
    /// writes nothing and fails. actix-session itself has no cap.
    pub fn max_session_size(mut self, bytes: usize) -> Self {
        self.max_size = bytes;
        self
    }

    /// Ends every session `lifetime` after its creation, however active it is: the idle window
    /// actix-session asks for never reaches past it.
    pub fn absolute_lifetime(mut self, lifetime: Duration) -> Self {
        self.absolute_lifetime = Some(lifetime);
        self
    }

    /// The store underneath.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Changes under the policy that a save with actix-session's `ttl` follows: an idle window
    /// of `ttl` (none where it is negative), this adapter's size cap and absolute lifetime.
    fn changes(&self, ttl: &time::Duration) -> Changes {
        let idle = Duration::try_from(*ttl).unwrap_or_default();
        let policy = SessionPolicy::new(Expiry::OnInactivity(idle))
            .with_max_size(self.max_size)
            .with_absolute_lifetime(self.absolute_lifetime);
        Changes::new(policy)
    }
}

impl<S: SessionStore> ActixStore for ActixSessionStore<S> {
    async fn load(
        &self,
        session_key: &SessionKey,
    ) -> Result<Option<HashMap<String, String>>, LoadError> {
        let Some(id) = parse(session_key) else {
            return Ok(None);
        };
        let record = store::load_for_request(&*self.store, &id, 0)
            .await
            .map_err(|error| LoadError::Other(logged(error.into())))?;
        Ok(record.map(|record| state_of(&record)))
    }

    async fn save(
        &self,
        session_state: HashMap<String, String>,
        ttl: &time::Duration,
    ) -> Result<SessionKey, SaveError> {
        let mut changes = self.changes(ttl);
        for (key, value) in session_state {
            if key != LOADED_ENTRIES {
                changes.set(key, value);
            }
        }
        let id = SessionId::generate();
        let saved = self.store.create(&id, &changes).await;
        stored(saved).map_err(SaveError::Other)?;
        key_of(id).map_err(SaveError::Other)
    }

    async fn update(
        &self,
        session_key: SessionKey,
        session_state: HashMap<String, String>,
        ttl: &time::Duration,
    ) -> Result<SessionKey, UpdateError> {
        let Some(id) = parse(&session_key) else {
            return Err(UpdateError::Other(logged(SessionError::Ended)));
        };
        let mut changes = self.changes(ttl);
        changes_from(&mut changes, session_state);
        let saved = self.store.update(&id, &changes).await;
        stored(saved).map_err(UpdateError::Other)?;
        Ok(session_key)
    }

    async fn update_ttl(
        &self,
        session_key: &SessionKey,
        ttl: &time::Duration,
    ) -> Result<(), anyhow::Error> {
        let Some(id) = parse(session_key) else {
            return Ok(());
        };
        match self.store.update(&id, &self.changes(ttl)).await {
            Ok(Saved::Stored(_) | Saved::Gone) => Ok(()),
            other => stored(other).map(drop),
        }
    }

    async fn delete(&self, session_key: &SessionKey) -> Result<(), anyhow::Error> {
        let Some(id) = parse(session_key) else {
            return Ok(());
        };
        let deleted = self.store.delete(&id).await;
        deleted.map(drop).map_err(|error| logged(error.into()))
    }
}

/// The session id in an actix-session key; `None` for a key this crate did not mint, such as
/// one of actix-session's own stores, which then names no session.
fn parse(session_key: &SessionKey) -> Option<SessionId> {
    session_key.as_ref().parse().ok()
}

/// The actix-session key of session `id`: its text form.
fn key_of(id: SessionId) -> Result<SessionKey, anyhow::Error> {
    SessionKey::try_from(id.to_string()).map_err(anyhow::Error::new)
}

/// The state handed to actix-session for `record`: its entries, and a copy of them under
/// [`LOADED_ENTRIES`].
fn state_of(record: &Record) -> HashMap<String, String> {
    let mut state: HashMap<String, String> = record
        .entries()
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect();
    let loaded: HashMap<&str, &str> = record.entries().collect();
    let copy = serde_json::to_string(&loaded).expect("a map of strings always serializes");
    state.insert(LOADED_ENTRIES.to_owned(), copy);
    state
}

/// Records in `changes` what a request changed to end with `state`: the differences from the
/// copy it loaded under [`LOADED_ENTRIES`], or, where it holds none, a clear and the whole
/// state.
fn changes_from(changes: &mut Changes, mut state: HashMap<String, String>) {
    let loaded = state
        .remove(LOADED_ENTRIES)
        .and_then(|copy| serde_json::from_str::<HashMap<String, String>>(&copy).ok());
    let Some(loaded) = loaded else {
        changes.clear();
        for (key, value) in state {
            changes.set(key, value);
        }
        return;
    };
    for key in loaded.keys().filter(|key| !state.contains_key(*key)) {
        changes.remove(key.as_str());
    }
    for (key, value) in state {
        if loaded.get(&key) != Some(&value) {
            changes.set(key, value);
        }
    }
}

/// The store's answer to a write, as a success only where it stored the session: the same
/// errors as this crate's middleware reports for the same answers.
fn stored(saved: Result<Saved, StoreError>) -> Result<Record, anyhow::Error> {
    let error = match saved {
        Ok(Saved::Stored(record)) => return Ok(record),
        Ok(Saved::Gone) => SessionError::Ended,
        Ok(Saved::TooLarge(refusal)) => SessionError::TooLargeToSave(refusal),
        Err(error) => SessionError::Store(error),
    };
    Err(logged(error))
}

/// `error`, logged with its whole chain, for actix-session, which answers the client with an
/// opaque 500 and logs nothing itself. A session that ended is the client's race, not the
/// server's fault, and is logged at `info`, as the middleware logs it.
fn logged(error: SessionError) -> anyhow::Error {
    if matches!(error, SessionError::Ended) {
        tracing::info!(error = %Chain(&error), "session write through actix-session refused");
    } else {
        tracing::error!(error = %Chain(&error), "session store failed under actix-session");
    }
    anyhow::Error::new(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: &[(&str, &str)]) -> HashMap<String, String> {
        entries
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect()
    }

    /// The changes recorded for a request that ends with `state`.
    fn recorded(state: HashMap<String, String>) -> Changes {
        let mut changes = Changes::new(SessionPolicy::default());
        changes_from(&mut changes, state);
        changes
    }

    #[test]
    fn a_state_with_its_loaded_copy_records_only_what_differs() {
        let record = Record::new(
            SessionId::generate(),
            1,
            std::time::UNIX_EPOCH,
            std::time::UNIX_EPOCH,
            map(&[("a", "1"), ("b", "2"), ("c", "3")]),
        );
        let mut state = state_of(&record);
        state.insert("b".into(), "20".into());
        state.insert("d".into(), "4".into());
        state.remove("c");

        let changes = recorded(state);
        assert!(!changes.clears_existing());
        assert_eq!(
            changes.writes().collect::<Vec<_>>(),
            [("b", Some("20")), ("c", None), ("d", Some("4"))]
        );
    }

    #[test]
    fn a_state_without_a_readable_copy_replaces_everything() {
        let garbled = map(&[("a", "1"), (LOADED_ENTRIES, "not a copy")]);
        for state in [map(&[("a", "1")]), garbled] {
            let changes = recorded(state);
            assert!(changes.clears_existing());
            assert_eq!(changes.writes().collect::<Vec<_>>(), [("a", Some("1"))]);
        }
    }
}
