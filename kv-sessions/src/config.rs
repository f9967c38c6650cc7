//! Configuring the middleware.

use std::sync::Arc;

use actix_web::cookie::{Key, SameSite};

use crate::cookie::CookieConfig;
use crate::expiry::Expiry;
use crate::middleware::SessionMiddleware;
use crate::store::{CachedStore, DynStore, SessionCache, SessionStore};

/// Everything the middleware and the extractors share, fixed when the middleware is built.
pub(crate) struct Config {
    pub(crate) store: Arc<dyn DynStore>,
    pub(crate) key: Key,
    pub(crate) cookie: CookieConfig,
    pub(crate) expiry: Expiry,
}

/// Configures a [`SessionMiddleware`]; start with [`SessionMiddleware::builder`].
///
/// Every setting has a secure default, so `builder(store, key).build()` is ready for production
/// behind HTTPS.
///
/// ```no_run
/// use std::time::Duration;
///
/// use actix_web::cookie::{Key, SameSite};
/// use kv_sessions::{Expiry, MokaStore, SessionMiddleware, SledStore};
///
/// # fn main() -> Result<(), kv_sessions::StoreError> {
/// let middleware = SessionMiddleware::builder(SledStore::open("sessions.sled")?, Key::generate())
///     .cache(MokaStore::new(10_000))
///     .cookie_name("SESSION_COOKIE")
///     .cookie_same_site(SameSite::Strict)
///     .default_expiry(Expiry::OnInactivity(Duration::from_secs(30 * 60)))
///     .build();
/// # Ok(()) }
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct SessionMiddlewareBuilder<S> {
    store: S,
    key: Key,
    cookie: CookieConfig,
    expiry: Expiry,
}

impl<S: SessionStore> SessionMiddlewareBuilder<S> {
    pub(crate) fn new(store: S, key: Key) -> Self {
        Self {
            store,
            key,
            cookie: CookieConfig::default(),
            expiry: Expiry::default(),
        }
    }

    /// Puts `cache` in front of the store: loads read the cache first, saves write the store and
    /// then the cache. See [`CachedStore`].
    pub fn cache<C: SessionCache>(self, cache: C) -> SessionMiddlewareBuilder<CachedStore<C, S>> {
        SessionMiddlewareBuilder {
            store: CachedStore::new(cache, self.store),
            key: self.key,
            cookie: self.cookie,
            expiry: self.expiry,
        }
    }

    /// The session cookie's name. Defaults to `session`.
    ///
    /// A name starting with `__Host-` makes browsers insist on `Secure`, `Path=/` and no
    /// `Domain`; keep those settings when you use one.
    pub fn cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie.name = name.into();
        self
    }

    /// The cookie's `Path`. Defaults to `/`.
    pub fn cookie_path(mut self, path: impl Into<String>) -> Self {
        self.cookie.path = path.into();
        self
    }

    /// The cookie's `Domain`. Defaults to none, which limits the cookie to the exact host.
    pub fn cookie_domain(mut self, domain: Option<String>) -> Self {
        self.cookie.domain = domain;
        self
    }

    /// Whether the cookie is `Secure`, sent over HTTPS only. Defaults to `true`. Browsers treat
    /// `http://localhost` as secure, so local development works with the default.
    pub fn cookie_secure(mut self, secure: bool) -> Self {
        self.cookie.secure = secure;
        self
    }

    /// Whether the cookie is `HttpOnly`, hidden from scripts. Defaults to `true`.
    pub fn cookie_http_only(mut self, http_only: bool) -> Self {
        self.cookie.http_only = http_only;
        self
    }

    /// The cookie's `SameSite`. Defaults to [`SameSite::Lax`].
    pub fn cookie_same_site(mut self, same_site: SameSite) -> Self {
        self.cookie.same_site = same_site;
        self
    }

    /// How long sessions live. Defaults to [`Expiry::OnInactivity`] of one hour.
    pub fn default_expiry(mut self, expiry: Expiry) -> Self {
        self.expiry = expiry;
        self
    }

    /// Builds the middleware. Build it once, before `HttpServer::new`, and clone it into the app
    /// factory: every worker then shares one store, one cache and one key.
    pub fn build(self) -> SessionMiddleware {
        SessionMiddleware::from_config(Config {
            store: Arc::new(self.store),
            key: self.key,
            cookie: self.cookie,
            expiry: self.expiry,
        })
    }
}
