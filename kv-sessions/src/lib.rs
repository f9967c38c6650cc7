//! Server-side sessions for [actix-web], with session keys the compiler checks.
//!
//! Declare the keys your app keeps in a session as a struct, and take that struct in your
//! handlers: a misspelt key or a value of the wrong type does not compile. Sessions live in an
//! embedded [sled] database behind a [moka] cache, so they survive restarts and need no server;
//! Redis and PostgreSQL stores share them between several instances of an app. The cookie
//! carries only a signed id, and the defaults are the secure ones.
//!
//! The example below keeps its sessions in `SledStore` behind a `MokaStore` cache, which the
//! default features build. A build with `default-features = false` and only the `redis` or
//! `postgres` feature has neither: it passes a `RedisStore` or `PostgresStore` to the same
//! `builder` instead, as [Running more than one instance](guide::more_than_one_instance) shows.
//!
//! ```no_run
//! use actix_web::{App, HttpResponse, HttpServer, post, web};
//! use kv_sessions::{MokaStore, SessionError, SessionKey, SessionKeys, SessionMiddleware, SledStore};
//!
//! #[derive(SessionKeys)]
//! #[session(prefix = "cart")]
//! struct Cart {
//!     items: SessionKey<Vec<u64>>, // stored under "cart.items"
//! }
//!
//! #[post("/add/{item}")]
//! async fn add(cart: Cart, item: web::Path<u64>) -> Result<HttpResponse, SessionError> {
//!     let mut items = cart.items.get_or_default()?;
//!     items.push(item.into_inner());
//!     cart.items.set(items)?; // `cart.itmes` or `set("3")` would not compile
//!     Ok(HttpResponse::NoContent().finish())
//! }
//!
//! #[actix_web::main]
//! async fn main() -> std::io::Result<()> {
//!     // Create the store, the cache and the key once, outside `HttpServer::new`.
//!     let store = SledStore::open("sessions.sled").map_err(std::io::Error::other)?;
//!     // 64 random bytes in hex or base64, the same at every start and on every instance:
//!     // `head -c 64 /dev/urandom | base64 -w0`. Unset or bad, the error says how to fix it.
//!     let key = kv_sessions::key_from_env("SESSION_KEY")?;
//!     let sessions = SessionMiddleware::builder(store.clone(), key)
//!         .cache(MokaStore::new(10_000))
//!         .build();
//!
//!     HttpServer::new(move || App::new().wrap(sessions.clone()).service(add))
//!         .bind(("127.0.0.1", 8000))?
//!         .run()
//!         .await?;
//!     store.flush().await.map_err(std::io::Error::other) // the last saves, onto the disk
//! }
//! ```
//!
//! # The guide
//!
//! The [`guide`] takes you from this first app to production, one chapter at a time:
//!
//! 1. [Quick start](guide::quick_start): an app with a session, and what happens on a request.
//! 2. [Typed keys](guide::typed_keys): `#[derive(SessionKeys)]`, `prefix` and `rename`, the
//!    accessors, and what does not compile.
//! 3. [The untyped `Session`](guide::untyped_session): keys known at run time, the session's
//!    life, and the session in guards and middleware.
//! 4. [Login and logout](guide::login_and_logout): `renew` against session fixation, `purge`,
//!    and a guard extractor.
//! 5. [Expiry](guide::expiry): idle windows, fixed ends, "remember me", absolute lifetimes,
//!    the 400-day cap.
//! 6. [Testing your app](guide::testing): in process, over HTTP, and with a session already in
//!    place.
//! 7. [Stores and caching](guide::stores_and_caching): sled and its durability, the moka cache,
//!    your own [`SessionStore`], and these stores under actix-session.
//! 8. [Running more than one instance](guide::more_than_one_instance): Redis and PostgreSQL,
//!    and why the cache stays off there for now.
//! 9. [Security defaults, and why](guide::security): the cookie, the key, failures, and
//!    concurrent requests.
//! 10. [Coming from actix-session](guide::coming_from_actix_session): the API side by side,
//!     the defaults that differ and why, and where to build the middleware.
//!
//! # Examples
//!
//! The repository's `examples` package holds complete apps; run one with
//! `cargo run -p kv-sessions-examples --bin <name>`:
//!
//! - [`basic`]: the quick start's app, with its settings read from the environment;
//! - [`auth`]: sign-in, sign-out and "Remember me for 30 days", with a `SignedIn` extractor
//!   that guards `/account`;
//! - [`cart`]: a shopping cart as typed keys, with `prefix`, `rename`, `get_or_default`, `set`
//!   and `remove`;
//! - [`custom_store`]: a [`SessionStore`] of your own, checked by the same conformance suite as
//!   the built-in stores;
//! - [`multi_instance`]: several instances sharing sessions through Redis or PostgreSQL.
//!
//! # Cargo features
//!
//! | feature | default | adds |
//! |---|---|---|
//! | `sled` | yes | `SledStore`: sessions on local disk |
//! | `moka` | yes | `MokaStore`: sessions in memory, and the cache |
//! | `redis` | no | `RedisStore`: sessions in Redis |
//! | `redis-tls` | no | `RedisStore` over TLS (`rediss://`), through rustls; implies `redis` |
//! | `postgres` | no | `PostgresStore`: sessions in a PostgreSQL table |
//! | `postgres-tls` | no | `PostgresStore` over TLS, with rustls: `sslmode=verify-full` and CA bundles |
//! | `test-util` | no | `test_util::CookieSealer`: session cookies without a server, for tests |
//! | `actix-session` | no | `actix_session::ActixSessionStore`: any store under actix-session's middleware |
//! | `metrics` | no | counters and latency histograms through the `metrics` facade ([monitoring](guide::monitoring)) |
//!
//! [actix-web]: https://docs.rs/actix-web
//! [sled]: https://docs.rs/sled
//! [moka]: https://docs.rs/moka
//! [`basic`]: https://github.com/kv-sessions/kv-sessions/blob/main/examples/src/bin/basic.rs
//! [`auth`]: https://github.com/kv-sessions/kv-sessions/blob/main/examples/src/bin/auth.rs
//! [`cart`]: https://github.com/kv-sessions/kv-sessions/blob/main/examples/src/bin/cart.rs
//! [`custom_store`]: https://github.com/kv-sessions/kv-sessions/blob/main/examples/src/bin/custom_store.rs
//! [`multi_instance`]: https://github.com/kv-sessions/kv-sessions/blob/main/examples/src/bin/multi_instance.rs
#![forbid(unsafe_code)]

