//! A realistic sign-in on the embedded default (sled for storage, moka as the cache): a login
//! form with "remember me", a page for signed-in users only, and a sign-out button.
//!
//! - `GET /`: the home page. It offers to sign in, or says who is signed in.
//! - `GET /login`: the sign-in form.
//! - `POST /login`: checks the form against the users below. On success it renews the session id
//!   (so an id planted in the browser before sign-in is worthless after it), clears whatever the
//!   session held before (a planted session's values are the attacker's), stores the user and
//!   sends the browser to `/account` with `303 See Other`. With "Remember me" ticked the session
//!   lasts 30 days of inactivity; without it, the cookie is a browser-session cookie, dropped when
//!   the browser closes, and the server forgets the session after an hour of inactivity. A wrong
//!   username or password gives the form again with `401 Unauthorized`, and stores nothing.
//!   The session is also bound to the user, labelled with the browser and system its
//!   `User-Agent` names, so that it shows among the user's sessions.
//! - `GET /account`: signed-in users only; anyone else is sent to `/login`.
//! - `GET /sessions`: "Your sessions": every device signed in as the user, with when it signed in
//!   and when it was last seen, a "Sign out" button beside each other device and a "Sign out
//!   everywhere else" button. Signed-in users only.
//! - `POST /sessions/revoke`: signs out the device whose handle the form sends, if it is one of
//!   the user's (a handle of anyone else's session does nothing), and goes back to `/sessions`.
//! - `POST /sessions/revoke-others`: signs out every device of the user but this one.
//! - `POST /logout`: deletes the session and its cookie, and sends the browser to `/`. Signing
//!   out is a POST so that no link or image on another site can sign a user out; the cookie's
//!   default `SameSite=Lax` keeps other sites' forms from posting with it.
//!
//! The users are `alice` (password `wonderland`) and `bob` (password `builder`).
//!
//! # Guarding routes
//!
//! `/account` takes a `SignedIn` argument: an extractor that yields the signed-in user, and whose
//! rejection, `SignInRequired`, answers with a redirect to `/login`. An extractor rather than a
//! middleware, because the guard is then chosen route by route, visible in the handler's
//! signature, and typed: the handler receives the user itself, not a session it must remember
//! to check.
//!
//! Environment:
//! - `PORT`: the port on 127.0.0.1 (default 8000; `0` lets the system pick one, which the
//!   "listening on" line names);
//! - `SESSIONS_DB`: the sled directory (default `./auth-sessions.sled`);
//! - `SESSION_KEY`: the cookie signing key, as in the `basic` example (default: a random key, and
//!   sessions do not survive a restart);
//! - `RUST_LOG`: log filter (default `info`).

use std::env;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, ContentType, LOCATION, USER_AGENT};
use actix_web::{
    App, FromRequest, HttpRequest, HttpResponse, HttpServer, ResponseError, get, post, web,
};
use kv_sessions::{
    Expiry, MokaStore, Session, SessionDigest, SessionError, SessionKey, SessionKeys,
    SessionMiddleware, SessionOwner, SledStore, UserSession, UserSessions,
};
use kv_sessions_examples::settings::{announce, init_logging, port, signing_key};
use serde::Deserialize;

/// How long a session of a user who ticked "Remember me" lasts without activity.
const REMEMBERED: Expiry = Expiry::OnInactivity(Duration::from_secs(30 * 24 * 60 * 60));

/// Everyone else's sessions: a cookie the browser drops when it closes, and an hour of
/// inactivity on the server, since a browser never says that it closed.
const UNTIL_BROWSER_CLOSES: Expiry = Expiry::OnSessionEnd(Duration::from_secs(60 * 60));

/// The users who may sign in, with their passwords.
///
/// Plain text keeps the example short. A real app never stores a password: it stores a slow,
/// salted hash (argon2, for instance) and checks a login with the hash library's `verify`.
const USERS: &[(&str, &str)] = &[("alice", "wonderland"), ("bob", "builder")];

/// What this app keeps in a session: who is signed in, stored under `auth.user`.
#[derive(SessionKeys)]
#[session(prefix = "auth")]
struct Auth {
    user: SessionKey<String>,
}

/// The user signed in to this request's session. Taking it as an argument makes a route
/// sign-in only: without a user, the handler never runs and the browser goes to `/login`.
struct SignedIn {
    user: String,
}

