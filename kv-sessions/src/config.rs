//! Configuring the middleware.

use std::sync::Arc;
use std::time::Duration;

use actix_web::cookie::{Key, SameSite};

use crate::changes::SessionPolicy;
use crate::commit::Lifetime;
use crate::cookie::{CookieConfig, CookieContent, SecretRing, SignatureWatch};
use crate::expiry::Expiry;
use crate::middleware::SessionMiddleware;
use crate::renewals::RecentRenewals;
use crate::store::{CachedStore, DynStore, Measured, SessionCache, SessionStore};

/// Everything the middleware and the extractors share, fixed when the middleware is built.
pub(crate) struct Config {
    pub(crate) store: Arc<dyn DynStore>,
    pub(crate) keys: SecretRing,
    pub(crate) cookie: CookieConfig,
    pub(crate) lifetime: Lifetime,
    /// How many incoming cookies fail their signature, for the warning that the key differs.
    pub(crate) signatures: SignatureWatch,
    /// Whether each request's session is loaded before the app routes it.
    pub(crate) load_before_routing: bool,
    /// The ids this middleware renewed away a moment ago.
    pub(crate) renewals: RecentRenewals,
    /// Whether cookies carry the version of the session they were set for: where the store
    /// offers an invalidation feed, so that another instance's cache can tell its copy is older.
    pub(crate) stamp_versions: bool,
}

/// Configures a [`SessionMiddleware`]; start with [`SessionMiddleware::builder`].
///
/// Every setting has a secure default, so `builder(store, key).build()` is ready for production
/// behind HTTPS.
///
/// ```no_run
/// use std::time::Duration;
///
/// use actix_web::cookie::SameSite;
/// use kv_sessions::{Expiry, MokaStore, SessionMiddleware, SledStore, key_from_env};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = SledStore::open("sessions.sled")?;
/// let middleware = SessionMiddleware::builder(store, key_from_env("SESSION_KEY")?)
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
    keys: SecretRing,
    cookie: CookieConfig,
    lifetime: Lifetime,
    load_before_routing: bool,
    /// Whether `store` observes its own calls to the store behind its cache, which the
    /// middleware otherwise observes around `store` itself.
    observes_itself: bool,
}

impl<S: SessionStore> SessionMiddlewareBuilder<S> {
    /// The absolute lifetime of a session unless the app sets another: 30 days, the longest
    /// "remember me" that the examples offer. See
    /// [`absolute_lifetime`](Self::absolute_lifetime).
    pub const DEFAULT_ABSOLUTE_LIFETIME: Duration = Duration::from_secs(30 * 86_400);

    pub(crate) fn new(store: S, key: Key) -> Self {
        Self {
            store,
            keys: SecretRing {
                current: key.into(),
                previous: Vec::new(),
            },
            cookie: CookieConfig::default(),
            lifetime: Lifetime::default().with_absolute_lifetime(Self::DEFAULT_ABSOLUTE_LIFETIME),
            load_before_routing: false,
            observes_itself: false,
        }
    }

    /// Puts `cache` in front of the store: loads read the cache first, saves write the store and
    /// then the cache. See [`CachedStore`].
    pub fn cache<C: SessionCache>(self, cache: C) -> SessionMiddlewareBuilder<CachedStore<C, S>> {
        // A second cache goes in front of the first, which already observes the store.
        let store = if self.observes_itself {
            CachedStore::new(cache, self.store)
        } else {
            CachedStore::observing(cache, self.store)
        };
        SessionMiddlewareBuilder {
            store,
            keys: self.keys,
            cookie: self.cookie,
            lifetime: self.lifetime,
            load_before_routing: self.load_before_routing,
            observes_itself: true,
        }
    }

    /// The session cookie's name. Defaults to `session`.
    ///
    /// A name starting with `__Host-` makes browsers insist on `Secure`, `Path=/` and no
    /// `Domain`, which stops a sibling subdomain from setting a session cookie for this host
    /// (cookie tossing); `__Secure-` insists on `Secure`. The defaults satisfy both, and
    /// [`build`](Self::build) refuses a prefixed name with settings that break its rules, which
    /// browsers would otherwise refuse silently, cookie by cookie.
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

