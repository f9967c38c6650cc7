//! Kills a server with SIGKILL in the middle of a write load, restarts it on the same sled
//! directory, and checks every write the clients saw acknowledged.
//!
//! Under `Durability::Immediate` no acknowledged write may be lost. Under
//! `Durability::Periodic` the loss is bounded by the flush interval; the test reports it on
//! stderr.

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

/// What one client saw: its session cookie and the last write acknowledged with a 2xx.
struct Client {
    cookie: Option<String>,
    acked: u64,
}

/// Writes `n = 1, 2, 3, …` to one session until `stop`, recording what was acknowledged.
async fn write_until(url: impl Fn(u64) -> String, stop: Rc<Cell<bool>>) -> Client {
    let http = awc::Client::builder()
        .timeout(Duration::from_secs(5))
        .finish();
    let mut client = Client {
        cookie: None,
        acked: 0,
    };
    while !stop.get() {
        let next = client.acked + 1;
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
        client.acked = next;
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

/// Runs the load, kills the server, restarts it, and returns (acknowledged, lost) writes.
async fn crash(durability: &str) -> (u64, u64) {
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
    server.kill();
    stop.set(true);
    let mut seen = Vec::new();
    for client in clients {
        seen.push(client.await.expect("client task"));
    }

    let server = Server::start(dir.path(), durability);
    let (mut acked, mut lost) = (0, 0);
    for client in &seen {
        acked += client.acked;
        let Some(cookie) = &client.cookie else {
            continue;
        };
        let kept = stored(&server, cookie).await;
        lost += client.acked.saturating_sub(kept);
    }
    server.kill();
    assert!(
        seen.iter().all(|client| client.acked > 0),
        "every client should get writes through before the kill"
    );
    (acked, lost)
}

#[actix_rt::test]
async fn immediate_durability_loses_no_acknowledged_write() {
    let (acked, lost) = crash("immediate").await;
    eprintln!("Durability::Immediate: {lost} of {acked} acknowledged writes lost after SIGKILL");
    assert_eq!(lost, 0, "{lost} of {acked} acknowledged writes were lost");
}

#[actix_rt::test]
async fn periodic_durability_loses_at_most_the_last_flush_interval() {
    let (acked, lost) = crash("periodic").await;
    eprintln!("Durability::Periodic: {lost} of {acked} acknowledged writes lost after SIGKILL");
    assert!(lost < acked, "the whole load was lost: {lost} of {acked}");
}