impl FromRequest for SignedIn {
    type Error = SignInRequired;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let auth = Auth::from_request(req, payload);
        Box::pin(async move {
            let user = auth.await?.user.get()?.ok_or(SignInRequired::SignedOut)?;
            Ok(SignedIn { user })
        })
    }
}

/// Why a `SignedIn` route did not run.
#[derive(Debug, thiserror::Error)]
enum SignInRequired {
    /// No one is signed in to the session: the browser is sent to the sign-in form.
    #[error("this page is for signed-in users")]
    SignedOut,
    /// The session could not be read: an opaque 500, as for any session error.
    #[error(transparent)]
    Session(#[from] SessionError),
}

impl ResponseError for SignInRequired {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::SignedOut => StatusCode::SEE_OTHER,
            Self::Session(error) => error.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::SignedOut => see_other("/login"),
            Self::Session(error) => error.error_response(),
        }
    }
}

/// The sign-in form's fields. A checkbox is sent only when ticked.
#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
    remember: Option<String>,
}

// `Auth` rather than `Option<SignedIn>`: actix-web turns every rejection of an optional
// extractor into `None`, so a store failure would show a signed-in user the anonymous page.
#[get("/")]
async fn home(auth: Auth) -> Result<HttpResponse, SessionError> {
    let body = match auth.user.get()? {
        Some(user) => format!(
            "<p>Signed in as {}. <a href=\"/account\">Your account</a></p>",
            escape(&user)
        ),
        None => "<p>Welcome. <a href=\"/login\">Sign in</a></p>".to_owned(),
    };
    Ok(html(StatusCode::OK, "Home", &body))
}

#[get("/login")]
async fn login_form() -> HttpResponse {
    html(StatusCode::OK, "Sign in", &sign_in_form(None))
}

#[post("/login")]
async fn login(
    request: HttpRequest,
    session: Session,
    auth: Auth,
    form: web::Form<Credentials>,
) -> Result<HttpResponse, SessionError> {
    let Some(user) = authenticate(&form.username, &form.password) else {
        let wrong = "Wrong username or password.";
        return Ok(html(
            StatusCode::UNAUTHORIZED,
            "Sign in",
            &sign_in_form(Some(wrong)),
        ));
    };
    session.renew();
    // `renew` carries every value over to the new id, and a planted session's values are the
    // attacker's: none of them may sit beside the user.
    session.clear();
    // `None` as well as `Some`: `clear` keeps the session's own rule, and a session that was
    // remembered before goes back to the default.
    session.set_expiry(form.remember.is_some().then_some(REMEMBERED));
    auth.user.set(user.to_owned())?;
    let user_agent = request.headers().get(USER_AGENT);
    let device = device_name(user_agent.and_then(|agent| agent.to_str().ok()));
    session.bind(SessionOwner::new(user).with_label(device))?;
    Ok(see_other("/account"))
}

#[get("/account")]
async fn account(signed_in: SignedIn) -> HttpResponse {
    let body = format!(
        "<h1>Account</h1>\n<p>Signed in as {}. <a href=\"/sessions\">Your sessions</a></p>\n\
         <form method=\"post\" action=\"/logout\"><button type=\"submit\" id=\"sign-out\">Sign out</button></form>",
        escape(&signed_in.user)
    );
    html(StatusCode::OK, "Account", &body)
}

/// "Your sessions": the devices signed in as the user, this one first.
#[get("/sessions")]
async fn your_sessions(
    signed_in: SignedIn,
    sessions: UserSessions,
) -> Result<HttpResponse, SessionError> {
    let mut listed = sessions.list(&signed_in.user).await?;
    listed.sort_by_key(|session| !session.is_current());
    let now = SystemTime::now();
    let rows: String = listed
        .iter()
        .map(|session| session_row(session, now))
        .collect();
    let body = format!(
        "<h1>Your sessions</h1>\n<p>Signed in as {} on {} device(s).</p>\n\
         <table id=\"sessions\">\n<tr><th>Device</th><th>Signed in</th><th>Last seen</th><th></th></tr>\n\
         {rows}</table>\n\
         <form method=\"post\" action=\"/sessions/revoke-others\">\
         <button type=\"submit\" id=\"sign-out-others\">Sign out everywhere else</button></form>\n\
         <p><a href=\"/account\">Back to your account</a></p>",
        escape(&signed_in.user),
        listed.len()
    );
    Ok(html(StatusCode::OK, "Your sessions", &body))
}

