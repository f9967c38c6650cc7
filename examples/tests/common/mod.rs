//! Runs example binaries as a user would, over real HTTP: a process per instance, and a minimal
//! HTTP/1.1 client.

// Every test binary compiles this module and uses a part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// What `/` shows when nothing is stored, word for word as in the seed's example.
pub(crate) const NO_VALUE: &str = "No value set. Go to /set to set a value";
/// 64 bytes of key material, base64-encoded, as a user would put in `SESSION_KEY`.
pub(crate) const KEY: &str =
    "q8Vv3mXlqkq1S6yC2dQmW4t9Zb0oJ7uH5rE8nA3cF1gK6pT2wY9xL4sD7jM0vB5hN8iR3eU6aO1fG4kP7zQ2cw==";

/// A running example process, killed on drop unless stopped first.
pub(crate) struct Instance {
    child: Child,
    /// The port it listens on, on 127.0.0.1.
    pub(crate) port: u16,
    /// What it has written to stderr, gathered by a thread of its own so that the pipe never
    /// fills.
    stderr: Arc<Mutex<String>>,
    reader: Option<JoinHandle<()>>,
}

impl Instance {
    /// Starts the example `binary` with `settings` as its environment beside a quiet log, and
    /// waits until it says where it listens: on the port that `settings` give as `PORT`, or else
    /// on one the system picks (`PORT=0`), so that no two tests can ever be handed the same
    /// port. Settings the test does not give are left unset, whatever the test's own
    /// environment holds.
    pub(crate) fn start(binary: &str, settings: &[(&str, &str)]) -> Self {
        let mut command = Command::new(binary);
        command
            .env("PORT", "0")
            .env("RUST_LOG", "warn")
            .env_remove("SESSION_KEY")
            .env_remove("KV_SESSIONS_REDIS_URL")
            .env_remove("KV_SESSIONS_POSTGRES_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (name, value) in settings {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("start the example");
        let pipe = child.stderr.take().expect("stderr is piped");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (announced, port) = mpsc::channel();
        let gathered = Arc::clone(&stderr);
        let reader = thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if let Some(port) = announced_port(&line) {
                    let _ = announced.send(port);
                }
                let mut text = gathered.lock().unwrap_or_else(PoisonError::into_inner);
                text.push_str(&line);
                text.push('\n');
            }
        });
        let port = port
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| {
                let text = stderr.lock().unwrap_or_else(PoisonError::into_inner);
                panic!("the example did not say where it listens; its stderr:\n{text}")
            });
        Self {
            child,
            port,
            stderr,
            reader: Some(reader),
        }
    }

    /// Sends `GET path` with `cookie`, a `name=value` pair.
    pub(crate) fn get(&self, path: &str, cookie: Option<&str>) -> Response {
        send(self.port, "GET", path, cookie, None)
    }

    /// Sends `POST path` with `cookie` and `form`, an `application/x-www-form-urlencoded` body
    /// such as `username=alice&password=wonderland` (empty for a bare POST).
    pub(crate) fn post(&self, path: &str, cookie: Option<&str>, form: &str) -> Response {
        send(self.port, "POST", path, cookie, Some(form))
    }

    /// Sends SIGTERM, waits for a graceful exit, and returns what it wrote to stderr.
    pub(crate) fn stop(mut self) -> String {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let exit = self.child.wait().expect("wait");
        if let Some(reader) = self.reader.take() {
            reader.join().expect("the stderr reader");
        }
        let stderr = self.stderr.lock().unwrap_or_else(PoisonError::into_inner);
        assert!(exit.success(), "the example exited with {exit}:\n{stderr}");
        stderr.clone()
    }
}

/// The port in an example's `listening on http://127.0.0.1:<port>, ...` line.
fn announced_port(line: &str) -> Option<u16> {
    let rest = line.strip_prefix("listening on http://127.0.0.1:")?;
    let digits = rest.split(|c: char| !c.is_ascii_digit()).next()?;
    digits.parse().ok()
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What came back for one request.
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Response {
    /// The first header called `name`.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The `name=value` pair of the session cookie set by this response, for the apps that
    /// name it `SESSION_COOKIE`.
    pub(crate) fn session_cookie(&self) -> Option<String> {
        self.cookie("SESSION_COOKIE")
    }

    /// The `name=value` pair of the cookie `name` set by this response.
    pub(crate) fn cookie(&self, name: &str) -> Option<String> {
        let set_cookie = self.set_cookie(name)?;
        Some(set_cookie.split(';').next()?.trim().to_owned())
    }

    /// The whole `Set-Cookie` header, attributes and all, that sets the cookie `name`.
    pub(crate) fn set_cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(key, _)| key.eq_ignore_ascii_case("set-cookie"))
            .map(|(_, value)| value.as_str())
            .find(|value| {
                value
                    .split_once('=')
                    .is_some_and(|(cookie, _)| cookie.trim() == name)
            })
    }
}

/// A port nothing listens on now.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port()
}

/// A minimal HTTP/1.1 request, so the test drives the binary exactly as any client would. A
/// `form` goes in the body as `application/x-www-form-urlencoded`.
fn send(port: u16, method: &str, path: &str, cookie: Option<&str>, form: Option<&str>) -> Response {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let cookie = cookie.map_or_else(String::new, |c| format!("Cookie: {c}\r\n"));
    let (content, body) = match form {
        Some(form) => (
            format!(
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
                form.len()
            ),
            form,
        ),
        None => (String::new(), ""),
    };
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{cookie}{content}Connection: close\r\n\r\n{body}"
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
