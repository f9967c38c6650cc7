//! Typed session keys.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::HttpRequest;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::SessionError;
use crate::session::{Session, SessionFuture};

/// A type that can be stored in a session: anything serde can write to JSON and read back.
///
/// It is implemented for every `T: Serialize + DeserializeOwned`; there is nothing to implement
/// by hand.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be stored in a session",
    label = "this type must implement serde's `Serialize` and `Deserialize`",
    note = "add `#[derive(serde::Serialize, serde::Deserialize)]` to `{Self}`, or to each type of \
            yours inside it"
)]
pub trait SessionValue: Serialize + DeserializeOwned {}

// Without `do_not_recommend`, a type that cannot be stored gets one error per missing serde
// trait, worded by serde, rather than one error worded by `SessionValue`.
#[diagnostic::do_not_recommend]
impl<T: Serialize + DeserializeOwned> SessionValue for T {}

/// One typed key of a session, as a field of a `#[derive(SessionKeys)]` struct.
///
/// The key's name and value type are fixed by the struct, so a misspelt key or a value of the
/// wrong type does not compile. Accessors are synchronous: the session was loaded when the
/// struct was extracted.
///
/// ```no_run
/// use actix_web::{HttpResponse, get};
/// use kv_sessions::{SessionError, SessionKey, SessionKeys};
///
/// #[derive(SessionKeys)]
/// #[session(prefix = "cart")]
/// struct Cart {
///     items: SessionKey<Vec<u64>>,
/// }
///
/// #[get("/add/{item}")]
/// async fn add(cart: Cart, item: actix_web::web::Path<u64>) -> Result<HttpResponse, SessionError> {
///     let mut items = cart.items.get_or_default()?;
///     items.push(item.into_inner());
///     cart.items.set(items)?;
///     Ok(HttpResponse::Ok().finish())
/// }
/// ```
pub struct SessionKey<T> {
    session: Session,
    name: &'static str,
    value: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for SessionKey<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionKey")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<T> Clone for SessionKey<T> {
    fn clone(&self) -> Self {
        Self {
            session: self.session.clone(),
            name: self.name,
            value: PhantomData,
        }
    }
}

impl<T: SessionValue> SessionKey<T> {
    /// The value, or `None` where none is stored. [`SessionError::Deserialize`] where the stored
    /// value is not a `T`, for instance after the type changed between releases.
    pub fn get(&self) -> Result<Option<T>, SessionError> {
        self.session.get(self.name)
    }

    /// The value, or `T::default()` where none is stored.
    pub fn get_or_default(&self) -> Result<T, SessionError>
    where
        T: Default,
    {
        self.get().map(Option::unwrap_or_default)
    }

    /// Stores `value`.
    pub fn set(&self, value: T) -> Result<(), SessionError> {
        self.session.insert(self.name, value)
    }

    /// Deletes the value and returns it. The key is deleted even where the old value is not a
    /// `T`; the error then says so.
    pub fn remove(&self) -> Result<Option<T>, SessionError> {
        self.session.remove_as(self.name)
    }

    /// Replaces the value with `f` of it; does nothing where none is stored. See
    /// [`Session::update`].
    pub fn update(&self, f: impl FnOnce(T) -> T) -> Result<(), SessionError> {
        self.session.update(self.name, f)
    }

    /// Replaces the value with `f` of it, or stores `default` where none is stored. See
    /// [`Session::update_or`].
    pub fn update_or(&self, default: T, f: impl FnOnce(T) -> T) -> Result<(), SessionError> {
        self.session.update_or(self.name, default, f)
    }

    /// The name the value is stored under: the field name or its `rename`, after the struct's
    /// `prefix` and a `.`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The untyped session this key belongs to.
    pub fn session(&self) -> &Session {
        &self.session
    }
}

/// A struct of typed session keys; implement it with `#[derive(SessionKeys)]`.
///
/// The derive also makes the struct an actix-web extractor. All extractors of one request, typed
/// or not, share one session.
///
/// ```no_run
/// use kv_sessions::{SessionKey, SessionKeys};
///
/// #[derive(SessionKeys)]
/// #[session(prefix = "demo")]        // stored keys become "demo.<name>"
/// struct Demo {
///     test_key: SessionKey<String>,  // stored under "demo.test_key"
///     #[session(rename = "visits")]
///     count: SessionKey<u32>,        // stored under "demo.visits"
/// }
///
/// assert_eq!(Demo::KEYS, ["demo.test_key", "demo.visits"]);
/// ```
pub trait SessionKeys: Sized {
    /// The stored name of every key, in field order.
    const KEYS: &'static [&'static str];

    /// The keys of `session`, as this struct: how code that holds a [`Session`] rather than an
    /// extractor reaches its typed keys, such as a guard, through
    /// [`SessionExt::loaded_session`](crate::SessionExt::loaded_session).
    ///
    /// ```no_run
    /// use actix_web::{App, guard, web};
    /// use kv_sessions::{SessionExt, SessionKey, SessionKeys};
    ///
    /// #[derive(SessionKeys)]
    /// #[session(prefix = "account")]
    /// struct Account {
    ///     user: SessionKey<String>,
    /// }
    ///
    /// let signed_in = guard::fn_guard(|ctx| {
    ///     let Some(session) = ctx.loaded_session() else { return false };
    ///     Account::from_session(&session).user.get().is_ok_and(|user| user.is_some())
    /// });
    /// let app = App::new().service(web::resource("/account").guard(signed_in).to(|| async { "yours" }));
    /// # drop(app);
    /// ```
    fn from_session(session: &Session) -> Self;
}

/// Makes a typed key; called by derived code.
pub fn key<T>(session: &Session, name: &'static str) -> SessionKey<T> {
    SessionKey {
        session: session.clone(),
        name,
        value: PhantomData,
    }
}

/// Extracts a struct of keys; called by derived code.
pub fn extract_keys<T: SessionKeys>(req: &HttpRequest) -> KeysFuture<T> {
    KeysFuture {
        session: Session::extract(req),
        keys: PhantomData,
    }
}

/// The future that extracts a `#[derive(SessionKeys)]` struct.
pub struct KeysFuture<T> {
    session: SessionFuture,
    keys: PhantomData<fn() -> T>,
}

impl<T: SessionKeys> Future for KeysFuture<T> {
    type Output = Result<T, SessionError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.session
            .as_mut()
            .poll(cx)
            .map(|session| session.map(|session| T::from_session(&session)))
    }
}