/// One device in the table: this one is marked, every other has its own "Sign out" button.
fn session_row(session: &UserSession, now: SystemTime) -> String {
    let device = escape(session.label().unwrap_or("Unknown device"));
    let action = if session.is_current() {
        "<strong class=\"current\">This device</strong>".to_owned()
    } else {
        format!(
            "<form method=\"post\" action=\"/sessions/revoke\">\
             <input type=\"hidden\" name=\"handle\" value=\"{}\">\
             <button type=\"submit\" class=\"sign-out-device\">Sign out</button></form>",
            session.handle()
        )
    };
    format!(
        "<tr class=\"session\"><td>{device}</td><td>{}</td><td>{}</td><td>{action}</td></tr>\n",
        ago(now, session.created_at()),
        ago(now, session.saved_at())
    )
}

/// The form of a "Sign out" button beside another device.
#[derive(Deserialize)]
struct Revoke {
    handle: String,
}

#[post("/sessions/revoke")]
async fn revoke_device(
    signed_in: SignedIn,
    sessions: UserSessions,
    form: web::Form<Revoke>,
) -> Result<HttpResponse, SessionError> {
    let Ok(handle) = form.handle.parse::<SessionDigest>() else {
        return Ok(HttpResponse::BadRequest().body("not a session handle"));
    };
    // Revokes nothing unless the session is the signed-in user's own.
    sessions.revoke(&signed_in.user, handle).await?;
    Ok(see_other("/sessions"))
}

#[post("/sessions/revoke-others")]
async fn revoke_other_devices(
    signed_in: SignedIn,
    sessions: UserSessions,
) -> Result<HttpResponse, SessionError> {
    sessions.revoke_others(&signed_in.user).await?;
    Ok(see_other("/sessions"))
}

/// A short name for the device a `User-Agent` describes, such as "Chrome on Linux": enough for
/// a user to tell their devices apart, and no more of the header than that.
fn device_name(user_agent: Option<&str>) -> String {
    const BROWSERS: [(&str, &str); 4] = [
        ("Firefox/", "Firefox"),
        ("Edg/", "Edge"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
    ];
    const SYSTEMS: [(&str, &str); 5] = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Linux", "Linux"),
    ];
    let agent = user_agent.unwrap_or_default();
    let find = |names: &[(&'static str, &'static str)]| {
        let found = names.iter().find(|(token, _)| agent.contains(token));
        found.map(|&(_, name)| name)
    };
    match (find(&BROWSERS), find(&SYSTEMS)) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(name), None) | (None, Some(name)) => name.to_owned(),
        (None, None) => "Unknown device".to_owned(),
    }
}

/// How long before `now` the moment `then` was, in the largest whole unit.
fn ago(now: SystemTime, then: SystemTime) -> String {
    let seconds = now.duration_since(then).unwrap_or_default().as_secs();
    match seconds {
        0..60 => "just now".to_owned(),
        60..3_600 => format!("{} min ago", seconds / 60),
        3_600..86_400 => format!("{} h ago", seconds / 3_600),
        _ => format!("{} days ago", seconds / 86_400),
    }
}

#[post("/logout")]
async fn logout(session: Session) -> HttpResponse {
    session.purge();
    see_other("/")
}

/// The user that `username` and `password` sign in, if they match an entry of [`USERS`].
///
/// Every entry is compared, name and password alike, with no early exit, so the time a
/// failed login takes does not say whether the username exists.
fn authenticate(username: &str, password: &str) -> Option<&'static str> {
    let mut found = None;
    for &(name, secret) in USERS {
        if same_bytes(name, username) & same_bytes(secret, password) {
            found = Some(name);
        }
    }
    found
}

/// Whether `a` and `b` are equal, looking at every byte whatever the first difference. Only the
/// lengths are compared first; a real app compares fixed-length hashes, where they never differ.
fn same_bytes(a: &str, b: &str) -> bool {
    let differences = a
        .bytes()
        .zip(b.bytes())
        .fold(0, |seen, (x, y)| seen | (x ^ y));
    a.len() == b.len() && differences == 0
}

