//! Kills a server with SIGKILL in the middle of a write load, restarts it on the same sled
//! directory, and checks every write the clients saw acknowledged.
//!
//! Under `Durability::Immediate` no acknowledged write may be lost. Under
//! `Durability::Periodic` only the writes of the last flush interval may be: a write
//! acknowledged longer ago than that, and a little slack, survives. The tests report the loss on
//! stderr. Under either, a logout or a login's renewal is killed right after its answer, again
//! and again, and must hold after every restart.

use std::cell::Cell;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::http::header::{COOKIE, SET_COOKIE};

/// Clients writing at once, each to a session of its own.
const CLIENTS: usize = 8;
/// How long the load runs before the kill.
const LOAD: Duration = Duration::from_millis(1500);
/// The store's flush interval under `Durability::Periodic`, sled's default that
/// `session_server` keeps: the window of writes a kill may lose, as `SledStore` documents it.
const FLUSH_EVERY: Duration = Duration::from_millis(500);
/// How much older than the window a lost write may be. Against a kill (not a power cut) a write
/// is safe once sled's flusher has handed its log buffer to the file, and the flusher starts a
/// round every interval only while a round (the write, a bounded page clean-up of up to half the
/// interval, an fsync) takes less than the interval; a round that takes longer starts the next
/// late by the overrun. A slow fsync on a disk shared with parallel builds, and a flusher
/// thread woken late on two busy cores, are that overrun: half an interval covers both, and
/// still leaves the first half of the load's writes checked.
const SLACK: Duration = Duration::from_millis(250);

/// A running `session_server`.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(dir: &Path, durability: &str) -> Self {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut child = Command::new(env!("CARGO_BIN_EXE_session_server"))
                .arg(dir)
                .arg(durability)
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("start session_server");
            let mut line = String::new();
            let stdout = child.stdout.take().expect("stdout");
            BufReader::new(stdout).read_line(&mut line).expect("read");
            if let Some(port) = line.trim().strip_prefix("listening on ") {
                let port = port.parse().expect("port");
                return Self { child, port };
            }
            // The killed server's lock on the directory can outlive it for a moment.
            child.wait().expect("wait");
            assert!(Instant::now() < deadline, "session_server would not start");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }
}

/// What one client saw: its session cookie, and when each write `n = 1, 2, 3, …` was
/// acknowledged with a 2xx, in order.
struct Client {
    cookie: Option<String>,
    acked_at: Vec<Instant>,
}

impl Client {
    /// The last write acknowledged.
    fn acked(&self) -> u64 {
        self.acked_at.len() as u64
    }

    /// The last write acknowledged at or before `moment`.
    fn acked_by(&self, moment: Instant) -> u64 {
        self.acked_at.partition_point(|&at| at <= moment) as u64
    }
}

/// Writes `n = 1, 2, 3, …` to one session until `stop`, recording what was acknowledged.
async fn write_until(url: impl Fn(u64) -> String, stop: Rc<Cell<bool>>) -> Client {
    let http = awc::Client::builder()
        .timeout(Duration::from_secs(5))
        .finish();
    let mut client = Client {
        cookie: None,
        acked_at: Vec::new(),
    };
    while !stop.get() {
        let next = client.acked() + 1;
        let mut request = http.get(url(next));
        if let Some(cookie) = &client.cookie {
            request = request.insert_header((COOKIE, format!("id={cookie}")));
        }
        let Ok(response) = request.send().await else {
            break;
        };
        if !response.status().is_success() {
            break;
        }
        if let Some(cookie) = response
            .headers()
            .get(SET_COOKIE)
            .and_then(|value| Cookie::parse(value.to_str().ok()?.to_owned()).ok())
        {
            client.cookie = Some(cookie.value().to_owned());
        }
        client.acked_at.push(Instant::now());
    }
    client
}

/// The value of `n` in the session of `cookie`, on the restarted server.
async fn stored(server: &Server, cookie: &str) -> u64 {
    let mut response = awc::Client::new()
        .get(server.url("/get/n"))
        .insert_header((COOKIE, format!("id={cookie}")))
        .send()
        .await
        .expect("read back");
    if response.status() == StatusCode::NOT_FOUND {
        return 0;
    }
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.body().await.expect("body");
    std::str::from_utf8(&body)
        .expect("utf-8")
        .parse()
        .expect("a number")
}

/// What a client saw before the kill, and the last of its writes the restarted server kept.
struct Outcome {
    seen: Client,
    kept: u64,
}

/// A load, a kill in its middle, and what survived.
struct Crash {
    killed_at: Instant,
    outcomes: Vec<Outcome>,
}

impl Crash {
    fn acked(&self) -> u64 {
        self.outcomes
            .iter()
            .map(|outcome| outcome.seen.acked())
            .sum()
    }

    fn lost(&self) -> u64 {
        let lost = |outcome: &Outcome| outcome.seen.acked().saturating_sub(outcome.kept);
        self.outcomes.iter().map(lost).sum()
    }

    /// How long before the kill the oldest lost write was acknowledged.
    fn oldest_loss(&self) -> Option<Duration> {
        self.outcomes
            .iter()
            .filter_map(|outcome| outcome.seen.acked_at.get(outcome.kept as usize))
            .map(|&acked| self.killed_at.saturating_duration_since(acked))
            .max()
    }
}