    /// Whether to accept cookies issued by earlier builds of kv-sessions, which sealed with the
    /// app's key itself, before session keys were derived from it. Those builds carry this
    /// version number too, so only the cookie's format tells them apart. Defaults to `false`.
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
        self.lifetime.policy = SessionPolicy::new(expiry)
            .with_absolute_lifetime(self.lifetime.policy.absolute_lifetime())
            .with_max_size(self.lifetime.policy.max_size());
        self
    }

    /// The longest a session may live from its creation, whatever its activity and its expiry
    /// rule: the absolute timeout that OWASP recommends. Defaults to
    /// [`DEFAULT_ABSOLUTE_LIFETIME`](Self::DEFAULT_ABSOLUTE_LIFETIME), 30 days; `None` turns it
    /// off.
    ///
    /// [`Session::renew`](crate::Session::renew) keeps the session's creation time, so a session
    /// renewed periodically, as OWASP advises, still ends on time.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # use kv_sessions::{MokaStore, SessionMiddleware};
    /// # let key = actix_web::cookie::Key::generate();
    /// let a_week = SessionMiddleware::builder(MokaStore::new(100), key.clone())
    ///     .absolute_lifetime(Duration::from_secs(7 * 86_400));
    /// let unbounded = SessionMiddleware::builder(MokaStore::new(100), key).absolute_lifetime(None);
    /// ```
    pub fn absolute_lifetime(mut self, lifetime: impl Into<Option<Duration>>) -> Self {
        self.lifetime.policy = self.lifetime.policy.with_absolute_lifetime(lifetime.into());
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
    /// the session as it was. The cap is checked again against the merged session when the
    /// response saves, so that concurrent requests cannot grow a session past it together: a
    /// request whose save would pass it gets [`SessionError::TooLargeToSave`], an error
    /// response, and saves nothing.
    ///
    /// [`SessionError::TooLarge`]: crate::SessionError::TooLarge
    /// [`SessionError::TooLargeToSave`]: crate::SessionError::TooLargeToSave
    pub fn max_session_size(mut self, bytes: usize) -> Self {
        self.lifetime.policy = self.lifetime.policy.with_max_size(bytes);
        self
    }

    /// Whether the middleware loads each request's session before the app routes the request,
    /// so that guards find it with
    /// [`SessionExt::loaded_session`](crate::SessionExt::loaded_session). Defaults to `false`.
    ///
    /// Guards run before any extractor and cannot wait for a load, so without it they see no
    /// session. With it, every request that carries one of the middleware's cookies costs a store
    /// lookup (a cache hit with a [cache](Self::cache)), whether or not it uses the session, and
    /// counts as a read, which may move the session's deadline (see
    /// [`refresh_after`](Self::refresh_after)). Extractors then reuse that load. A load that
    /// fails answers as a failing extractor does: an opaque 500.
    pub fn load_before_routing(mut self, load: bool) -> Self {
        self.load_before_routing = load;
        self
    }

    /// Builds the middleware. Build it once, before `HttpServer::new`, and clone it into the app
    /// factory: every worker then shares one store, one cache and one key.
    ///
    /// It logs, at `info` level, the [fingerprint](crate::KeyFingerprint) of the key and of each
    /// previous key: instances that share sessions must log the same ones. Once it runs, it
    /// warns, once a minute at most, when most incoming session cookies fail their signature,
    /// which is what an instance with a key of its own sees.
    ///
    /// # Panics
    /// When called on an actix-web worker thread, that is inside the closure given to
    /// `HttpServer::new`. That closure runs once per worker, so each worker would get a cache
    /// (and often a key) of its own: a logout on one worker would leave the others serving the
    /// session from their caches. The panic stops the server from starting, and its message says
    /// how to fix the app. Also where the cookie name's `__Host-` or `__Secure-` prefix asks for
    /// settings the builder was told to drop (see [`cookie_name`](Self::cookie_name)): browsers
    /// would refuse every session cookie.
    pub fn build(self) -> SessionMiddleware {
        if let Some(worker) = actix_worker_thread() {
            panic!("{}", per_worker_message(&worker));
        }
        if let Some(broken) = self.cookie.broken_prefix_rule() {
            panic!("kv_sessions::SessionMiddleware: {broken}");
        }
        self.keys.log_fingerprints(&self.cookie.name);
        let stamp_versions = self.store.invalidations().is_some();
        let store: Arc<dyn DynStore> = if self.observes_itself {
            Arc::new(self.store)
        } else {
            Arc::new(Measured(self.store))
        };
        SessionMiddleware::from_config(Config {
            stamp_versions,
            store,
            keys: self.keys,
            cookie: self.cookie,
            lifetime: self.lifetime,
            signatures: SignatureWatch::default(),
            load_before_routing: self.load_before_routing,
            renewals: RecentRenewals::default(),
        })
    }
}

/// The name of the current thread, if it is one of actix-web's workers: the threads on which
/// `HttpServer::new` runs its app factory.
fn actix_worker_thread() -> Option<String> {
    let name = std::thread::current().name()?.to_owned();
    let worker = name.starts_with("actix-server worker ")
        || (name.starts_with("actix-rt|system:") && name.contains("|arbiter:"));
    worker.then_some(name)
}

