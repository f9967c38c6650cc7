//! libpq's TLS keys in a connection string. tokio-postgres refuses keys it does not know
//! (`sslrootcert`) and `sslmode` values past `require`, so the store takes both keys out and
//! hands tokio-postgres the rest, unchanged.

use std::borrow::Cow;

/// The TLS keys a connection string held, as written (percent-decoded in a URL).
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct TlsKeys {
    /// `sslmode`: how hard TLS is insisted on.
    pub(super) sslmode: Option<String>,
    /// `sslrootcert`: a file of CA certificates, or `system`.
    pub(super) sslrootcert: Option<String>,
}

impl TlsKeys {
    /// Keeps `value` where `key` is one of the TLS keys, and says whether it was.
    fn take(&mut self, key: &str, value: String) -> bool {
        let slot = match key {
            "sslmode" => &mut self.sslmode,
            "sslrootcert" => &mut self.sslrootcert,
            _ => return false,
        };
        *slot = Some(value);
        true
    }
}

/// `connection` without its TLS keys, and the keys. A `postgres://` URL loses them from its
/// query; a `key=value` string loses the pairs. A string whose syntax is broken keeps the rest
/// as it was from the break on, for tokio-postgres to report.
pub(super) fn take_tls_keys(connection: &str) -> (String, TlsKeys) {
    match url_query(connection) {
        Some(query) => take_from_url(connection, query),
        None if is_url(connection) => (connection.to_owned(), TlsKeys::default()),
        None => take_from_pairs(connection),
    }
}

/// The URL prefixes tokio-postgres accepts.
const URL_SCHEMES: [&str; 2] = ["postgres://", "postgresql://"];

fn is_url(connection: &str) -> bool {
    URL_SCHEMES
        .iter()
        .any(|scheme| connection.starts_with(scheme))
}

/// Where the query of a URL starts, after its `?`: the first `?` after the credentials, since a
/// password may hold one unencoded, as tokio-postgres reads it.
fn url_query(url: &str) -> Option<usize> {
    let scheme = URL_SCHEMES
        .iter()
        .find(|scheme| url.starts_with(*scheme))?
        .len();
    let host = url[scheme..].find('@').map_or(scheme, |at| scheme + at + 1);
    url[host..].find('?').map(|mark| host + mark + 1)
}

fn take_from_url(url: &str, query: usize) -> (String, TlsKeys) {
    let mut keys = TlsKeys::default();
    let kept: Vec<&str> = url[query..]
        .split('&')
        .filter(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            !keys.take(&decoded(key), decoded(value).into_owned())
        })
        .collect();
    let base = &url[..query - 1];
    let rest = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    (rest, keys)
}

fn decoded(text: &str) -> Cow<'_, str> {
    percent_encoding::percent_decode_str(text).decode_utf8_lossy()
}

fn take_from_pairs(text: &str) -> (String, TlsKeys) {
    let mut keys = TlsKeys::default();
    let mut rest = String::with_capacity(text.len());
    let mut copied = 0;
    for pair in (Pairs { text, at: 0 }) {
        if keys.take(&pair.key, pair.value) {
            rest.push_str(&text[copied..pair.start]);
            copied = pair.end;
        }
    }
    rest.push_str(&text[copied..]);
    (rest, keys)
}

/// One `key=value` pair of a libpq connection string, and where it lies in the string.
struct Pair {
    key: String,
    value: String,
    start: usize,
    end: usize,
}

/// The pairs of a libpq connection string, in libpq's syntax: whitespace between pairs and
/// around `=`, values in single quotes where they hold spaces, and a backslash before a quote
/// or a backslash. It stops at the first pair it cannot read.
struct Pairs<'a> {
    text: &'a str,
    at: usize,
}

impl Iterator for Pairs<'_> {
    type Item = Pair;

    fn next(&mut self) -> Option<Pair> {
        self.skip_whitespace();
        let start = self.at;
        let key = self.word(|c| c == '=' || c.is_whitespace());
        self.skip_whitespace();
        self.eat('=')?;
        self.skip_whitespace();
        let value = if self.eat('\'').is_some() {
            let value = self.word(|c| c == '\'');
            self.eat('\'')?;
            value
        } else {
            self.word(char::is_whitespace)
        };
        (!key.is_empty()).then_some(Pair {
            key,
            value,
            start,
            end: self.at,
        })
    }
}

impl Pairs<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.at..].chars().next()
    }

    fn eat(&mut self, expected: char) -> Option<()> {
        (self.peek()? == expected).then(|| self.at += expected.len_utf8())
    }

    fn skip_whitespace(&mut self) {
        while let Some(c) = self.peek().filter(|c| c.is_whitespace()) {
            self.at += c.len_utf8();
        }
    }

    /// The characters up to the first that `ends` a word, each taken literally after a
    /// backslash.
    fn word(&mut self, ends: impl Fn(char) -> bool) -> String {
        let mut word = String::new();
        while let Some(c) = self.peek().filter(|&c| !ends(c)) {
            self.at += c.len_utf8();
            word.push(if c == '\\' {
                self.take().unwrap_or(c)
            } else {
                c
            });
        }
        word
    }

    fn take(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += c.len_utf8();
        Some(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(sslmode: Option<&str>, sslrootcert: Option<&str>) -> TlsKeys {
        TlsKeys {
            sslmode: sslmode.map(str::to_owned),
            sslrootcert: sslrootcert.map(str::to_owned),
        }
    }

    #[test]
    fn a_url_loses_its_tls_keys_and_keeps_the_rest_of_its_query() {
        let (rest, found) = take_tls_keys(
            "postgres://app:pw@db:5432/app?sslmode=verify-full&application_name=web&sslrootcert=%2Fetc%2Frds.pem",
        );
        assert_eq!(rest, "postgres://app:pw@db:5432/app?application_name=web");
        assert_eq!(found, keys(Some("verify-full"), Some("/etc/rds.pem")));
    }

    #[test]
    fn a_url_whose_query_held_only_tls_keys_loses_the_question_mark() {
        let (rest, found) = take_tls_keys("postgresql://db/app?sslmode=require");
        assert_eq!(rest, "postgresql://db/app");
        assert_eq!(found, keys(Some("require"), None));
    }

    #[test]
    fn a_question_mark_in_the_password_does_not_start_the_query() {
        let (rest, found) = take_tls_keys("postgres://app:p?w@db/app?sslmode=disable");
        assert_eq!(rest, "postgres://app:p?w@db/app");
        assert_eq!(found, keys(Some("disable"), None));
    }

    #[test]
    fn a_url_without_a_query_is_kept_whole() {
        let url = "postgres://app@db/app";
        assert_eq!(take_tls_keys(url), (url.to_owned(), TlsKeys::default()));
    }

    #[test]
    fn key_value_pairs_lose_the_tls_pairs_quoted_or_not() {
        let (rest, found) = take_tls_keys(
            r"host=db sslmode = verify-ca  sslrootcert='/etc/my certs/it\'s.pem' dbname=app",
        );
        assert_eq!(rest, "host=db    dbname=app");
        assert_eq!(
            found,
            keys(Some("verify-ca"), Some("/etc/my certs/it's.pem"))
        );
    }

    #[test]
    fn broken_key_value_syntax_is_left_for_tokio_postgres_to_report() {
        let text = "host=db sslmode";
        assert_eq!(take_tls_keys(text), (text.to_owned(), TlsKeys::default()));
        let unterminated = "sslrootcert='/etc/x.pem host=db";
        assert_eq!(
            take_tls_keys(unterminated),
            (unterminated.to_owned(), TlsKeys::default())
        );
    }
}