#[cfg(feature = "actix-session")]
pub mod actix_session;
mod cache_control;
mod changes;
mod commit;
mod config;
mod cookie;
mod error;
mod expiry;
mod ext;
pub mod guide;
mod id;
mod key;
mod middleware;
mod owner;
mod record;
mod renewals;
mod session;
mod store;
mod telemetry;
#[cfg(feature = "test-util")]
pub mod test_util;

pub use kv_sessions_macros::SessionKeys;

pub use crate::changes::{Changes, Saved, SessionPolicy, TooLarge};
pub use crate::config::SessionMiddlewareBuilder;
pub use crate::cookie::{CookieContent, KeyError, KeyFingerprint, decode_key, key_from_env};
pub use crate::error::{SessionError, StoreError, UnreadableValue};
pub use crate::expiry::Expiry;
pub use crate::ext::SessionExt;
pub use crate::id::{ParseSessionIdError, SessionDigest, SessionId};
pub use crate::key::{SessionKey, SessionKeys, SessionValue};
pub use crate::middleware::SessionMiddleware;
pub use crate::owner::{SessionOwner, UserSession, UserSessions};
pub use crate::record::Record;
pub use crate::session::{Session, SessionStatus};
#[cfg(feature = "moka")]
pub use crate::store::MokaStore;
pub use crate::store::{
    BoxedStore, CacheEpoch, CachedStore, Invalidation, InvalidationFeed, ParseInvalidationError,
    SessionCache, SessionStore,
};
#[cfg(feature = "sled")]
pub use crate::store::{Durability, SledStore, SledStoreBuilder};
#[cfg(feature = "redis")]
pub use crate::store::{InvalidationMode, RedisStore, RedisStoreBuilder};
#[cfg(feature = "postgres")]
pub use crate::store::{PostgresSslMode, PostgresStore, PostgresStoreBuilder};

/// Items used by the code that `#[derive(SessionKeys)]` generates. Not a public API: anything
/// here may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use actix_web::dev::Payload;
    pub use actix_web::{FromRequest, HttpRequest};

    pub use crate::key::{KeysFuture, extract_keys, key};
}

/// The README's code blocks, compiled as doctests so that the front page cannot drift from the
/// API.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
