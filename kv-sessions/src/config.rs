//! Configuring the middleware.

use std::sync::Arc;
use std::time::Duration;

use actix_web::cookie::{Key, SameSite};

use crate::cookie::{CookieConfig, CookieContent, Keys};
use crate::expiry::{Expiry, Lifetime};
use crate::middleware::SessionMiddleware;
use crate::store::{CachedStore, DynStore, SessionCache, SessionStore};

/// Everything the middleware and the extractors share, fixed when the middleware is built.
pub(crate) struct Config {
    pub(crate) store: Arc<dyn DynStore>,
    pub(crate) keys: Keys,
    pub(crate) cookie: CookieConfig,
    pub(crate) lifetime: Lifetime,
    pub(crate) max_session_size: usize,
}

/// The default cap on a session's size: keys plus JSON values.
const DEFAULT_MAX_SESSION_SIZE: usize = 64 * 1024;

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
    keys: Keys,
    cookie: CookieConfig,
    lifetime: Lifetime,
    max_session_size: usize,
}

impl<S: SessionStore> SessionMiddlewareBuilder<S> {
    pub(crate) fn new(store: S, key: Key) -> Self {
        Self {
            store,
            keys: Keys {
                current: key.into(),
                previous: Vec::new(),
            },
            cookie: CookieConfig::default(),
            lifetime: Lifetime::default(),
            max_session_size: DEFAULT_MAX_SESSION_SIZE,
        }
    }

    /// Puts `cache` in front of the store: loads read the cache first, saves write the store and
    /// then the cache. See [`CachedStore`].
    pub fn cache<C: SessionCache>(self, cache: C) -> SessionMiddlewareBuilder<CachedStore<C, S>> {
        SessionMiddlewareBuilder {
            store: CachedStore::new(cache, self.store),
            keys: self.keys,
            cookie: self.cookie,
            lifetime: self.lifetime,
            max_session_size: self.max_session_size,
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

    /// Whether the cookie is signed (the default) or encrypted; see [`CookieContent`].
    pub fn cookie_content(mut self, content: CookieContent) -> Self {
        self.cookie.content = content;
        self
    }

    /// Keys that were current before the one given to the builder, newest first.
    ///
    /// Incoming cookies sealed with any of them are still accepted, and are sealed again with the
    /// current key on the first response that uses the session. To rotate, make the new key
    /// current and list the old one here for as long as sessions last; then drop it.
    pub fn previous_keys(mut self, keys: impl IntoIterator<Item = Key>) -> Self {
        self.keys.previous = keys.into_iter().map(Into::into).collect();
        self
    }

    /// Whether to accept cookies issued by kv-sessions 0.1.0 before session keys were derived.
    /// Defaults to `false`.
    ///
    /// Turn it on for one session lifetime after upgrading, then off. While it is on, such a
    /// cookie opens under the current key or a [previous key](Self::previous_keys), and is
    /// sealed again in the current format on the first response that uses the session.
    ///
    /// While it is on, an app cookie signed by actix-web's jar over a client-chosen value can be
    /// turned into a session cookie: an app that signs `<cookie name>=<id>` for a client under
    /// the same key hands out a session cookie for that id.
    pub fn accept_legacy_cookies(mut self, accept: bool) -> Self {
        self.cookie.accept_legacy = accept;
        self
    }

    /// How long sessions live, unless a session sets its own rule with
    /// [`Session::set_expiry`](crate::Session::set_expiry). Defaults to
    /// [`Expiry::OnInactivity`] of one hour.
    pub fn default_expiry(mut self, expiry: Expiry) -> Self {
        self.lifetime.default = expiry;
        self
    }

    /// The longest a session may live from its creation, whatever its activity and its expiry
    /// rule: the absolute timeout that OWASP recommends. Defaults to none.
    ///
    /// [`Session::renew`](crate::Session::renew) starts a new session, so the count restarts.
    pub fn absolute_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime.absolute = Some(lifetime);
        self
    }

    /// When a read counts as activity, as a fraction of the idle window. Defaults to `0.25`.
    ///
    /// Under [`Expiry::OnInactivity`] and [`Expiry::OnSessionEnd`], a request that reads the
    /// session but writes nothing moves its deadline (a store write, and a fresh cookie) once
    /// this fraction of the idle window has passed since the deadline was last set. With the
    /// default and an idle window of one hour, a session read on every request is written at most
    /// once every 15 minutes, and never expires while it is used. `0.0` moves the deadline on
    /// every read; `1.0` never on a read. Values outside `0.0..=1.0` are clamped.
    pub fn refresh_after(mut self, fraction: f64) -> Self {
        self.lifetime.refresh_after = if fraction.is_nan() {
            1.0
        } else {
            fraction.clamp(0.0, 1.0)
        };
        self
    }

    /// The largest a session may grow, counting the bytes of its keys and of their values as
    /// JSON. Defaults to 64 KiB. A write past it fails with [`SessionError::TooLarge`] and leaves
    /// the session as it was.
    ///
    /// [`SessionError::TooLarge`]: crate::SessionError::TooLarge
    pub fn max_session_size(mut self, bytes: usize) -> Self {
        self.max_session_size = bytes;
        self
    }

    /// Builds the middleware. Build it once, before `HttpServer::new`, and clone it into the app
    /// factory: every worker then shares one store, one cache and one key.
    pub fn build(self) -> SessionMiddleware {
        SessionMiddleware::from_config(Config {
            store: Arc::new(self.store),
            keys: self.keys,
            cookie: self.cookie,
            lifetime: self.lifetime,
            max_session_size: self.max_session_size,
        })
    }
}
