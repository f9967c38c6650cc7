//! The actix-web middleware that ties requests to sessions.

use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::SystemTime;

use actix_web::HttpMessage;
use actix_web::cookie::Key;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::SET_COOKIE;

use crate::cache_control;
use crate::commit::CookieUpdate;
use crate::config::{Config, SessionMiddlewareBuilder};
use crate::cookie::KeyFingerprint;
use crate::owner::UserSessions;
use crate::session::RequestSession;
use crate::store::SessionStore;

/// Server-side sessions for an actix-web app.
///
/// For each request the middleware reads the session id from the signed cookie, and hands the
/// session to the extractors ([`Session`](crate::Session) and `#[derive(SessionKeys)]` structs),
/// which load it from the store on first use. When the response comes back it saves what the
/// request changed and sets or removes the cookie.
///
/// - A request that uses no session extractor costs no store lookup, unless the middleware
///   [loads sessions before routing](SessionMiddlewareBuilder::load_before_routing) for guards.
/// - A request that brings no valid cookie and writes nothing creates nothing and sets no cookie.
/// - A session is saved only when it changed. A server error saves nothing but a purge.
/// - A store failure while saving turns the response into a bare 500, and a write to a session
///   that ended meanwhile into a 409: a client is never told that a write succeeded when it did
///   not persist.
/// - A missing, forged, unknown or expired cookie gives a fresh session. Only the request that
///   purges removes the cookie: any other response may reach the browser after a newer cookie
///   (a login's), which a removal would undo.
///
/// Build it once, outside `HttpServer::new`, and clone it into the app factory:
///
/// ```no_run
/// use actix_web::{App, HttpServer};
/// use kv_sessions::{MokaStore, SessionMiddleware, SledStore, key_from_env};
///
/// #[actix_web::main]
/// async fn main() -> std::io::Result<()> {
///     let store = SledStore::open("sessions.sled").map_err(std::io::Error::other)?;
///     let key = key_from_env("SESSION_KEY").map_err(std::io::Error::other)?;
///     let sessions = SessionMiddleware::builder(store.clone(), key)
///         .cache(MokaStore::new(10_000))
///         .build();
///     HttpServer::new(move || App::new().wrap(sessions.clone()))
///         .bind(("127.0.0.1", 8000))?
///         .run()
///         .await?;
///     store.flush().await.map_err(std::io::Error::other)
/// }
/// ```
#[derive(Clone)]
pub struct SessionMiddleware {
    config: Arc<Config>,
}

impl std::fmt::Debug for SessionMiddleware {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionMiddleware")
            .field("cookie", &self.config.cookie.name)
            .field("lifetime", &self.config.lifetime)
            .finish_non_exhaustive()
    }
}

impl SessionMiddleware {
    /// Sessions in `store`, with cookies signed by `key`, and every other setting at its secure
    /// default.
    ///
    /// # The key
    /// Make the middleware and its key once, before `HttpServer::new`: made inside its closure,
    /// each worker would have a key of its own and refuse the others' cookies, so
    /// [`build`](SessionMiddlewareBuilder::build) panics there, saying so. The key must also stay
    /// the same across restarts and be shared by every instance of the app, and that no process
    /// can check by itself:
    ///
    /// - `Key::generate()` in `main` works until the first restart, which logs everyone out;
    /// - instances with keys of their own keep a session only while its requests reach the
    ///   instance that issued it.
    ///
    /// Either way nothing fails: a cookie that no key opens just gets a fresh session, and the
    /// `debug` log says "bad signature"; where most cookies fail so, a `warn` says so, once a
    /// minute at most. Compare the [`key_fingerprint`](Self::key_fingerprint) that each
    /// instance logs at start-up to find the odd one out. Load a fixed key with
    /// [`key_from_env`](crate::key_from_env) instead, and rotate it with
    /// [`previous_keys`](SessionMiddlewareBuilder::previous_keys).
    ///
    /// # Panics
    /// On an actix-web worker thread, inside the closure given to `HttpServer::new`; see
    /// [`SessionMiddlewareBuilder::build`].
    pub fn new<S: SessionStore>(store: S, key: Key) -> Self {
        Self::builder(store, key).build()
    }

    /// Starts configuring a middleware; see [`SessionMiddlewareBuilder`].
    ///
    /// Call it once, before `HttpServer::new`, with a key loaded rather than generated: what
    /// [`new`](SessionMiddleware::new) says of the key holds for the builder alike.
    pub fn builder<S: SessionStore>(store: S, key: Key) -> SessionMiddlewareBuilder<S> {
        SessionMiddlewareBuilder::new(store, key)
    }

    /// The fingerprint of the key that seals this middleware's cookies, which
    /// [`build`](SessionMiddlewareBuilder::build) also logs: instances that share sessions must
    /// all have the same. See [`KeyFingerprint`].
    pub fn key_fingerprint(&self) -> KeyFingerprint {
        self.config.keys.current.fingerprint
    }

    /// The fingerprints of the [previous keys](SessionMiddlewareBuilder::previous_keys), newest
    /// first.
    pub fn previous_key_fingerprints(&self) -> Vec<KeyFingerprint> {
        let previous = self.config.keys.previous.iter();
        previous.map(|secret| secret.fingerprint).collect()
    }

    /// A handle on the sessions of the middleware's store by user, to list and revoke them
    /// outside a request (a handler can also extract [`UserSessions`] directly). Share it with
    /// handlers through [`web::Data`](actix_web::web::Data) or move it into a background task.
    pub fn user_sessions(&self) -> UserSessions {
        UserSessions::new(Arc::clone(&self.config.store), None)
    }

    pub(crate) fn from_config(config: Config) -> Self {
        Self {
            config: Arc::new(config),
        }
    }
}

impl<S, B> Transform<S, ServiceRequest> for SessionMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Transform = SessionService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(SessionService {
            service: Rc::new(service),
            config: Arc::clone(&self.config),
        }))
    }
}

/// The per-worker service that [`SessionMiddleware`] wraps around an app.
#[doc(hidden)]
pub struct SessionService<S> {
    service: Rc<S>,
    config: Arc<Config>,
}

impl<S, B> Service<ServiceRequest> for SessionService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>>>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let cookies = self
            .config
            .cookie
            .read_all(req.headers(), &self.config.keys);
        self.config
            .signatures
            .observe(&cookies, &self.config.cookie.name);
        let session = Rc::new(RequestSession::new(Arc::clone(&self.config), cookies));
        req.extensions_mut().insert(Rc::clone(&session));
        let service = Rc::clone(&self.service);
        let load_first = self.config.load_before_routing;
        Box::pin(async move {
            if load_first {
                session.load().await?;
            }
            let mut response = service.call(req).await?;
            let server_error = response.status().is_server_error();
            let update = session.commit(server_error).await?;
            apply(&session, update, &mut response)?;
            Ok(response)
        })
    }
}

/// Sets or removes the session cookie on the response.
fn apply<B>(
    session: &RequestSession,
    update: CookieUpdate,
    response: &mut ServiceResponse<B>,
) -> Result<(), actix_web::Error> {
    let config = session.config();
    let header = match update {
        CookieUpdate::Keep => return Ok(()),
        CookieUpdate::Set(issue) => config.cookie.session_cookie(
            issue.id,
            config.stamp_versions.then_some(issue.version),
            issue.rule,
            issue.deadline,
            SystemTime::now(),
            &config.keys.current,
        ),
        CookieUpdate::Remove => config.cookie.removal_cookie(),
    }?;
    response.headers_mut().append(SET_COOKIE, header);
    cache_control::keep_private(response.headers_mut());
    Ok(())
}