/// Runs the load, kills the server, restarts it, and reads back what each client wrote.
async fn crash(durability: &str) -> Crash {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path(), durability);
    let stop = Rc::new(Cell::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let url = server.url("");
            actix_rt::spawn(write_until(
                move |n| format!("{url}/put/n/{n}"),
                Rc::clone(&stop),
            ))
        })
        .collect();
    actix_rt::time::sleep(LOAD).await;
    // Kill while requests are in flight, then let the clients notice.
    let killed_at = Instant::now();
    server.kill();
    stop.set(true);
    let mut seen = Vec::new();
    for client in clients {
        seen.push(client.await.expect("client task"));
    }
    assert!(
        seen.iter().all(|client| client.acked() > 0),
        "every client should get writes through before the kill"
    );

    let server = Server::start(dir.path(), durability);
    let mut outcomes = Vec::new();
    for client in seen {
        let cookie = client.cookie.as_deref().expect("a session cookie");
        let kept = stored(&server, cookie).await;
        outcomes.push(Outcome { seen: client, kept });
    }
    server.kill();
    Crash {
        killed_at,
        outcomes,
    }
}

#[actix_rt::test]
async fn immediate_durability_loses_no_acknowledged_write() {
    let crash = crash("immediate").await;
    let (acked, lost) = (crash.acked(), crash.lost());
    eprintln!("Durability::Immediate: {lost} of {acked} acknowledged writes lost after SIGKILL");
    assert_eq!(lost, 0, "{lost} of {acked} acknowledged writes were lost");
}

#[actix_rt::test]
async fn periodic_durability_loses_at_most_the_last_flush_interval() {
    let crash = crash("periodic").await;
    let (acked, lost) = (crash.acked(), crash.lost());
    let oldest = crash
        .oldest_loss()
        .map(|age| format!(", the oldest acknowledged {age:?} before it"))
        .unwrap_or_default();
    eprintln!(
        "Durability::Periodic: {lost} of {acked} acknowledged writes lost after SIGKILL{oldest}"
    );
    let settled = crash.killed_at - FLUSH_EVERY - SLACK;
    for Outcome { seen, kept } in &crash.outcomes {
        let durable = seen.acked_by(settled);
        assert!(
            durable > 0,
            "no write was acknowledged early enough to check"
        );
        assert!(
            *kept >= durable,
            "write {durable}, acknowledged over {:?} before the kill, was lost: only {kept} kept",
            FLUSH_EVERY + SLACK
        );
    }
}

/// How many times each logout and each login is answered and then killed. Every one must hold.
const ENDINGS: usize = 5;
/// Long enough for the periodic flush (every 500 ms) to have written what came before.
const PAST_A_FLUSH: Duration = Duration::from_millis(1500);

/// The answer to `GET path` sent with the session cookie `cookie`: its status, its body, and the
/// value of the session cookie it sets (empty where it removes it).
async fn visit(
    server: &Server,
    path: &str,
    cookie: Option<&str>,
) -> (StatusCode, String, Option<String>) {
    let mut request = awc::Client::new().get(server.url(path));
    if let Some(cookie) = cookie {
        request = request.insert_header((COOKIE, format!("id={cookie}")));
    }
    let mut response = request.send().await.expect("request");
    let set = response
        .headers()
        .get(SET_COOKIE)
        .and_then(|value| Cookie::parse(value.to_str().ok()?.to_owned()).ok())
        .map(|cookie| cookie.value().to_owned());
    let body = response.body().await.expect("body");
    let body = String::from_utf8_lossy(&body).into_owned();
    (response.status(), body, set)
}

/// Signs in as an app does: a session is started, then renewed at login. Returns the cookies
/// before and after the renewal.
async fn sign_in(server: &Server) -> (String, String) {
    let (status, _, before) = visit(server, "/put/n/1", None).await;
    assert_eq!(status, StatusCode::OK);
    let before = before.expect("a session cookie");
    let (status, _, after) = visit(server, "/renew", Some(&before)).await;
    assert_eq!(status, StatusCode::OK);
    (before, after.expect("the renewed cookie"))
}

/// Asserts that `seen`, the answer to `/get/n` with a session's cookie, refuses that cookie: no
/// session, and no cookie sent back.
fn assert_refused(seen: &(StatusCode, String, Option<String>), what: &str) {
    assert_eq!(
        seen.0,
        StatusCode::NOT_FOUND,
        "{what} came back after SIGKILL"
    );
    assert_eq!(seen.2, None, "{what}: its response sends a cookie");
}

#[actix_rt::test]
async fn a_logout_survives_sigkill_right_after_its_answer() {
    for run in 1..=ENDINGS {
        let dir = tempfile::tempdir().expect("temp dir");
        let server = Server::start(dir.path(), "periodic");
        let (_, cookie) = sign_in(&server).await;
        // The session is on disk whatever the renewal did, so only the logout can remove it.
        actix_rt::time::sleep(PAST_A_FLUSH).await;
        let (status, _, _) = visit(&server, "/purge", Some(&cookie)).await;
        assert_eq!(status, StatusCode::OK);
        server.kill();

        let server = Server::start(dir.path(), "periodic");
        let seen = visit(&server, "/get/n", Some(&cookie)).await;
        server.kill();
        assert_refused(&seen, &format!("run {run}: the logged-out session"));
    }
}

#[actix_rt::test]
async fn a_login_renewal_survives_sigkill_right_after_its_answer() {
    for run in 1..=ENDINGS {
        let dir = tempfile::tempdir().expect("temp dir");
        let server = Server::start(dir.path(), "periodic");
        let (before, after) = sign_in(&server).await;
        server.kill();

        let server = Server::start(dir.path(), "periodic");
        let (status, body, _) = visit(&server, "/get/n", Some(&after)).await;
        let old = visit(&server, "/get/n", Some(&before)).await;
        server.kill();
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, "1"),
            "run {run}: the login was lost"
        );
        assert_refused(&old, &format!("run {run}: the id before the login"));
    }
}
