//! The middleware, its store and its cache are shared by every actix worker, or the server does
//! not start.

use std::time::Duration;

use actix_web::cookie::Key;
use actix_web::http::header::{CONNECTION, COOKIE};
use actix_web::{App, HttpServer};
use kv_sessions::{MokaStore, SessionMiddleware, SledStore};
use kv_sessions_tests::{Backend, NO_VALUE, routes, send};

/// Built inside `HttpServer::new`, the middleware would give each worker a cache of its own, and
/// a logout on one worker would leave the others serving the session.
#[actix_rt::test]
async fn a_middleware_built_per_worker_stops_the_server_from_starting() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SledStore::open(dir.path().join("sessions.sled")).expect("sled");
    let key = Key::generate();
    let server = HttpServer::new(move || {
        let sessions = SessionMiddleware::builder(store.clone(), key.clone())
            .cache(MokaStore::new(1_000))
            .build();
        App::new().wrap(sessions).configure(routes)
    })
    .workers(2)
    .bind(("127.0.0.1", 0))
    .expect("bind");
    eprintln!("a worker's panic follows, on purpose: it is how the mistake is reported");
    let started = actix_rt::time::timeout(Duration::from_secs(20), server.run()).await;
    assert!(
        matches!(started, Ok(Err(_))),
        "the server must refuse to start, not serve with a cache per worker"
    );
}

/// Built once and shared, one cache serves both workers: after a logout, no worker serves the
/// session, whichever takes the request. Each request opens a connection of its own, so the
/// acceptor spreads them over the workers.
#[actix_rt::test]
async fn a_logout_reaches_every_worker_of_a_shared_middleware() {
    let harness = Backend::MokaOverSled.start().await;
    let mut browser = harness.browser();
    browser.get("/set").await;
    let cookie = format!("id={}", browser.cookie_value().expect("cookie"));
    let fresh_connection = |path: &str| {
        harness
            .server
            .get(path)
            .insert_header((COOKIE, cookie.clone()))
            .insert_header((CONNECTION, "close"))
    };
    for _ in 0..10 {
        assert_eq!(send(fresh_connection("/")).await.body, "something");
    }
    send(fresh_connection("/purge")).await;
    for _ in 0..20 {
        assert_eq!(send(fresh_connection("/")).await.body, NO_VALUE);
    }
}
