//! What only a store on disk can show: restarts, and damaged records.

use std::time::Duration;

use actix_web::http::StatusCode;
use kv_sessions::{Expiry, SessionId, SledStore};
use kv_sessions_tests::{AnyStore, Backend, Harness, NO_VALUE, engine};

/// Reopens the sled directory of a stopped harness.
fn reopen(dir: &std::path::Path) -> SledStore {
    engine::once_released(|| SledStore::open(engine::sled_path(dir)))
}

#[actix_rt::test]
async fn sessions_survive_a_restart() {
    for backend in [Backend::Sled, Backend::MokaOverSled] {
        let harness = backend.start().await;
        let mut browser = harness.browser();
        browser.get("/set").await;
        browser.get("/count").await;
        let cookie = browser.cookie_value().expect("cookie").to_owned();
        drop(browser);
        let (dir, store, key) = harness.stop().await;
        store.sled().expect("sled").flush().await.expect("flush");
        drop(store);

        let sled = reopen(dir.path());
        let reopened = AnyStore::plain(sled.clone()).on_sled(sled);
        let harness = Harness::start(dir, reopened, key, |builder| builder);
        let mut browser = harness.browser();
        browser.set_cookie_value(Some(cookie));
        assert_eq!(browser.get("/").await.body, "something", "{backend:?}");
        assert_eq!(browser.get("/count").await.body, "2", "{backend:?}");
    }
}

#[actix_rt::test]
async fn a_corrupt_record_is_discarded_for_a_fresh_session() {
    let harness = Backend::Sled.start().await;
    let mut browser = harness.browser();
    browser.get("/set").await;
    let id: SessionId = browser.get("/id").await.body.parse().expect("id");
    let sled = harness.store.sled().expect("sled");
    sled.insert_raw(&id, b"\x01garbage")
        .expect("damage the record");

    let page = browser.get("/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.body, NO_VALUE);
    assert!(page.cookie("id").is_none(), "a read sends no cookie");
    assert!(sled.is_empty(), "the corrupt record is deleted");

    browser.get("/set").await;
    assert_eq!(browser.get("/").await.body, "something");
}

#[actix_rt::test]
async fn a_cookie_without_a_valid_session_leaves_no_record_behind() {
    let harness = Backend::Sled.start().await;
    let mut browser = harness.browser();
    browser.set_cookie_value(Some("garbage".to_owned()));
    for path in ["/", "/id", "/remove/a", "/purge", "/renew", "/clear"] {
        browser.set_cookie_value(Some("garbage".to_owned()));
        assert_eq!(browser.get(path).await.status, StatusCode::OK);
    }
    assert!(harness.store.sled().expect("sled").is_empty());
}

#[actix_rt::test]
async fn sweeping_deletes_expired_sessions_and_keeps_live_ones() {
    for backend in [Backend::Sled, Backend::MokaOverSled] {
        let harness = backend
            .start_with(|builder| {
                builder.default_expiry(Expiry::OnInactivity(Duration::from_secs(1)))
            })
            .await;
        let mut short: Vec<_> = (0..3).map(|_| harness.browser()).collect();
        for browser in &mut short {
            browser.get("/set").await;
        }
        let mut remembered = harness.browser();
        remembered.get("/remember").await;
        let sled = harness.store.sled().expect("sled");
        assert_eq!(sled.len(), 4, "{backend:?}");
        assert_eq!(sled.sweep_expired().await.expect("sweep"), 0, "{backend:?}");

        actix_rt::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(sled.sweep_expired().await.expect("sweep"), 3, "{backend:?}");
        assert_eq!(sled.len(), 1, "{backend:?}");
        assert_eq!(remembered.get("/count").await.body, "1", "{backend:?}");
        for browser in &mut short {
            assert_eq!(browser.get("/").await.body, NO_VALUE, "{backend:?}");
        }
    }
}

/// Every file under `dir`, read whole.
fn files_under(dir: &std::path::Path) -> Vec<Vec<u8>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(std::fs::read(&path).expect("read file"));
        }
    }
    files
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[actix_rt::test]
async fn the_files_on_disk_hold_no_session_id() {
    let harness = Backend::Sled.start().await;
    let mut browser = harness.browser();
    browser.get("/set").await;
    let first: SessionId = browser.get("/id").await.body.parse().expect("id");
    browser.get("/renew").await;
    browser.get("/count").await;
    let renewed: SessionId = browser.get("/id").await.body.parse().expect("id");
    assert_ne!(first, renewed);
    drop(browser);
    let (dir, store, _) = harness.stop().await;
    store.sled().expect("sled").flush().await.expect("flush");
    drop(store);

    let files = files_under(&engine::sled_path(dir.path()));
    assert!(
        files.iter().any(|file| contains(file, b"something")),
        "the scan reads the session's data"
    );
    for id in [first, renewed] {
        let text = id.to_string();
        for file in &files {
            assert!(!contains(file, id.as_bytes()), "an id's bytes are on disk");
            assert!(!contains(file, text.as_bytes()), "an id's text is on disk");
        }
    }
}
