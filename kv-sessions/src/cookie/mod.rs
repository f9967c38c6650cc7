//! Reading and writing the session cookie, one stage to a file:
//!
//! - [`secret`]: the secrets that seal session cookies, derived from the app's keys, and the ring
//!   of the current one and previous ones;
//! - [`secret_text`]: reading an app's key from hex or base64 text, or from the environment;
//! - [`read`]: finding the session cookie in a request and what it says;
//! - [`seal`]: sealing an id into a cookie value, and opening one;
//! - [`set_cookie`]: the cookie's settings, and the `Set-Cookie` headers that set and remove it;
//! - [`rejection`]: why a cookie opened no session, told to the log.
//!
//! # What the cookie carries
//!
//! The session id and nothing else: the session's data stays in the store. A signed value
//! ([`CookieContent::Signed`], the default) lets the client read the id but not forge or alter
//! it; a private one ([`CookieContent::Private`]) hides it too. Either way the seal covers the
//! cookie's name as well as the id, so a value sealed for another cookie name opens no session.
//!
//! Session cookies are sealed with a secret of their own, derived from the app's key, never with
//! the app's key itself, which also signs the app's own cookies: under the app's key, an app
//! cookie whose value a client chose could pass for a session cookie.
//!
//! Values are written in URL-safe base64 without padding, so they hold only letters, digits, `-`
//! and `_`, which no client percent-encodes. Clients that percent-encode anyway (actix-web's
//! `TestRequest::cookie`, awc) are understood: escapes are decoded before a value is opened.
//!
//! # Rotation
//!
//! New cookies are sealed with the secret derived from the current key. Keys that were current
//! before still open cookies, and a cookie one of them opened is sealed again with the current
//! secret on the first response that uses the session.
//!
//! Earlier builds of kv-sessions, under the same version number, sealed cookies with the app's
//! key itself and spelled them in standard base64, as actix-web's jars do. Such legacy cookies open only while
//! [`SessionMiddlewareBuilder::accept_legacy_cookies`](crate::SessionMiddlewareBuilder::accept_legacy_cookies)
//! is on, and are then sealed again in the current format.
//!
//! A version stamp for cross-instance coherence can later follow the id after a `.`; a server
//! that predates it reads such a cookie as invalid and starts a fresh session, which is safe.

mod percent;
mod read;
mod rejection;
mod seal;
mod secret;
mod secret_text;
mod set_cookie;

pub(crate) use self::read::{Cookies, Fallbacks, Incoming};
pub(crate) use self::rejection::Rejection;
pub use self::seal::CookieContent;
pub(crate) use self::secret::SecretRing;
pub use self::secret_text::{KeyError, decode_key, key_from_env};
pub(crate) use self::set_cookie::CookieConfig;
