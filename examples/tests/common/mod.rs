//! Runs example binaries as a user would, over real HTTP: a process per instance, and a minimal
//! HTTP/1.1 client.

// Every test binary compiles this module and uses a part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

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
}

impl Instance {
    /// Starts the example `binary` with `settings` as its environment beside a quiet log, and
    /// waits until it listens: on the port that `settings` give as `PORT`, or else on a free one.
    /// Settings the test does not give are left unset, whatever the test's own environment holds.
    pub(crate) fn start(binary: &str, settings: &[(&str, &str)]) -> Self {
        let port = settings
            .iter()
            .find(|(name, _)| *name == "PORT")
            .map_or_else(free_port, |(_, port)| port.parse().expect("PORT is a port"));
        let mut command = Command::new(binary);
        command
            .env("PORT", port.to_string())
            .env("RUST_LOG", "warn")
            .env_remove("SESSION_KEY")
            .env_remove("KV_SESSIONS_REDIS_URL")
            .env_remove("KV_SESSIONS_POSTGRES_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (name, value) in settings {
            command.env(name, value);
        }
        let child = command.spawn().expect("start the example");
        let instance = Self { child, port };
        instance.wait_until_listening();
        instance
    }

    fn wait_until_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the example did not start listening"
            );
            thread::sleep(Duration::from_millis(50));
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
        assert!(exit.success(), "the example exited with {exit}");
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            pipe.read_to_string(&mut stderr).expect("stderr");
        }
        stderr
    }
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