/// What a middleware built per worker is told. The key is named because a key made in the same
/// closure with `Key::generate()` is the likeliest reason the middleware was built there, and
/// actix-session is named because its docs build its middleware in the closure, where it is
/// harmless for a cookie store: an app ported from it hits this first.
fn per_worker_message(thread: &str) -> String {
    format!(
        "kv_sessions::SessionMiddleware was built on the actix worker thread `{thread}`, inside \
         the closure given to `HttpServer::new`, which runs once per worker: every worker would \
         get its own session cache, so a logout on one worker would not reach the others, and a \
         key made in the closure with `Key::generate()` would differ between workers, so each \
         worker would refuse the cookies of the others. This is where kv-sessions differs from \
         actix-session, whose docs build `SessionMiddleware` inside the closure. The fix is one \
         line before `HttpServer::new`, with a clone moved into the closure: \
         `let sessions = SessionMiddleware::new(store, key);` then \
         `HttpServer::new(move || App::new().wrap(sessions.clone()))`. Build the store, the cache \
         and the key there too, and load the key with \
         `kv_sessions::key_from_env(\"SESSION_KEY\")` rather than `Key::generate()`, which \
         changes at every restart."
    )
}

#[cfg(all(test, feature = "moka"))]
mod tests {
    use super::*;
    use crate::store::MokaStore;

    fn build_on(thread: &str) -> std::thread::Result<SessionMiddleware> {
        let thread = std::thread::Builder::new().name(thread.to_owned());
        thread
            .spawn(|| {
                SessionMiddleware::builder(MokaStore::new(10), Key::generate())
                    .cache(MokaStore::new(10))
                    .build()
            })
            .expect("spawn")
            .join()
    }

    #[test]
    fn building_on_an_actix_worker_panics_with_the_fix() {
        for worker in ["actix-rt|system:0|arbiter:1", "actix-server worker 0"] {
            let panic = build_on(worker).expect_err("built on a worker");
            let message = panic.downcast_ref::<String>().expect("a message");
            assert!(message.contains(worker), "{message}");
            assert!(message.contains("before `HttpServer::new`"), "{message}");
            assert!(
                message.contains("with `Key::generate()` would differ"),
                "{message}"
            );
            assert!(message.contains("key_from_env"), "{message}");
            assert!(
                message.contains("differs from actix-session, whose docs build"),
                "{message}"
            );
            assert!(
                message.contains("`let sessions = SessionMiddleware::new(store, key);`"),
                "{message}"
            );
        }
    }

    fn build_with(
        configure: impl FnOnce(
            SessionMiddlewareBuilder<MokaStore>,
        ) -> SessionMiddlewareBuilder<MokaStore>
        + Send
        + 'static,
    ) -> Result<SessionMiddleware, String> {
        let thread = std::thread::spawn(|| {
            configure(SessionMiddleware::builder(
                MokaStore::new(10),
                Key::generate(),
            ))
            .build()
        });
        thread
            .join()
            .map_err(|panic| panic.downcast_ref::<String>().cloned().unwrap_or_default())
    }

    #[test]
    fn a_host_prefixed_name_with_a_domain_a_path_or_no_secure_is_refused() {
        let host = |builder: SessionMiddlewareBuilder<MokaStore>| builder.cookie_name("__Host-id");
        assert!(build_with(host).is_ok(), "the defaults fit the prefix");
        let domain = build_with(move |b| host(b).cookie_domain(Some("example.com".into())));
        assert!(
            domain
                .expect_err("refused")
                .contains("`__Host-id` needs no `Domain`")
        );
        let path = build_with(move |b| host(b).cookie_path("/app"));
        assert!(
            path.expect_err("refused")
                .contains("needs `Path=/`, not `/app`")
        );
        let plain = build_with(move |b| host(b).cookie_secure(false));
        assert!(plain.expect_err("refused").contains("needs `Secure`"));
        let secure_prefix = build_with(|b| b.cookie_name("__Secure-id").cookie_secure(false));
        assert!(
            secure_prefix
                .expect_err("refused")
                .contains("`__Secure-id` needs `Secure`")
        );
        let lowercase = build_with(|b| b.cookie_name("__host-id").cookie_path("/app"));
        assert!(lowercase.is_err(), "browsers match prefixes in any case");
    }

    #[test]
    fn building_elsewhere_is_fine() {
        for thread in ["main", "actix-rt|system:0", "tokio-runtime-worker"] {
            assert!(build_on(thread).is_ok(), "{thread}");
        }
    }
}
