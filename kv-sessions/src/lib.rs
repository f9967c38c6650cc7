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
//! # Cookies and bad input
//!
//! The cookie carries only the session id, signed with your [`Key`](actix_web::cookie::Key); the
//! data stays on the server. The defaults are `HttpOnly`, `SameSite=Lax`, `Secure` and `Path=/`,
//! with a `Max-Age` that follows the [`Expiry`]; the builder changes any of them. Browsers count
//! `http://localhost` as secure, so the defaults work in local development.
//!
//! A missing, malformed, forged, unknown or expired cookie never fails a request: the request
//! gets a fresh, empty session, and the response removes the stale cookie. Ids are random UUID v4
//! values from the operating system's RNG, and an id the server did not issue is never adopted.
//! A stored record that cannot be decoded is logged, deleted, and replaced by a fresh session.
//!
//! Every error a handler can meet is a [`SessionError`]. As a response it is a bare `500
//! Internal Server Error` whose body says nothing about the cause; the cause goes to the log
//! through [`tracing`]. Using a session extractor without the middleware is such an error, and
//! the log says to wrap the `App` with [`SessionMiddleware`].
//!
//! # Expiry
//!
//! [`Expiry::OnInactivity`] of one hour is the default: each save moves the deadline. The
//! deadline is stored with the session, and no store or cache ever returns a session past it.
//! Reading a session does not count as activity yet: a session that is only read expires at the
//! deadline of its last save.
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
//! on tokio's blocking pool, never on an actix worker thread. sled writes acknowledged saves to
//! disk every 500 ms: a crash can lose the saves of that window, a graceful shutdown loses
//! nothing (call [`SledStore::flush`] after the server stops).
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
    CachedStore, MokaStore, SessionCache, SessionStore, SledStore, SledStoreBuilder,
};

/// Items used by the code that `#[derive(SessionKeys)]` generates. Not a public API: anything
/// here may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use actix_web::dev::Payload;
    pub use actix_web::{FromRequest, HttpRequest};

    pub use crate::key::{KeysFuture, extract_keys, key};
}
