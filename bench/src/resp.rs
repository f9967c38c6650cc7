//! Just enough of the Redis protocol (RESP2) to empty a sample's keys once its server is gone.
//! The stores under test bring their own clients; the bench needs none for this.

use std::io::{self, BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

/// How long one answer may take.
const TIMEOUT: Duration = Duration::from_secs(30);
/// How many keys one `SCAN` looks at.
const SCAN_COUNT: &str = "1000";

/// A connection to one Redis database.
pub(crate) struct Connection {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

/// An answer from Redis; errors are turned into `io::Error`s.
#[derive(Debug)]
enum Reply {
    Status,
    Integer,
    Bulk(Option<Vec<u8>>),
    Array(Vec<Reply>),
}

impl Connection {
    /// Connects to Redis at `addr` and selects database `db`.
    pub(crate) fn open(addr: &str, db: u8) -> io::Result<Self> {
        let writer = TcpStream::connect(addr)?;
        writer.set_read_timeout(Some(TIMEOUT))?;
        let reader = BufReader::new(writer.try_clone()?);
        let mut connection = Self { reader, writer };
        connection.call(&[b"SELECT", db.to_string().as_bytes()])?;
        Ok(connection)
    }

    /// Deletes every key that starts with `prefix`, which holds no glob characters, and returns
    /// how many there were.
    pub(crate) fn delete_prefixed(&mut self, prefix: &str) -> io::Result<usize> {
        let pattern = format!("{prefix}*");
        let mut cursor = b"0".to_vec();
        let mut deleted = 0;
        loop {
            let reply = self.call(&[
                b"SCAN",
                &cursor,
                b"MATCH",
                pattern.as_bytes(),
                b"COUNT",
                SCAN_COUNT.as_bytes(),
            ])?;
            let (next, keys) = scan_page(reply)?;
            if !keys.is_empty() {
                let mut unlink: Vec<&[u8]> = vec![b"UNLINK"];
                unlink.extend(keys.iter().map(Vec::as_slice));
                self.call(&unlink)?;
                deleted += keys.len();
            }
            if next == b"0" {
                return Ok(deleted);
            }
            cursor = next;
        }
    }

    /// Deletes every key of the database, for tower-sessions' store, whose keys have no prefix.
    #[cfg(feature = "peers")]
    pub(crate) fn delete_all(&mut self) -> io::Result<()> {
        self.call(&[b"FLUSHDB"]).map(drop)
    }

    fn call(&mut self, args: &[&[u8]]) -> io::Result<Reply> {
        let mut request = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            request.extend(format!("${}\r\n", arg.len()).bytes());
            request.extend_from_slice(arg);
            request.extend_from_slice(b"\r\n");
        }
        self.writer.write_all(&request)?;
        read_reply(&mut self.reader)
    }
}

/// The next cursor and the keys of a `SCAN` answer.
fn scan_page(reply: Reply) -> io::Result<(Vec<u8>, Vec<Vec<u8>>)> {
    let Reply::Array(mut parts) = reply else {
        return Err(unexpected(&reply));
    };
    let (Some(Reply::Array(keys)), Some(Reply::Bulk(Some(cursor))), None) =
        (parts.pop(), parts.pop(), parts.pop())
    else {
        return Err(io::Error::other("a SCAN answer of an unexpected shape"));
    };
    let keys = keys
        .into_iter()
        .map(|key| match key {
            Reply::Bulk(Some(key)) => Ok(key),
            other => Err(unexpected(&other)),
        })
        .collect::<io::Result<_>>()?;
    Ok((cursor, keys))
}

fn read_reply(reader: &mut impl BufRead) -> io::Result<Reply> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let line = line
        .strip_suffix("\r\n")
        .ok_or_else(|| io::Error::other("Redis closed the connection"))?;
    let (kind, rest) = line.split_at_checked(1).unwrap_or(("", ""));
    let number = || -> io::Result<i64> {
        rest.parse()
            .map_err(|_| io::Error::other(format!("not a number in {line:?}")))
    };
    match kind {
        "+" => Ok(Reply::Status),
        "-" => Err(io::Error::other(format!("Redis answered {rest}"))),
        ":" => number().map(|_| Reply::Integer),
        "$" => match usize::try_from(number()?) {
            Ok(len) => {
                let mut bulk = vec![0; len + 2];
                reader.read_exact(&mut bulk)?;
                bulk.truncate(len);
                Ok(Reply::Bulk(Some(bulk)))
            }
            Err(_) => Ok(Reply::Bulk(None)),
        },
        "*" => {
            let len = usize::try_from(number()?).unwrap_or(0);
            let items = (0..len)
                .map(|_| read_reply(reader))
                .collect::<io::Result<_>>()?;
            Ok(Reply::Array(items))
        }
        _ => Err(io::Error::other(format!("not a Redis answer: {line:?}"))),
    }
}

fn unexpected(reply: &Reply) -> io::Error {
    io::Error::other(format!("an unexpected answer from Redis: {reply:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scan_answer_gives_its_cursor_and_keys() {
        let wire = b"*2\r\n$2\r\n17\r\n*2\r\n$3\r\nk:1\r\n$3\r\nk:2\r\n";
        let reply = read_reply(&mut &wire[..]).expect("a reply");
        let (cursor, keys) = scan_page(reply).expect("a page");
        assert_eq!(cursor, b"17");
        assert_eq!(keys, [b"k:1".to_vec(), b"k:2".to_vec()]);
    }

    #[test]
    fn an_error_answer_is_an_error() {
        let error = read_reply(&mut &b"-ERR unknown command\r\n"[..]).expect_err("an error");
        assert!(error.to_string().contains("unknown command"));
    }
}
