//! The app every acceptance test talks to.

use actix_web::http::header::LOCATION;
use std::time::{Duration, SystemTime};

use actix_web::web::{Data, Path, Query, ServiceConfig};
use actix_web::{HttpResponse, get};
use kv_sessions::{
    Expiry, Session, SessionDigest, SessionError, SessionKey, SessionKeys, SessionOwner,
    UserSession, UserSessions,
};

use crate::gate::Gate;

/// What `/` shows when nothing is stored, word for word as in the seed's example.
pub const NO_VALUE: &str = "No value set. Go to /set to set a value";

#[derive(SessionKeys)]
struct Demo {
    test_key: SessionKey<String>,
}

#[derive(SessionKeys)]
#[session(prefix = "counter")]
struct Counter {
    #[session(rename = "n")]
    count: SessionKey<u32>,
}

/// Registers the test app's routes.
pub fn routes(config: &mut ServiceConfig) {
    config
        .service(index)
        .service(set)
        .service(count)
        .service(shared)
        .service(put)
        .service(fetch)
        .service(fetch_number)
        .service(remove)
        .service(clear)
        .service(purge)
        .service(renew)
        .service(show_id)
        .service(fail)
        .service(fail_after)
        .service(remember)
        .service(big)
        .service(hold)
        .service(steps)
        .service(plain)
        .service(bind_checked)
        .service(list_sessions)
        .service(revoke_one)
        .service(revoke_all)
        .service(revoke_others);
}

type Reply = Result<HttpResponse, SessionError>;

fn text(body: impl Into<String>) -> HttpResponse {
    HttpResponse::Ok().body(body.into())
}

#[get("/")]
async fn index(demo: Demo) -> Reply {
    Ok(text(
        demo.test_key.get()?.unwrap_or_else(|| NO_VALUE.to_owned()),
    ))
}

#[get("/set")]
async fn set(demo: Demo) -> Reply {
    demo.test_key.set("something".to_owned())?;
    Ok(HttpResponse::SeeOther()
        .insert_header((LOCATION, "/"))
        .finish())
}

#[get("/count")]
async fn count(counter: Counter) -> Reply {
    let next = counter.count.get_or_default()? + 1;
    counter.count.set(next)?;
    Ok(text(next.to_string()))
}

/// Two typed structs and the untyped session in one handler see one session.
#[get("/shared")]
async fn shared(demo: Demo, counter: Counter, session: Session) -> Reply {
    demo.test_key.set("from demo".to_owned())?;
    counter.count.set(7)?;
    let seen: Option<String> = session.get("test_key")?;
    let number: Option<u32> = session.get("counter.n")?;
    Ok(text(format!("{seen:?} {number:?}")))
}

#[get("/put/{key}/{value}")]
async fn put(session: Session, path: Path<(String, String)>) -> Reply {
    let (key, value) = path.into_inner();
    session.insert(key, value)?;
    Ok(text("stored"))
}

#[get("/get/{key}")]
async fn fetch(session: Session, key: Path<String>) -> Reply {
    Ok(match session.get::<String>(&key)? {
        Some(value) => text(value),
        None => HttpResponse::NotFound().body("absent"),
    })
}

#[get("/get-number/{key}")]
async fn fetch_number(session: Session, key: Path<String>) -> Reply {
    Ok(text(format!("{:?}", session.get::<u32>(&key)?)))
}

#[get("/remove/{key}")]
async fn remove(session: Session, key: Path<String>) -> HttpResponse {
    text(match session.remove(&key) {
        Some(_) => "removed",
        None => "absent",
    })
}

#[get("/clear")]
async fn clear(session: Session) -> HttpResponse {
    session.clear();
    text("cleared")
}

/// `/purge`, or `/purge?then=renew,put` to run more steps after the purge.
#[get("/purge")]
async fn purge(session: Session, query: Query<Steps>) -> Reply {
    session.purge();
    query.run(&session)?;
    Ok(text(describe(&session)))
}

