//! Reaching the session from outside a handler's extractors: guards, middleware, responses.

use std::future::Future;

use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::guard::GuardContext;
use actix_web::{HttpMessage, HttpRequest};

use crate::error::SessionError;
use crate::session::Session;

/// The session of a request, from a guard, a `wrap_fn` middleware, or a response: what
/// actix-session's `SessionExt` does.
///
/// Implemented for [`HttpRequest`], [`ServiceRequest`], [`ServiceResponse`] and
/// [`GuardContext`]. Every handle it gives is the one the extractors of the same request get,
/// and the session is loaded at most once per request, whoever asks first.
///
/// Unlike actix-session's, the session is not in the request until something loads it:
/// [`session`](SessionExt::session) loads it, which a guard cannot await, and
/// [`loaded_session`](SessionExt::loaded_session) only finds it loaded. A guard therefore sees the
/// session only on a middleware built with
/// [`load_before_routing`](crate::SessionMiddlewareBuilder::load_before_routing); the
/// [untyped session chapter](crate::guide::untyped_session#outside-a-handler-guards-and-middleware)
/// says what that costs.
///
/// ```no_run
/// use actix_web::dev::Service;
/// use actix_web::App;
/// use kv_sessions::{SessionExt, SessionMiddleware};
///
/// # fn app(sessions: SessionMiddleware) {
/// // Counts every page view of the visitor, in a middleware inside the session middleware.
/// let app = App::new()
///     .wrap_fn(|req, srv| {
///         let session = req.session();
///         let response = srv.call(req);
///         async move {
///             session.await?.update_or("views", 1_u64, |views| views + 1)?;
///             response.await
///         }
///     })
///     .wrap(sessions);
/// # drop(app);
/// # }
/// ```
pub trait SessionExt {
    /// The request's session, loaded from the store on first use: the load that
    /// [`Session`]'s extractor does, shared with it.
    ///
    /// [`SessionError::MiddlewareMissing`] where the session middleware does not wrap the
    /// request, and a store error where the load fails.
    ///
    /// Changes are saved when the response leaves the session middleware; changes made after
    /// that, from a response in a middleware outside it, are not saved.
    fn session(&self) -> impl Future<Output = Result<Session, SessionError>> + 'static + use<Self>;

    /// The request's session where it has already been loaded: by an extractor, by
    /// [`session`](SessionExt::session), or by the middleware before routing. `None` otherwise,
    /// and without the middleware.
    fn loaded_session(&self) -> Option<Session>;
}

impl SessionExt for HttpRequest {
    fn session(&self) -> impl Future<Output = Result<Session, SessionError>> + 'static + use<> {
        Session::load_from(&self.extensions())
    }

    fn loaded_session(&self) -> Option<Session> {
        Session::loaded_in(&self.extensions())
    }
}

impl SessionExt for ServiceRequest {
    fn session(&self) -> impl Future<Output = Result<Session, SessionError>> + 'static + use<> {
        Session::load_from(&self.extensions())
    }

    fn loaded_session(&self) -> Option<Session> {
        Session::loaded_in(&self.extensions())
    }
}

impl<B> SessionExt for ServiceResponse<B> {
    fn session(&self) -> impl Future<Output = Result<Session, SessionError>> + 'static + use<B> {
        self.request().session()
    }

    fn loaded_session(&self) -> Option<Session> {
        self.request().loaded_session()
    }
}

impl<'a> SessionExt for GuardContext<'a> {
    fn session(&self) -> impl Future<Output = Result<Session, SessionError>> + 'static + use<'a> {
        Session::load_from(&self.req_data())
    }

    fn loaded_session(&self) -> Option<Session> {
        Session::loaded_in(&self.req_data())
    }
}
