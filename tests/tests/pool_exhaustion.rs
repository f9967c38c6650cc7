//! PostgresStore with its pool exhausted, through a real actix server: a pool of 2 connections
//! and 64 requests at once while the database is slow. Every request waits no longer than the
//! operation timeout, whether for a connection or for the database, and then answers an opaque
//! 500; the pool never opens more than its 2 connections; nothing deadlocks, and once the
//! database is quick again the app serves as before.
//!
//! The database is made slow for real: another connection holds an `ACCESS EXCLUSIVE` lock on
//! the session table, so each statement of the store waits on the server while holding its
//! pooled connection, as under a long migration or a vacuum full.

use std::time::{Duration, Instant};

use actix_web::cookie::Key;
use actix_web::http::StatusCode;
use actix_web::http::header::COOKIE;
use kv_sessions::PostgresStore;
use kv_sessions_tests::shared::{PostgresScratch, postgres_url, unique_name};
use kv_sessions_tests::{AnyStore, Harness, Page, send};

/// The store's operation timeout: short, so that the test is quick.
const TIMEOUT: Duration = Duration::from_millis(500);
/// How much longer than the timeout a failing request may take to answer.
const SLACK: Duration = Duration::from_millis(1500);
/// How long the app may take to serve again once the database is quick.
const RECOVERY: Duration = Duration::from_secs(10);
/// The store's pool.
const POOL_SIZE: usize = 2;
/// The requests sent at once.
const REQUESTS: usize = 64;

#[actix_rt::test]
async fn an_exhausted_pool_answers_opaque_500s_within_the_timeout_and_recovers() {
    let Some(url) = postgres_url("an_exhausted_pool_answers_opaque_500s") else {
        return;
    };
    let application = unique_name();
    let (_, scratch) = PostgresScratch::new(&url).await;
    let separator = if url.contains('?') { '&' } else { '?' };
    let store = PostgresStore::builder(format!("{url}{separator}application_name={application}"))
        .table(scratch.table())
        .pool_size(POOL_SIZE)
        .operation_timeout(TIMEOUT)
        .sweep_every(None)
        .build()
        .await
        .expect("a store with a small pool");
    let dir = tempfile::tempdir().expect("temp dir");
    let harness = Harness::start(dir, AnyStore::plain(store), Key::generate(), |b| b);
    let mut browser = harness.browser();
    browser.get("/set").await;
    assert_eq!(browser.get("/").await.body, "something");
    let cookie = format!("id={}", browser.cookie_value().expect("a session cookie"));

    let lock = TableLock::take(&url, scratch.table()).await;
    let answers = all_at_once(&harness, &cookie).await;
    let pooled = lock.connections_named(&application).await;
    lock.release().await;

    for (page, took) in &answers {
        assert_eq!(page.status, StatusCode::INTERNAL_SERVER_ERROR, "{page:?}");
        assert_eq!(page.body, "Internal Server Error");
        assert!(took < &(TIMEOUT + SLACK), "answered after {took:?}");
    }
    assert!(
        (1..=POOL_SIZE as i64).contains(&pooled),
        "the store held {pooled} connections with a pool of {POOL_SIZE}"
    );
    recovers(&mut browser).await;
    for _ in 0..8 {
        assert_eq!(browser.get("/").await.body, "something");
    }
}

/// Sends `GET /` with `cookie` `REQUESTS` times at once, and returns each answer with how long
/// it took.
async fn all_at_once(harness: &Harness, cookie: &str) -> Vec<(Page, Duration)> {
    let requests: Vec<_> = (0..REQUESTS)
        .map(|_| {
            let request = harness.server.get("/").insert_header((COOKIE, cookie));
            actix_rt::spawn(async move {
                let start = Instant::now();
                let page = send(request).await;
                (page, start.elapsed())
            })
        })
        .collect();
    let mut answers = Vec::with_capacity(REQUESTS);
    for request in requests {
        answers.push(request.await.expect("a request task"));
    }
    answers
}

/// Asserts that the session is served again soon after the database is quick, with no restart.
async fn recovers(browser: &mut kv_sessions_tests::Browser<'_>) {
    let deadline = Instant::now() + RECOVERY;
    loop {
        let page = browser.get("/").await;
        if page.body == "something" {
            return;
        }
        assert!(Instant::now() < deadline, "still failing: {page:?}");
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A connection of the test's own holding an `ACCESS EXCLUSIVE` lock on a table, in an open
/// transaction, until released.
struct TableLock {
    client: tokio_postgres::Client,
}

impl TableLock {
    async fn take(url: &str, table: &str) -> Self {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .expect("connect to lock the table");
        actix_rt::spawn(connection);
        let lock = format!("BEGIN; LOCK TABLE \"{table}\" IN ACCESS EXCLUSIVE MODE");
        client.batch_execute(&lock).await.expect("lock the table");
        Self { client }
    }

    /// How many connections named `application` (the pooled ones, not the listener) the
    /// server has.
    async fn connections_named(&self, application: &str) -> i64 {
        let sql = "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1";
        let row = self
            .client
            .query_one(sql, &[&application])
            .await
            .expect("count the store's connections");
        row.get(0)
    }

    async fn release(self) {
        self.client
            .batch_execute("ROLLBACK")
            .await
            .expect("release the lock");
    }
}