/// `/renew`, or `/renew?then=put` to run more steps after the renewal.
#[get("/renew")]
async fn renew(session: Session, query: Query<Steps>) -> Reply {
    session.renew();
    query.run(&session)?;
    Ok(text(describe(&session)))
}

#[get("/id")]
async fn show_id(session: Session) -> HttpResponse {
    text(describe(&session))
}

/// Writes, then fails: the write must not persist.
#[get("/fail/{key}/{value}")]
async fn fail(session: Session, path: Path<(String, String)>) -> Reply {
    let (key, value) = path.into_inner();
    session.insert(key, value)?;
    Ok(HttpResponse::InternalServerError().body("handler failed"))
}

/// Runs the steps of `?then=`, then fails: only a purge among them may persist.
#[get("/fail-after")]
async fn fail_after(session: Session, query: Query<Steps>) -> Reply {
    query.run(&session)?;
    Ok(HttpResponse::InternalServerError().body("handler failed"))
}

/// Gives the session a 30-day idle window of its own, as "remember me" would.
#[get("/remember")]
async fn remember(session: Session) -> Reply {
    session.set_expiry(Some(Expiry::OnInactivity(MONTH)));
    session.insert("remembered", true)?;
    Ok(text("remembered"))
}

/// Stores a value of `len` bytes under `big`.
#[get("/big/{len}")]
async fn big(session: Session, len: Path<usize>) -> Reply {
    session.insert("big", "x".repeat(*len))?;
    Ok(text("stored"))
}

/// Loads the session, waits at the test's [`Gate`], then runs the steps of `?then=`: the
/// interleaving tests hold one request here while others run.
#[get("/hold")]
async fn hold(session: Session, gate: Data<Gate>, query: Query<Steps>) -> Reply {
    gate.pass().await;
    query.run(&session)?;
    Ok(text(describe(&session)))
}

/// Runs the steps of `?then=` at once.
#[get("/do")]
async fn steps(session: Session, query: Query<Steps>) -> Reply {
    query.run(&session)?;
    Ok(text(describe(&session)))
}

/// Uses no session at all.
#[get("/plain")]
async fn plain() -> HttpResponse {
    text("plain")
}

/// `/bind?user=<user>`: binds the session to `user`, and answers 422 with the length the
/// [`SessionError::InvalidOwner`] names where the id is refused.
#[get("/bind")]
async fn bind_checked(session: Session, query: Query<Owner>) -> Reply {
    match session.bind(SessionOwner::new(&query.user)) {
        Ok(()) => Ok(text("bound")),
        Err(SessionError::InvalidOwner { len }) => {
            Ok(HttpResponse::UnprocessableEntity().body(format!("invalid owner: {len} bytes")))
        }
        Err(error) => Err(error),
    }
}

#[derive(serde::Deserialize)]
struct Owner {
    user: String,
}

/// The user's sessions, as the JSON list of [`ListedSession`]s, oldest first.
#[get("/sessions/{user}")]
async fn list_sessions(sessions: UserSessions, user: Path<String>) -> Reply {
    let listed: Vec<ListedSession> = sessions
        .list(user.as_str())
        .await?
        .iter()
        .map(ListedSession::from)
        .collect();
    Ok(HttpResponse::Ok().json(listed))
}

/// Revokes the session `handle` of `user`: `true` where it did.
#[get("/revoke/{user}/{handle}")]
async fn revoke_one(sessions: UserSessions, path: Path<(String, String)>) -> Reply {
    let (user, handle) = path.into_inner();
    let Ok(handle) = handle.parse::<SessionDigest>() else {
        return Ok(HttpResponse::BadRequest().body("not a handle"));
    };
    Ok(text(sessions.revoke(user, handle).await?.to_string()))
}

/// Revokes every session of `user`, the request's own included: how many.
#[get("/revoke-all/{user}")]
async fn revoke_all(sessions: UserSessions, user: Path<String>) -> Reply {
    Ok(text(sessions.revoke_all(user.as_str()).await?.to_string()))
}

