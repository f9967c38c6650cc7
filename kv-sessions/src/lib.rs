//! Server-side sessions for [actix-web], with session keys the compiler checks.
//!
//! Declare the keys your app keeps in a session as a struct, and take that struct in your
//! handlers. A misspelt key or a value of the wrong type does not compile. Sessions live in an
//! embedded [sled] database behind a [moka] cache: they survive restarts and need no server.
//!
//! ```no_run
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
//!     // Create the store, the cache and the key once, outside `HttpServer::new`. The key is 64
//!     // random bytes in hex or base64, the same at every restart: `head -c 64 /dev/urandom |
//!     // base64 -w0` makes one.
//!     let store = SledStore::open("sessions.sled").map_err(std::io::Error::other)?;
//!     let key = kv_sessions::key_from_env("SESSION_KEY").map_err(std::io::Error::other)?;
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
//! - A save applies **only what this request did** (the keys it wrote or removed, and the expiry
//!   rule if it set one), atomically, to the latest stored copy. The deadline and the size cap
//!   are settled against the merged result. No request writes back the whole session it read
//!   earlier.
//! - A save **never creates** a session the request found: if the session was purged, renewed
//!   away or expired meanwhile, nothing is written and the cookie is removed.
//! - When the store fails to save, or the merged session would pass its size cap, the response
//!   becomes a bare 500: a client is never told that a write succeeded when it did not persist.
//!
//! # Concurrent requests of one session
//!
//! Browsers send requests in parallel, and an attacker can replay a cookie at will, so two
//! requests of one session often overlap: each loads the session, runs its handler, and saves
//! when its response leaves. Every store operation is atomic, so the outcome is always that of
//! the two saves applied one after the other, in the order they reach the store. "First" below
//! means the save that reaches the store first.
//!
//! | A and B, concurrent | outcome |
//! |---|---|
//! | write / write, different keys | both writes are kept |
//! | write / write, the same key | the later save's value is kept; both requests succeed |
//! | write / write, growing the session together | each save is checked against the merged session: those that fit are kept, the rest answer 500 and save nothing, so the session never passes its cap |
//! | write / purge (logout) | purge first: the write finds the session gone, writes nothing, and its response removes the cookie, as if the write had happened just before the logout. Write first: the purge deletes the session with the write in it. Either way the session is gone |
//! | renew (login) / purge | purge first: the renewal moves none of the session's data; the new id holds only the writes of the renewing request, and is not created when it wrote none. Renew first: the session lives on under the new id, sent to the renewing request's client, and the purge finds its old id gone |
//! | write / renew | write first: its keys move with the renewal. Renew first: the write finds the old id gone, writes nothing, and its response removes the cookie, which the renewing response has replaced with the new one |
//! | set rule / write | the rule is kept: a request that did not call `set_expiry` sends no rule, and the deadline comes from the merged rule ("remember me" and short "sudo" windows survive stale saves) |
//! | purge / purge | the session is deleted once; both responses remove the cookie |
//! | read / anything | a read sees the session as loaded at the start of its request, and refreshes the deadline only if the session still lives |
//!
//! A request whose response the client receives last decides which cookie the browser keeps:
//! after a renewal, a slow concurrent request that still carried the old cookie gets a response
//! that removes it. The [`SessionStore`] contract spells out the rules that give this table, so
//! every store, built in or your own, behaves the same.
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
//!   an id planted before login is worthless after it. Writes after `renew` go to the new id. The
//!   move is one store operation on the latest stored copy, and the session keeps its creation
//!   time, so the absolute lifetime still counts from the first login.
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
//! with [`SessionError::TooLarge`] and leaves the session as it was, and a save that concurrent
//! writes would push past it fails with [`SessionError::TooLargeToSave`] and saves nothing.
//!
//! Every error a handler can meet is a [`SessionError`]. As a response it is a bare `500
//! Internal Server Error` whose body says nothing about the cause; the cause goes to the log
//! through [`tracing`]. Using a session extractor without the middleware is such an error, and
//! the log says to wrap the `App` with [`SessionMiddleware`]. When the store is down, routes that
//! use the session answer 500 and routes that do not keep working; the first request after the
//! store recovers works again, with no restart.
//!
//! A refused cookie is logged at `debug` level with its reason, so that sessions that vanish can
//! be explained (`RUST_LOG=kv_sessions=debug`): "malformed", "bad signature" (forged, or sealed
//! with a key the app no longer has), or "no live session" (expired, purged, or never issued by
//! this store). No log line carries a cookie's value or an id.
//!
//! # First mistakes, and what they look like
//!
//! | mistake | what happens |
//! |---|---|
//! | no `.wrap(sessions.clone())` on the `App` | session routes answer 500; the log says to wrap the `App` with [`SessionMiddleware`] |
//! | the middleware, its cache or its key made inside `HttpServer::new` | the server does not start: [`SessionMiddlewareBuilder::build`] panics on a worker, saying to build it once, before |
//! | [`SledStore::open`] inside `HttpServer::new` | the second worker cannot open the directory, and the error says it is open in this process and to open the store once, before |
//! | a `SESSION_KEY` too short, or neither hex nor base64 | [`key_from_env`] fails with a [`KeyError`] that says what is wrong and how to make a key |
//! | `Key::generate()` in `main`, or another key on each instance | nothing fails, but every restart logs everyone out, and sessions hop between instances at a loss; the debug log says "bad signature" for each cookie. Load the key with [`key_from_env`] |
//! | a field whose type is not `Serialize` and `Deserialize` | one compile error at that type: "\`Point\` cannot be stored in a session" |
//! | a sled directory held by another process, read-only, or not a directory | [`SledStore::open`] names the directory, the cause and the fix |
//! | a disk that fills up while serving | saves fail with an opaque 500, and the log says "No space left on device" |
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
//! the absolute timeout OWASP recommends; renewing a session does not restart it.
//! [`Session::set_expiry`] gives one session its own rule, such as a month for "remember me"; the
//! rule is stored with the session, and only a request that sets a rule changes it.
//!
//! No deadline is ever set more than [`Expiry::LONGEST`] (400 days, the longest browsers keep a
//! cookie) ahead. Longer windows and later dates are cut to it, so an expiry taken from user
//! input, even `Duration::MAX`, is safe.
//!
//! # Stores and caching
//!
//! | store | keeps sessions | use it for |
//! |---|---|---|
//! | [`SledStore`] | on local disk, across restarts | the default: one machine, nothing to install |
//! | [`MokaStore`] | in memory, bounded | tests, throwaway sessions, and as the cache |
//! | [`RedisStore`] | in Redis, expired by Redis itself (feature `redis`) | sessions shared by several instances of an app |
//! | [`PostgresStore`] | in a PostgreSQL table (feature `postgres`) | a database you already run, shared by several instances without a cache |
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
//! saves finish out of order. A purged session never comes back into it, even when the cache
//! was full and dropped entries while a load of that session was reading the store (see
//! [`SessionCache`]); any failed write drops the session from the cache, so the next read asks
//! the store. With several app instances over one shared store, each instance's cache can serve
//! a copy that another instance has since changed; until cross-instance coherence lands, run one
//! instance per store or no cache.
//!
//! One cache must serve every worker of the app. Build the middleware, and with it the store and
//! the cache, once, before `HttpServer::new`: [`SessionMiddlewareBuilder::build`] panics on an
//! actix worker thread, with a message that says so, rather than let each worker keep a cache of
//! its own.
//!
//! # Running more than one instance
//!
//! Several app instances behind a load balancer need sessions that every instance sees. Keep
//! them in Redis or PostgreSQL, through the stores of the `redis` and `postgres` features; with
//! `default-features = false`, neither sled nor moka is built.
//!
//! - `RedisStore`: one hash per session, expired by Redis itself; every write is one Lua
//!   script. `RedisStore::connect(url)`, or `RedisStore::builder(url)` for the key prefix, the
//!   connection count and the operation timeout.
//! - `PostgresStore`: one row per session in a table it creates with `migrate_up`; every
//!   operation is one statement, and a background task sweeps expired rows in bounded batches.
//!   `PostgresStore::connect(url)`, or `PostgresStore::builder(url)` for the table, the pool
//!   size, the operation timeout and the sweep interval.
//!
//! Both follow the [`SessionStore`] contract, so the table of concurrent requests above holds
//! across instances too. When the server is down or hangs, routes that use the session answer
//! an opaque 500 within the operation timeout (2 s by default), routes that do not keep working,
//! and the app recovers by itself when the server is back. [`BoxedStore`] picks a store at run
//! time, from configuration.
//!
//! **Not yet coherent across instances: each instance's cache.** A [`CachedStore`] in front of a
//! shared store can serve its copy of a session after another instance changed or purged it,
//! until the copy leaves the cache. Until cross-instance invalidation lands, run shared stores
//! without a cache when several instances serve the same users.
//!
//! # Your own store
//!
//! Implement [`SessionStore`]: `load`, `create`, `update` and `delete`, and `renew` where your
//! backend can move a session in one transaction (the provided method is correct, from `delete`
//! and `create`). Writes receive [`Changes`] (the keys written and removed, the expiry rule if
//! the request set one, and the [`SessionPolicy`] that computes deadlines and caps sizes) and
//! must apply them atomically to the latest stored copy; an update never creates, and answers
//! [`Saved::Gone`] instead. Stores that keep whole records get the whole merge from
//! [`Changes::apply_to`]. The trait's docs give the full contract, with a complete example.
//!
//! [actix-web]: https://docs.rs/actix-web
//! [sled]: https://docs.rs/sled
//! [moka]: https://docs.rs/moka
// The store table links PostgresStore to the item where the feature builds it, and to its
// published docs where it does not, so that no build of the docs has a broken link.
#![cfg_attr(feature = "postgres", doc = "[`PostgresStore`]: crate::PostgresStore")]
#![cfg_attr(
    not(feature = "postgres"),
    doc = "[`PostgresStore`]: https://docs.rs/kv-sessions/latest/kv_sessions/struct.PostgresStore.html"
)]
#![forbid(unsafe_code)]

