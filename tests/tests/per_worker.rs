//! The middleware, its store, its cache and its key are shared by every actix worker, or the
//! server does not start, with a message that says how to fix the app, and that this is where
//! kv-sessions differs from actix-session.

use std::time::Duration;

use actix_web::cookie::Key;
use actix_web::dev::Server;
use actix_web::http::header::{CONNECTION, COOKIE};
use actix_web::web::Data;
use actix_web::{App, HttpServer};
use kv_sessions::{MokaStore, SessionMiddleware, SledStore};
use kv_sessions_tests::{Backend, NO_VALUE, capture_panics, routes, send};

/// Runs `server` and asserts that it refuses to start, with a panic on a worker saying each of
/// `told`.
async fn refuses_to_start_saying(server: Server, told: &[&str]) {
    let panics = capture_panics();
    eprintln!("a worker's panic follows, on purpose: it is how the mistake is reported");
    let started = actix_rt::time::timeout(Duration::from_secs(20), server).await;
    assert!(
        matches!(started, Ok(Err(_))),
        "the server must refuse to start, not serve with a part of its sessions per worker"
    );
    let messages = panics.containing(told[0]);
    assert!(!messages.is_empty(), "no panic said {:?}", told[0]);
    for needle in told {
        assert!(
            messages.iter().any(|m| m.contains(needle)),
            "{messages:#?} lack {needle:?}"
        );
    }
}

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
    .expect("bind")
    .run();
    refuses_to_start_saying(
        server,
        &[
            "a logout on one worker would not reach the others",
            "This is where kv-sessions differs from actix-session, whose docs build \
             `SessionMiddleware` inside the closure",
            "`let sessions = SessionMiddleware::new(store, key);` then \
             `HttpServer::new(move || App::new().wrap(sessions.clone()))`",
        ],
    )
    .await;
}

/// `Key::generate()` in the closure would sign each worker's cookies with a key of its own, so
/// a session would vanish whenever a request reached another worker. Such a key can only reach
/// the middleware inside the closure, where the middleware refuses to be built.
#[actix_rt::test]
async fn a_key_generated_per_worker_stops_the_server_with_a_message_about_the_key() {
    let store = MokaStore::new(1_000);
    let server = HttpServer::new(move || {
        App::new()
            .wrap(SessionMiddleware::new(store.clone(), Key::generate()))
            .configure(routes)
    })
    .workers(2)
    .bind(("127.0.0.1", 0))
    .expect("bind")
    .run();
    refuses_to_start_saying(
        server,
        &[
            "with `Key::generate()` would differ between workers",
            "key_from_env",
        ],
    )
    .await;
}

/// A sled directory opens once: the store opened inside the closure fails on the second worker,
/// and says to open it once, before `HttpServer::new`.
#[actix_rt::test]
async fn a_sled_store_opened_per_worker_stops_the_server_with_the_fix() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sessions.sled");
    let server = HttpServer::new(move || {
        let store = SledStore::open(&path).expect("open the session store");
        App::new().app_data(Data::new(store))
    })
    .workers(2)
    .bind(("127.0.0.1", 0))
    .expect("bind")
    .run();
    refuses_to_start_saying(
        server,
        &[
            "is already open in this process",
            "open the SledStore once, before `HttpServer::new`",
        ],
    )
    .await;
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