/// Revokes every session of `user` but the request's own: how many.
#[get("/revoke-others/{user}")]
async fn revoke_others(sessions: UserSessions, user: Path<String>) -> Reply {
    Ok(text(
        sessions.revoke_others(user.as_str()).await?.to_string(),
    ))
}

/// One of a user's sessions as `/sessions/{user}` lists it, times in milliseconds since the Unix
/// epoch.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ListedSession {
    /// [`UserSession::handle`], as text.
    pub handle: String,
    /// [`UserSession::label`].
    pub label: Option<String>,
    /// [`UserSession::is_current`].
    pub current: bool,
    /// [`UserSession::created_at`].
    pub created_at: u128,
    /// [`UserSession::saved_at`].
    pub saved_at: u128,
    /// [`UserSession::expires_at`].
    pub expires_at: u128,
}

impl From<&UserSession> for ListedSession {
    fn from(session: &UserSession) -> Self {
        Self {
            handle: session.handle().to_string(),
            label: session.label().map(str::to_owned),
            current: session.is_current(),
            created_at: millis(session.created_at()),
            saved_at: millis(session.saved_at()),
            expires_at: millis(session.expires_at()),
        }
    }
}

fn millis(at: SystemTime) -> u128 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
}

/// Steps to run on a session, from the query string: `then=renew,put:user:alice,remember`.
///
/// - `renew`, `purge`: as the methods of [`Session`];
/// - `put` stores `"yes"` under `after`; `put:<key>:<value>` stores a string;
/// - `big:<key>:<len>` stores a string of `len` bytes;
/// - `bind:<user>` binds the session to `user`, `bind:<user>:<label>` with a label, and
///   `unbind` unbinds it;
/// - `remember` gives the session a 30-day idle window, `sudo` a 5-minute one;
/// - `forever` gives it an idle window of `Duration::MAX`, and `until:<seconds>` a fixed end that
///   many seconds after the Unix epoch, as a "remember me for N days" taken from user input
///   could.
#[derive(serde::Deserialize)]
struct Steps {
    #[serde(default)]
    then: String,
}

impl Steps {
    fn run(&self, session: &Session) -> Result<(), SessionError> {
        for step in self.then.split(',').filter(|step| !step.is_empty()) {
            let mut words = step.split(':');
            match (words.next(), words.next(), words.next()) {
                (Some("renew"), ..) => session.renew(),
                (Some("purge"), ..) => session.purge(),
                (Some("put"), None, _) => session.insert("after", "yes")?,
                (Some("put"), Some(key), Some(value)) => session.insert(key, value)?,
                (Some("big"), Some(key), Some(len)) => {
                    session.insert(key, "x".repeat(len.parse().unwrap_or(0)))?
                }
                (Some("bind"), Some(user), label) => session.bind(owner(user, label))?,
                (Some("unbind"), ..) => session.unbind(),
                (Some("remember"), ..) => session.set_expiry(Some(Expiry::OnInactivity(MONTH))),
                (Some("sudo"), ..) => session.set_expiry(Some(Expiry::OnInactivity(SUDO))),
                (Some("forever"), ..) => {
                    session.set_expiry(Some(Expiry::OnInactivity(Duration::MAX)))
                }
                (Some("until"), Some(seconds), _) => {
                    let seconds = Duration::from_secs(seconds.parse().unwrap_or(0));
                    let end = SystemTime::UNIX_EPOCH.checked_add(seconds);
                    session.set_expiry(end.map(Expiry::AtDateTime));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

fn owner(user: &str, label: Option<&str>) -> SessionOwner {
    let owner = SessionOwner::new(user);
    match label {
        Some(label) => owner.with_label(label),
        None => owner,
    }
}

/// The idle window of "remember me".
const MONTH: Duration = Duration::from_secs(30 * 86_400);
/// The short idle window of a "sudo" mode.
const SUDO: Duration = Duration::from_secs(5 * 60);

fn describe(session: &Session) -> String {
    session
        .id()
        .map_or_else(|| "none".to_owned(), |session_id| session_id.to_string())
}
