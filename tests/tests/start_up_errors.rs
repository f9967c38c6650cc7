//! What an operator reads on the terminal when an app fails at start-up: the message and its
//! cause in words, whichever way the app hands the error over, and never a struct dump of the
//! error or a password from a URL.
//!
//! Each test runs `start_up_failure` (in `src/bin/`) once per way of handing the error over, and
//! reads its stderr.

use std::net::TcpListener;
use std::process::Command;

use kv_sessions_tests::shared;

/// Every way of handing a start-up error to the terminal that `start_up_failure` knows, less the
/// one whose `main` returns the other error type.
fn patterns(own_error: &str) -> [&str; 6] {
    [
        "unwrap",
        "expect",
        "io-error-other",
        "io-question-mark",
        own_error,
        "anyhow",
    ]
}

/// How our errors looked before they had a `Debug` of words: the names of their variants and
/// fields.
const STRUCT_DUMPS: [&str; 8] = [
    "NotSet {",
    "Open(",
    "Backend(",
    "BadUrl",
    "Unreachable {",
    "Refused {",
    "Unmigrated {",
    "DbError",
];

/// The password that the tests put in URLs, which no output may show.
const PASSWORD: &str = "hunter2-in-the-url";

/// The stderr of `start_up_failure <pattern> <store…>`, which must fail, with `SESSION_KEY` set
/// to a good key or, where `key` is `None`, unset.
fn stderr_of(pattern: &str, key: Option<&str>, store: &[&str]) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_start_up_failure"));
    command
        .arg(pattern)
        .args(store)
        .env_remove("RUST_BACKTRACE");
    match key {
        Some(key) => command.env("SESSION_KEY", key),
        None => command.env_remove("SESSION_KEY"),
    };
    let output = command.output().expect("run start_up_failure");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "{pattern} started: {stderr}");
    stderr
}

/// Asserts that `stderr`, from `pattern`, says each of `words` and shows no struct dump and no
/// password.
fn assert_reads_well(pattern: &str, stderr: &str, words: &[&str]) {
    for expected in words {
        assert!(
            stderr.contains(expected),
            "{pattern}: {expected:?} in {stderr}"
        );
    }
    for dump in STRUCT_DUMPS {
        assert!(!stderr.contains(dump), "{pattern}: {dump:?} in {stderr}");
    }
    assert!(
        !stderr.contains(PASSWORD),
        "{pattern}: the password in {stderr}"
    );
}

/// A key `key_from_env` accepts.
fn good_key() -> String {
    (0..64)
        .map(|byte| format!("{:02x}", byte * 7 % 251))
        .collect()
}

fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

/// `std::io::Error` shows the error it carries inside its own `Custom { kind, error }`: that
/// frame is the standard library's, and what it frames must be the message.
fn framed_by_io_error(pattern: &str, stderr: &str, message_start: &str) {
    if pattern.starts_with("io-") {
        let framed = format!("error: {message_start}");
        assert!(stderr.contains(&framed), "{pattern}: {stderr}");
    }
}

#[test]
fn a_missing_session_key_is_named_with_the_command_that_makes_one() {
    for pattern in patterns("key-error") {
        let stderr = stderr_of(pattern, None, &[]);
        assert_reads_well(
            pattern,
            &stderr,
            &[
                "SESSION_KEY is not set",
                "make one with `head -c 64 /dev/urandom | base64 -w0`",
            ],
        );
        framed_by_io_error(pattern, &stderr, "SESSION_KEY is not set");
    }
}

#[test]
fn a_redis_url_that_does_not_parse_says_so_and_how_one_looks() {
    let url = format!("redis//:{PASSWORD}@127.0.0.1:6379");
    for pattern in patterns("store-error") {
        let stderr = stderr_of(pattern, Some(&good_key()), &["redis", &url]);
        assert_reads_well(
            pattern,
            &stderr,
            &[
                "the Redis URL does not parse",
                "it looks like redis://host:6379/0",
            ],
        );
        framed_by_io_error(pattern, &stderr, "the Redis URL does not parse");
    }
}

#[test]
fn a_redis_server_that_is_not_there_is_named_with_the_cause() {
    let port = closed_port();
    let url = format!("redis://:{PASSWORD}@127.0.0.1:{port}");
    for pattern in patterns("store-error") {
        let stderr = stderr_of(pattern, Some(&good_key()), &["redis", &url]);
        let unreachable = format!("could not reach Redis at 127.0.0.1:{port}/0: ");
        assert_reads_well(
            pattern,
            &stderr,
            &[&unreachable, "refused", "Check the URL"],
        );
        assert_eq!(stderr.matches("refused").count(), 1, "{pattern}: {stderr}");
        framed_by_io_error(pattern, &stderr, &unreachable);
    }
}

/// `url` with `database` in place of its database, and [`PASSWORD`] for the user's password
/// where it has none (a server that trusts the user never asks for it).
fn with_database_and_password(url: &str, database: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (authority, _) = rest.split_once('/').unwrap_or((rest, ""));
    let authority = match authority.split_once('@') {
        Some((user, host)) if !user.contains(':') => format!("{user}:{PASSWORD}@{host}"),
        _ => authority.to_owned(),
    };
    format!("{scheme}://{authority}/{database}")
}

#[test]
#[cfg_attr(
    not(KV_SESSIONS_POSTGRES_URL),
    ignore = "KV_SESSIONS_POSTGRES_URL is unset"
)]
fn a_postgres_database_that_does_not_exist_is_named_in_the_server_s_words() {
    let url = shared::required_url(shared::POSTGRES_URL);
    let database = "kv_sessions_no_such_database";
    let url = with_database_and_password(&url, database);
    let table = shared::unique_name();
    for pattern in patterns("store-error") {
        let stderr = stderr_of(pattern, Some(&good_key()), &["postgres", &url, &table]);
        let refused = format!("/{database} refused the session store: database \"{database}\"");
        assert_reads_well(
            pattern,
            &stderr,
            &[
                &refused,
                &format!("database \"{database}\" does not exist (SQLSTATE 3D000)"),
                "Check the database name",
            ],
        );
        framed_by_io_error(pattern, &stderr, "PostgreSQL at ");
    }
}

#[test]
#[cfg_attr(
    not(KV_SESSIONS_POSTGRES_URL),
    ignore = "KV_SESSIONS_POSTGRES_URL is unset"
)]
fn a_postgres_table_never_migrated_is_named_with_migrate_up() {
    let url = shared::required_url(shared::POSTGRES_URL);
    let table = shared::unique_name();
    for pattern in patterns("store-error") {
        let stderr = stderr_of(pattern, Some(&good_key()), &["postgres", &url, &table]);
        let missing = format!("the session table {table} does not exist; create it with");
        assert_reads_well(pattern, &stderr, &[&missing, "`migrate_up`"]);
        framed_by_io_error(pattern, &stderr, &missing);
    }
}