/// The sign-in form, with `error` above it.
fn sign_in_form(error: Option<&str>) -> String {
    let error = error.map_or_else(String::new, |error| {
        format!("<p id=\"error\">{}</p>\n", escape(error))
    });
    format!(
        "<h1>Sign in</h1>\n{error}<form method=\"post\" action=\"/login\">\n\
         <p><label for=\"username\">Username</label> <input name=\"username\" id=\"username\"></p>\n\
         <p><label for=\"password\">Password</label> \
         <input type=\"password\" name=\"password\" id=\"password\"></p>\n\
         <p><input type=\"checkbox\" name=\"remember\" id=\"remember\" value=\"on\"> \
         <label for=\"remember\">Remember me for 30 days</label></p>\n\
         <p><button type=\"submit\" id=\"sign-in\">Sign in</button></p>\n\
         </form>"
    )
}

/// An HTML page. Pages here depend on who is signed in, so no cache may keep them: after signing
/// out, the back button must not show the account page.
fn html(status: StatusCode, title: &str, body: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type(ContentType::html())
        .insert_header((CACHE_CONTROL, "no-store"))
        .body(format!(
            "<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>{}</title></head>\n\
             <body>\n{body}\n</body>\n</html>\n",
            escape(title)
        ))
}

/// `text` with the characters that mean something in HTML replaced by entities, so that it
/// shows as text wherever it is put, in an element or in a quoted attribute.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// `303 See Other` to `location`: after a POST, the browser follows it with a GET.
fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((LOCATION, location))
        .finish()
}

#[actix_web::main]
async fn main() -> io::Result<()> {
    init_logging();
    let port = port()?;
    let directory = env::var("SESSIONS_DB").unwrap_or_else(|_| "./auth-sessions.sled".to_owned());
    let key = signing_key()?;

    // Built once, outside `HttpServer::new`: every worker shares the store, cache and key.
    let store = SledStore::open(&directory).map_err(io::Error::other)?;
    let sessions = SessionMiddleware::builder(store.clone(), key)
        .cache(MokaStore::new(10_000))
        .cookie_name("session")
        .default_expiry(UNTIL_BROWSER_CLOSES)
        .build();

    let server = HttpServer::new(move || {
        App::new()
            .wrap(sessions.clone())
            .service(home)
            .service(login_form)
            .service(login)
            .service(account)
            .service(your_sessions)
            .service(revoke_device)
            .service(revoke_other_devices)
            .service(logout)
    })
    .bind(("127.0.0.1", port))?;
    announce(&server.addrs(), &directory);
    server.run().await?;

    store.flush().await.map_err(io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_text_cannot_open_a_tag_or_leave_an_attribute() {
        assert_eq!(
            escape(r#"<script>"a" & 'b'</script>"#),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
        assert_eq!(escape("alice"), "alice");
    }

    #[test]
    fn a_device_is_named_by_its_browser_and_system() {
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                      HeadlessChrome/120.0.0.0 Safari/537.36";
        let firefox =
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0";
        assert_eq!(device_name(Some(chrome)), "Chrome on Linux");
        assert_eq!(device_name(Some(firefox)), "Firefox on Windows");
        assert_eq!(device_name(Some("curl/8.5.0")), "Unknown device");
        assert_eq!(device_name(None), "Unknown device");
    }

    #[test]
    fn times_read_in_their_largest_whole_unit() {
        let now = SystemTime::now();
        let before = |seconds| now - Duration::from_secs(seconds);
        assert_eq!(ago(now, now), "just now");
        assert_eq!(ago(now, before(59)), "just now");
        assert_eq!(ago(now, before(120)), "2 min ago");
        assert_eq!(ago(now, before(7_200)), "2 h ago");
        assert_eq!(ago(now, before(3 * 86_400)), "3 days ago");
        assert_eq!(ago(now, now + Duration::from_secs(5)), "just now");
    }

    #[test]
    fn only_a_user_with_their_own_password_is_authenticated() {
        assert_eq!(authenticate("alice", "wonderland"), Some("alice"));
        assert_eq!(authenticate("bob", "builder"), Some("bob"));
        for (user, password) in [
            ("alice", "builder"),
            ("bob", "wonderland"),
            ("alice", "wonderlan"),
            ("alice", "wonderlandx"),
            ("", ""),
        ] {
            assert_eq!(authenticate(user, password), None, "{user}/{password}");
        }
    }
}