mod commit;
mod config;
mod cookie;
mod error;
mod expiry;
mod id;
mod key;
mod key_text;
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
pub use crate::expiry::{Expiry, SessionPolicy};
pub use crate::id::{ParseSessionIdError, SessionId};
pub use crate::key::{SessionKey, SessionKeys, SessionValue};
pub use crate::key_text::{KeyError, decode_key, key_from_env};
pub use crate::middleware::SessionMiddleware;
pub use crate::record::{Changes, Record, Saved, TooLarge};
pub use crate::session::Session;
#[cfg(feature = "moka")]
pub use crate::store::MokaStore;
pub use crate::store::{BoxedStore, CacheEpoch, CachedStore, SessionCache, SessionStore};
#[cfg(feature = "sled")]
pub use crate::store::{Durability, SledStore, SledStoreBuilder};
#[cfg(feature = "postgres")]
pub use crate::store::{PostgresStore, PostgresStoreBuilder};
#[cfg(feature = "redis")]
pub use crate::store::{RedisStore, RedisStoreBuilder};

/// Items used by the code that `#[derive(SessionKeys)]` generates. Not a public API: anything
/// here may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use actix_web::dev::Payload;
    pub use actix_web::{FromRequest, HttpRequest};

    pub use crate::key::{KeysFuture, extract_keys, key};
}
