//! A minimal HTTP/1.1 client for the harness's own servers: enough to create sessions through
//! `/set` and to check what a route answers, without pulling in an HTTP client crate.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::thread;

/// A keep-alive connection to a server on 127.0.0.1.
pub(crate) struct Client {
    stream: BufReader<TcpStream>,
}

/// What a server answered.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    /// The first cookie it set with a non-empty value, as the `name=value` pair a request sends
    /// back.
    pub(crate) cookie: Option<String>,
    pub(crate) body: String,
}

impl Client {
    pub(crate) fn connect(port: u16) -> io::Result<Self> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream: BufReader::new(stream),
        })
    }

    /// Sends `GET path`, with `cookie` (a `name=value` pair) where given.
    pub(crate) fn get(&mut self, path: &str, cookie: Option<&str>) -> io::Result<Response> {
        let cookie_header = cookie
            .map(|c| format!("Cookie: {c}\r\n"))
            .unwrap_or_default();
        let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{cookie_header}\r\n");
        self.stream.get_mut().write_all(request.as_bytes())?;
        self.read_response()
    }

    fn read_response(&mut self) -> io::Result<Response> {
        let status_line = self.line()?;
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| malformed(format!("status line {status_line:?}")))?;
        let mut length = None;
        let mut cookie = None;
        loop {
            let line = self.line()?;
            if line.is_empty() {
                break;
            }
            let Some((name, value)) = line.split_once(':') else {
                return Err(malformed(format!("header {line:?}")));
            };
            let value = value.trim();
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.parse::<usize>().ok(),
                "set-cookie" if cookie.is_none() => cookie = cookie_pair(value),
                "transfer-encoding" => return Err(malformed("a chunked body".to_owned())),
                _ => {}
            }
        }
        let mut body = vec![0; length.unwrap_or(0)];
        self.stream.read_exact(&mut body)?;
        let body = String::from_utf8(body)
            .map_err(|_| malformed("a body that is not UTF-8".to_owned()))?;
        Ok(Response {
            status,
            cookie,
            body,
        })
    }

    fn line(&mut self) -> io::Result<String> {
        let mut line = String::new();
        if self.stream.read_line(&mut line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ));
        }
        Ok(line.trim_end().to_owned())
    }
}

/// The `name=value` pair of a `Set-Cookie` header, unless it removes the cookie.
fn cookie_pair(set_cookie: &str) -> Option<String> {
    let pair = set_cookie.split(';').next()?.trim();
    let (_, value) = pair.split_once('=')?;
    (!value.is_empty()).then(|| pair.to_owned())
}

fn malformed(what: String) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("the server sent {what}"),
    )
}

/// Creates `count` sessions through `GET /set`, over `connections` parallel connections, and
/// returns the cookie of each.
pub(crate) fn create_sessions(
    port: u16,
    count: usize,
    connections: usize,
) -> io::Result<Vec<String>> {
    let shares: Vec<usize> = (0..connections)
        .map(|i| count / connections + usize::from(i < count % connections))
        .collect();
    thread::scope(|scope| {
        let workers: Vec<_> = shares
            .into_iter()
            .map(|share| scope.spawn(move || create_on_one_connection(port, share)))
            .collect();
        let mut cookies = Vec::with_capacity(count);
        for worker in workers {
            let created = worker
                .join()
                .map_err(|_| io::Error::other("a session-creating thread panicked"))??;
            cookies.extend(created);
        }
        Ok(cookies)
    })
}

fn create_on_one_connection(port: u16, count: usize) -> io::Result<Vec<String>> {
    let mut client = Client::connect(port)?;
    (0..count)
        .map(|_| {
            let response = client.get("/set", None)?;
            match (response.status, response.cookie) {
                (200, Some(cookie)) => Ok(cookie),
                (status, _) => Err(io::Error::other(format!(
                    "GET /set answered {status} without a session cookie: {:?}",
                    response.body
                ))),
            }
        })
        .collect()
}
