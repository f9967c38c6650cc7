//! The shared stores in an outage: unreachable at start, a connection cut mid-run, and a server
//! that stops answering. Routes that use the session fail fast with an opaque 500, routes that
//! do not keep answering, and the app recovers on its own once the server is back.

use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use actix_web::cookie::Key;
use actix_web::http::StatusCode;
use kv_sessions_tests::engine::Reach;
use kv_sessions_tests::proxy::{Mode, Proxy, target_of, through};
use kv_sessions_tests::{Backend, Browser, Harness, Page};

/// The operation timeout the stores get here: short, so that the tests are quick.
const TIMEOUT: Duration = Duration::from_millis(500);
/// How much longer than the timeout a failing request may take to answer.
const SLACK: Duration = Duration::from_millis(1500);
/// How long the app may take to recover once the server is back.
const RECOVERY: Duration = Duration::from_secs(10);

kv_sessions_tests::for_every_server!(
    an_unreachable_server_fails_the_start_within_the_timeout,
    a_cut_connection_fails_session_routes_fast_and_recovers,
    a_hanging_server_fails_session_routes_within_the_timeout_and_recovers,
);

/// How a store reaches its server at `url` through whatever listens on `port`, with
/// the short timeout.
fn through_port(url: &str, port: SocketAddr) -> Reach {
    Reach {
        server: url.to_owned(),
        url: through(url, port),
        timeout: Some(TIMEOUT),
    }
}

/// An app whose store reaches its server through a proxy the test controls.
async fn behind_a_proxy(backend: Backend) -> (Harness, Proxy) {
    let url = backend.server_url();
    let proxy = Proxy::start(target_of(&url).await).await;
    let store = backend
        .connect(through_port(&url, proxy.addr()))
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

async fn an_unreachable_server_fails_the_start_within_the_timeout(backend: Backend) {
    let url = backend.server_url();
    let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr");
    drop(closed);
    let start = Instant::now();
    let connected = backend.connect(through_port(&url, port)).await;
    assert!(connected.is_err(), "connected to a closed port");
    assert!(
        start.elapsed() < TIMEOUT + SLACK,
        "took {:?}",
        start.elapsed()
    );
}

async fn a_cut_connection_fails_session_routes_fast_and_recovers(backend: Backend) {
    let (harness, proxy) = behind_a_proxy(backend).await;
    let mut browser = harness.browser();
    browser.get("/set").await;
    assert_eq!(browser.get("/").await.body, "something");

    proxy.set(Mode::Cut);
    session_routes_fail_fast(&mut browser).await;
    proxy.set(Mode::Forward);
    recovers(&mut browser).await;
}

async fn a_hanging_server_fails_session_routes_within_the_timeout_and_recovers(backend: Backend) {
    let (harness, proxy) = behind_a_proxy(backend).await;
    let mut browser = harness.browser();
    browser.get("/set").await;

    proxy.set(Mode::Stall);
    session_routes_fail_fast(&mut browser).await;
    session_routes_fail_fast(&mut browser).await;
    proxy.set(Mode::Forward);
    recovers(&mut browser).await;
}
