//! Runs the `basic` example binary as a user would, over real HTTP and a real sled directory.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

const NO_VALUE: &str = "No value set. Go to /set to set a value";
/// 64 bytes of key material, base64-encoded, as a user would put in `SESSION_KEY`.
const KEY: &str =
    "q8Vv3mXlqkq1S6yC2dQmW4t9Zb0oJ7uH5rE8nA3cF1gK6pT2wY9xL4sD7jM0vB5hN8iR3eU6aO1fG4kP7zQ2cw==";

/// A running `basic` process, stopped gracefully on drop.
struct Basic {
    child: Child,
    port: u16,
}

impl Basic {
    fn start(dir: &Path, key: Option<&str>) -> Self {
        let port = free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_basic"));
        command
            .env("PORT", port.to_string())
            .env("SESSIONS_DB", dir.join("sessions.sled"))
            .env("RUST_LOG", "warn")
            .env_remove("SESSION_KEY")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(key) = key {
            command.env("SESSION_KEY", key);
        }
        let child = command.spawn().expect("start basic");
        let basic = Self { child, port };
        basic.wait_until_listening();
        basic
    }

    fn wait_until_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "basic did not start listening");
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn get(&self, path: &str, cookie: Option<&str>) -> Response {
        get(self.port, path, cookie)
    }

    /// Sends SIGTERM, waits for a graceful exit, and returns what it wrote to stderr.
    fn stop(mut self) -> String {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let exit = self.child.wait().expect("wait");
        assert!(exit.success(), "basic exited with {exit}");
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            pipe.read_to_string(&mut stderr).expect("stderr");
        }
        stderr
    }
}

impl Drop for Basic {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The `name=value` pair of the session cookie set by this response.
    fn session_cookie(&self) -> Option<String> {
        let set_cookie = self.header("set-cookie")?;
        let pair = set_cookie.split(';').next()?.trim().to_owned();
        pair.starts_with("SESSION_COOKIE=").then_some(pair)
    }
}

fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port()
}

/// A minimal HTTP/1.1 GET, so the test drives the binary exactly as any client would.
fn get(port: u16, path: &str, cookie: Option<&str>) -> Response {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let cookie = cookie.map_or_else(String::new, |c| format!("Cookie: {c}\r\n"));
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{cookie}Connection: close\r\n\r\n"
    )
    .expect("send");
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).expect("status line");
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("status code");
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("header");
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    let mut body = String::new();
    reader.read_to_string(&mut body).expect("body");
    Response {
        status,
        headers,
        body,
    }
}

#[test]
fn the_seed_flow_works_and_survives_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let basic = Basic::start(dir.path(), Some(KEY));

    let first = basic.get("/", None);
    assert_eq!(first.status, 200);
    assert_eq!(first.body, NO_VALUE);
    assert_eq!(first.header("set-cookie"), None, "reading creates nothing");

    let set = basic.get("/set", None);
    assert_eq!(set.status, 303);
    assert_eq!(set.header("location"), Some("/"));
    let cookie = set.session_cookie().expect("session cookie");
    assert_eq!(basic.get("/", Some(&cookie)).body, "something");

    let stderr = basic.stop();
    assert!(!stderr.contains("SESSION_KEY is not set"), "{stderr}");

    let restarted = Basic::start(dir.path(), Some(KEY));
    assert_eq!(restarted.get("/", Some(&cookie)).body, "something");
    restarted.stop();
}

#[test]
fn without_a_key_it_warns_that_sessions_will_not_survive_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let basic = Basic::start(dir.path(), None);
    let cookie = basic.get("/set", None).session_cookie().expect("cookie");
    let stderr = basic.stop();
    assert!(
        stderr.contains("sessions will not survive a restart"),
        "{stderr}"
    );

    let restarted = Basic::start(dir.path(), None);
    assert_eq!(restarted.get("/", Some(&cookie)).body, NO_VALUE);
    restarted.stop();
}

#[test]
fn a_bad_key_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (key, message) in [
        ("c2hvcnQ=", "at least 64 bytes"),
        ("not base64!", "must be base64"),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_basic"))
            .env("PORT", free_port().to_string())
            .env("SESSIONS_DB", dir.path().join("sessions.sled"))
            .env("SESSION_KEY", key)
            .output()
            .expect("run basic");
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
