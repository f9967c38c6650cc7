//! The shared stores in an outage: unreachable at start, a connection cut mid-run, and a server
//! that stops answering. Routes that use the session fail fast with an opaque 500, routes that
//! do not keep answering, and the app recovers on its own once the server is back.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use actix_web::cookie::Key;
use actix_web::http::StatusCode;
use kv_sessions::{PostgresStore, RedisStore, StoreError};
use kv_sessions_tests::proxy::{Mode, Proxy, target_of, through};
use kv_sessions_tests::shared::{self, PostgresScratch, RedisScratch};
use kv_sessions_tests::{AnyStore, Browser, Harness, Page};

/// The operation timeout the stores get here: short, so that the tests are quick.
const TIMEOUT: Duration = Duration::from_millis(500);
/// How much longer than the timeout a failing request may take to answer.
const SLACK: Duration = Duration::from_millis(1500);
/// How long the app may take to recover once the server is back.
const RECOVERY: Duration = Duration::from_secs(10);

/// A shared store engine.
#[derive(Debug, Clone, Copy)]
enum Engine {
    Redis,
    Postgres,
}

macro_rules! for_every_engine {
    ($($scenario:ident),* $(,)?) => {
        mod redis {
            $(#[actix_rt::test] async fn $scenario() { super::$scenario(super::Engine::Redis).await })*
        }
        mod postgres {
            $(#[actix_rt::test] async fn $scenario() { super::$scenario(super::Engine::Postgres).await })*
        }
    };
}

for_every_engine!(
    an_unreachable_server_fails_the_start_within_the_timeout,
    a_cut_connection_fails_session_routes_fast_and_recovers,
    a_hanging_server_fails_session_routes_within_the_timeout_and_recovers,
);

impl Engine {
    /// The engine's URL, or `None` after saying on stderr that `test` is skipped.
    fn url(self, test: &str) -> Option<String> {
        match self {
            Self::Redis => shared::redis_url(test),
            Self::Postgres => shared::postgres_url(test),
        }
    }

    /// A store at `url` with the short timeout, in a scratch space made through `direct`.
    async fn store_through(self, direct: &str, url: &str) -> Result<AnyStore, StoreError> {
        match self {
            Self::Redis => {
                let scratch = RedisScratch::new(direct);
                let store = RedisStore::builder(url)
                    .key_prefix(scratch.prefix())
                    .operation_timeout(TIMEOUT)
                    .build()
                    .await?;
                Ok(AnyStore::plain(store).on_scratch(scratch))
            }
            Self::Postgres => {
                let (_, scratch) = PostgresScratch::new(direct).await;
                let store = PostgresStore::builder(url)
                    .table(scratch.table())
                    .operation_timeout(TIMEOUT)
                    .sweep_every(None)
                    .build()
                    .await?;
                Ok(AnyStore::plain(store).on_scratch(scratch))
            }
        }
    }
}

/// An app whose store reaches its server through a proxy the test controls.
async fn behind_a_proxy(engine: Engine, url: &str) -> (Harness, Proxy) {
    let proxy = Proxy::start(target_of(url).await).await;
    let store = engine
        .store_through(url, &through(url, proxy.addr()))
        .await
        .expect("connect through the proxy");
    let dir = tempfile::tempdir().expect("temp dir");
    (Harness::start(dir, store, Key::generate(), |b| b), proxy)
}

/// Sends `GET path`, and says how long the answer took.
async fn timed(browser: &mut Browser<'_>, path: &str) -> (Page, Duration) {
    let start = Instant::now();
    let page = browser.get(path).await;
    (page, start.elapsed())
}

/// Asserts that a session route fails with an opaque 500 within the timeout, while a route
/// without a session answers.
async fn session_routes_fail_fast(browser: &mut Browser<'_>) {
    let (page, took) = timed(browser, "/").await;
    assert_eq!(page.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(page.body, "Internal Server Error");
    assert!(
        page.set_cookies.is_empty(),
        "no cookie while the store is out"
    );
    assert!(took < TIMEOUT + SLACK, "answered after {took:?}");
    let (plain, took) = timed(browser, "/plain").await;
    assert_eq!(plain.status, StatusCode::OK);
    assert!(took < SLACK, "a route without a session waited {took:?}");
}

/// Asserts that the session is served again soon after the server is back, with no restart.
async fn recovers(browser: &mut Browser<'_>) {
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

async fn an_unreachable_server_fails_the_start_within_the_timeout(engine: Engine) {
    let Some(url) = engine.url("an_unreachable_server_fails_the_start_within_the_timeout") else {
        return;
    };
    let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr");
    drop(closed);
    let start = Instant::now();
    let connected = engine.store_through(&url, &through(&url, port)).await;
    assert!(connected.is_err(), "connected to a closed port");
    assert!(
        start.elapsed() < TIMEOUT + SLACK,
        "took {:?}",
        start.elapsed()
    );
}

async fn a_cut_connection_fails_session_routes_fast_and_recovers(engine: Engine) {
    let Some(url) = engine.url("a_cut_connection_fails_session_routes_fast_and_recovers") else {
        return;
    };
    let (harness, proxy) = behind_a_proxy(engine, &url).await;
    let mut browser = harness.browser();
    browser.get("/set").await;
    assert_eq!(browser.get("/").await.body, "something");

    proxy.set(Mode::Cut);
    session_routes_fail_fast(&mut browser).await;
    proxy.set(Mode::Forward);
    recovers(&mut browser).await;
}

async fn a_hanging_server_fails_session_routes_within_the_timeout_and_recovers(engine: Engine) {
    let test = "a_hanging_server_fails_session_routes_within_the_timeout_and_recovers";
    let Some(url) = engine.url(test) else {
        return;
    };
    let (harness, proxy) = behind_a_proxy(engine, &url).await;
    let mut browser = harness.browser();
    browser.get("/set").await;

    proxy.set(Mode::Stall);
    session_routes_fail_fast(&mut browser).await;
    session_routes_fail_fast(&mut browser).await;
    proxy.set(Mode::Forward);
    recovers(&mut browser).await;
}
