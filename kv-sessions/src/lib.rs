//! Server-side sessions for [actix-web], with session keys the compiler checks.
//!
//! Declare the keys your app keeps in a session as a struct, and take that struct in your
//! handlers. A misspelt key or a value of the wrong type does not compile. Sessions live in an
//! embedded [sled] database behind a [moka] cache: they survive restarts and need no server.
//!
//! ```no_run
//! use actix_web::cookie::Key;
//! use actix_web::{App, HttpResponse, HttpServer, get};
//! use kv_sessions::{MokaStore, SessionError, SessionKey, SessionKeys, SessionMiddleware, SledStore};
//!
//! #[derive(SessionKeys)]
//! #[session(prefix = "cart")]
//! struct Cart {
//!     items: SessionKey<Vec<u64>>, // stored under "cart.items"
//! }
//!
//! #[get("/add/{item}")]
//! async fn add(cart: Cart, item: actix_web::web::Path<u64>) -> Result<HttpResponse, SessionError> {
//!     let mut items = cart.items.get_or_default()?;
//!     items.push(item.into_inner());
//!     cart.items.set(items)?;
//!     Ok(HttpResponse::Ok().finish())
//! }
//!
//! #[actix_web::main]
//! async fn main() -> std::io::Result<()> {
//!     // Create the store, the cache and the key once, outside `HttpServer::new`.
//!     let store = SledStore::open("sessions.sled").map_err(std::io::Error::other)?;
//!     let key = Key::generate(); // in production, load 64 fixed bytes with `Key::try_from`
//!     let sessions = SessionMiddleware::builder(store.clone(), key)
//!         .cache(MokaStore::new(10_000))
//!         .build();
//!
//!     HttpServer::new(move || App::new().wrap(sessions.clone()).service(add))
//!         .bind(("127.0.0.1", 8080))?
//!         .run()
//!         .await?;
//!     store.flush().await.map_err(std::io::Error::other)
//! }
//! ```
//!
//! # Typed keys
//!
//! `#[derive(SessionKeys)]` works on a struct with named fields, each a [`SessionKey<T>`]. `T` is
//! any type serde can write and read back ([`SessionValue`]). A field is stored under its name;
//! two attributes change that:
//!
//! - `#[session(prefix = "cart")]` on the struct stores every field under `cart.<name>`, so that
//!   structs of different features never collide;
//! - `#[session(rename = "n")]` on a field stores it under `n` (after the prefix).
//!
//! Two fields that map to the same stored key, a field that is not a `SessionKey`, a value type
//! that is not serializable, and an unknown attribute are compile errors. The derive also makes
//! the struct an actix-web extractor. Its accessors ([`get`](SessionKey::get),
//! [`set`](SessionKey::set), [`remove`](SessionKey::remove),
//! [`get_or_default`](SessionKey::get_or_default)) are synchronous: the session is loaded once,
//! when the first session extractor of the request is resolved, and shared by every extractor of
//! that request.
//!
//! The untyped [`Session`] extractor sits beside the typed ones, for keys known only at run time
//! and for the session's life: [`purge`](Session::purge) on logout, [`renew`](Session::renew) on
//! login.
//!
//! # What happens on a request
//!
//! 1. The middleware reads the session id from the cookie and checks its HMAC signature. No
//!    store is touched yet.
//! 2. The first session extractor loads the session: from the cache, else from the store (and a
//!    store hit is put into the cache). A handler that takes no session extractor costs nothing.
//! 3. The handler reads and writes keys in memory.
//! 4. When the response passes back through the middleware, the keys the request wrote or
//!    removed are saved, and the cookie is set again with a fresh lifetime.
//!
//! Saving follows a few rules, each chosen so that a session never holds something the client
//! was not told, and the client is never told something the session does not hold:
//!
//! - A session is saved only when the request changed it. A request that brings no valid cookie
//!   and writes nothing creates nothing and sets no cookie.
//! - Nothing is saved when the response is a server error (5xx).
//! - A save applies **only the keys this request wrote or removed**, atomically, to the latest
//!   stored copy. Two concurrent requests of one client that write different keys both keep their
//!   writes; neither overwrites the other with the whole session it read earlier. Two requests
//!   that write the *same* key still race, and the later save wins.
//! - When the store fails to save, the response becomes a bare 500: a client is never told that
//!   a write succeeded when it did not persist.
//!
//! # Cookies and keys
//!
//! The cookie carries only the session id; the data stays on the server. By default the id is
//! signed with HMAC-SHA256, and the signature covers the cookie's name too;
//! [`CookieContent::Private`] encrypts it instead. Either way the cookie is sealed with a key
//! derived from your [`Key`](actix_web::cookie::Key) for session cookies alone (HKDF-Expand over
//! a fixed label), so no cookie your app signs or encrypts itself with actix-web's cookie jars
//! under the same key can pass for a session cookie. A signed value is a 43-character tag and the
//! id's 32 hex digits; both kinds are URL-safe base64 without padding, which no client
//! percent-encodes, and percent-encoded values are understood anyway.
//!
//! The defaults are `HttpOnly`, `SameSite=Lax`, `Secure` and `Path=/`, with a `Max-Age` that
//! follows the session's deadline; the builder changes any of them. Browsers count
//! `http://localhost` as secure, so the defaults work in local development. A `__Host-` cookie
//! name works as it is, since the defaults are what that prefix requires. Removal cookies carry
//! the same attributes as the cookie they remove.
//!
//! Keys rotate without logging anyone out: make the new key current and pass the old one to
//! [`SessionMiddlewareBuilder::previous_keys`]. Cookies sealed with an old key are accepted and
//! sealed again with the current key on their next response that uses the session. Cookies of
//! kv-sessions 0.1.0, sealed with your key itself, are refused unless you turn on
//! [`SessionMiddlewareBuilder::accept_legacy_cookies`] for one session lifetime after upgrading.
//!
//! The `test-util` feature adds `kv_sessions::test_util::CookieSealer`, which seals and opens
//! cookie values exactly as the middleware does: for tests that write sessions straight into a
//! store, or forge cookies, without copying the format.
//!
//! # Login, logout, and the rules of renew and purge
//!
//! - [`Session::renew`] (on login) moves the data to a new random id and deletes the old one, so
//!   an id planted before login is worthless after it. Writes after `renew` go to the new id.
//! - [`Session::purge`] (on logout) deletes the session from the store and the cache and removes
//!   the cookie. Writes after `purge` in the same request start a clean new session, holding only
//!   those writes. `renew` after `purge` does nothing: a purged session never comes back.
//! - Strict ids: an id the server did not issue, or no longer has, is never adopted. A request
//!   that brings one gets a fresh session under a new id.
//!
//! # Bad input and failures
//!
//! A missing, malformed, forged, unknown or expired cookie never fails a request: the request
//! gets a fresh, empty session, and the response removes the stale cookie. Ids are random UUID v4
//! values from the operating system's RNG. A stored record that cannot be decoded is logged,
//! deleted, and replaced by a fresh session. A session is capped in size
//! ([`SessionMiddlewareBuilder::max_session_size`], 64 KiB by default): a write past the cap fails
//! with [`SessionError::TooLarge`] and leaves the session as it was.
//!
//! Every error a handler can meet is a [`SessionError`]. As a response it is a bare `500
//! Internal Server Error` whose body says nothing about the cause; the cause goes to the log
//! through [`tracing`]. Using a session extractor without the middleware is such an error, and
//! the log says to wrap the `App` with [`SessionMiddleware`]. When the store is down, routes that
//! use the session answer 500 and routes that do not keep working; the first request after the
//! store recovers works again, with no restart.
//!
//! # Expiry
//!
//! Every session has a deadline, stored with it; no store or cache ever returns a session past
//! it, and the cookie's `Max-Age` follows it.
//!
//! - [`Expiry::OnInactivity`] (the default, one hour): the deadline moves with activity.
//! - [`Expiry::AtDateTime`]: a fixed end, however active the session is.
//! - [`Expiry::OnSessionEnd`]: a cookie without `Max-Age`, which the browser drops when it
//!   closes, and an idle bound on the server.
//!
//! Reads count as activity, but a read does not write to the store on every request: it moves
//! the deadline once a quarter of the idle window has passed since the deadline was last set
//! ([`SessionMiddlewareBuilder::refresh_after`]). A session in use therefore never expires, and a
//! session read a thousand times a minute costs one store write per quarter window.
//!
//! [`SessionMiddlewareBuilder::absolute_lifetime`] caps every session's life from its creation,
//! the absolute timeout OWASP recommends. [`Session::set_expiry`] gives one session its own rule,
//! such as a month for "remember me"; the rule is stored with the session.
//!
//! # Stores and caching
//!
//! | store | keeps sessions | use it for |
//! |---|---|---|
//! | [`SledStore`] | on local disk, across restarts | the default: one machine, nothing to install |
//! | [`MokaStore`] | in memory, bounded | tests, throwaway sessions, and as the cache |
//! | [`CachedStore`] | a cache in front of any store | what [`SessionMiddlewareBuilder::cache`] builds |
//!
//! [`SledStore`] keeps sled's page cache small (64 MiB by default) and runs every disk operation
//! on threads of its own, never on an actix worker thread. A background thread deletes
//! expired sessions through an index ordered by deadline, so the directory grows with the live
//! sessions, not with every session ever made. Durability is a choice
//! ([`SledStoreBuilder::durability`]):
//!
//! - [`Durability::Periodic`] (the default): a save is acknowledged once it is in sled's log,
//!   which reaches the disk every 500 ms. A crash can lose the saves of that window.
//! - [`Durability::Immediate`]: the response to a save or a purge is sent only once the write is
//!   on disk. Saves that arrive together share one flush.
//!
//! Either way a graceful shutdown loses nothing: call [`SledStore::flush`] after the server
//! stops.
//!
//! The cache is a decorator: loads read it first, saves write the store and then the cache. It
//! only ever holds what the store returned, and it keeps the newest version of a session when
//! saves finish out of order. With several app instances over one shared store, each instance's
//! cache can serve a copy that another instance has since changed; until cross-instance coherence
//! lands, run one instance per store or no cache.
//!
//! # Your own store
//!
//! Implement [`SessionStore`]: `load`, `save` and `delete`. A save receives [`Changes`] (the
//! keys written and removed) and must apply them atomically to the latest stored copy; stores
//! that keep whole records can use [`Changes::apply_to`]. The trait's docs give the full
//! contract.
//!
//! [actix-web]: https://docs.rs/actix-web
//! [sled]: https://docs.rs/sled
//! [moka]: https://docs.rs/moka
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
#[cfg(feature = "test-util")]
pub mod test_util;

pub use kv_sessions_macros::SessionKeys;

pub use crate::config::SessionMiddlewareBuilder;
pub use crate::cookie::CookieContent;
pub use crate::error::{SessionError, StoreError};
pub use crate::expiry::Expiry;
pub use crate::id::{ParseSessionIdError, SessionId};
pub use crate::key::{SessionKey, SessionKeys, SessionValue};
pub use crate::middleware::SessionMiddleware;
pub use crate::record::{Changes, Record};
pub use crate::session::Session;
pub use crate::store::{
    CachedStore, Durability, MokaStore, SessionCache, SessionStore, SledStore, SledStoreBuilder,
};

/// Items used by the code that `#[derive(SessionKeys)]` generates. Not a public API: anything
/// here may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use actix_web::dev::Payload;
    pub use actix_web::{FromRequest, HttpRequest};

    pub use crate::key::{KeysFuture, extract_keys, key};
}
