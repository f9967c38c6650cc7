//! A refused cookie never fails a request: the request gets a fresh session. The log is where a
//! user learns why their sessions vanish, so each reason is logged at debug level, and never the
//! cookie's value or the id in it.

use actix_web::cookie::Key;
use kv_sessions::test_util::CookieSealer;
use kv_sessions::{CookieContent, SessionId};
use kv_sessions_tests::{Backend, Harness, NO_VALUE, capture_log};

/// Sends `value` as the cookie `name` to a fresh server and returns the log's lines on why it was
/// rejected, checking that the request got a fresh session and that the log never shows
/// `secrets`.
async fn log_of_a_refused_cookie(
    harness: &Harness,
    name: &str,
    value: &str,
    secrets: &[&str],
) -> Vec<String> {
    let log = capture_log();
    let mut browser = harness.browser_for(name);
    browser.set_cookie_value(Some(value.to_owned()));
    assert_eq!(browser.get("/").await.body, NO_VALUE);
    for secret in std::iter::once(&value).chain(secrets) {
        assert_eq!(
            log.lines_with(secret),
            Vec::<String>::new(),
            "the log shows {secret}"
        );
    }
    let lines = log.lines_with(&format!("cookie=\"{name}\""));
    let rejections = lines.into_iter().filter(|line| line.contains("rejected"));
    rejections.collect()
}

/// Asserts that `lines` is one debug line that starts with `reason`.
fn assert_one_reason(lines: &[String], reason: &str) {
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(lines[0].contains("DEBUG"), "{lines:#?}");
    assert!(lines[0].contains(reason), "{lines:#?}");
}

#[actix_rt::test]
async fn a_malformed_cookie_is_logged_as_malformed() {
    let name = "malformed";
    let harness = Backend::Moka
        .start_with(|builder| builder.cookie_name(name))
        .await;
    let lines = log_of_a_refused_cookie(&harness, name, "not-a-session-cookie-at-all", &[]).await;
    assert_one_reason(
        &lines,
        "session cookie rejected, malformed: its value is not one this middleware writes",
    );
}

/// A key made at start-up with `Key::generate()` changes at every restart: every cookie the
/// previous run issued has a bad signature, and the log says the key may have changed.
#[actix_rt::test]
async fn a_cookie_sealed_before_the_key_changed_is_logged_as_a_bad_signature() {
    let name = "rekeyed";
    let harness = Backend::Moka
        .start_with(|builder| builder.cookie_name(name))
        .await;
    let mut browser = harness.browser_for(name);
    browser.get("/set").await;
    let id = browser.get("/id").await.body;
    let value = browser.cookie_value().expect("a session cookie").to_owned();
    drop(browser);
    let (dir, store, _key) = harness.stop().await;

    let restarted = Harness::start(dir, store, Key::generate(), |builder| {
        builder.cookie_name(name)
    });
    let lines = log_of_a_refused_cookie(&restarted, name, &value, &[&id]).await;
    assert_one_reason(
        &lines,
        "session cookie rejected, bad signature: neither the current key nor a previous one opens it",
    );
    assert!(
        lines[0].contains("a key that changed at a restart"),
        "{lines:#?}"
    );
}

#[actix_rt::test]
async fn a_cookie_whose_session_is_gone_is_logged_as_no_live_session() {
    let name = "unknown";
    let harness = Backend::Sled
        .start_with(|builder| builder.cookie_name(name))
        .await;
    let id = SessionId::generate();
    let value = CookieSealer::new(&harness.key, name, CookieContent::Signed).seal(id);
    let lines = log_of_a_refused_cookie(&harness, name, &value, &[&id.to_string()]).await;
    assert_one_reason(
        &lines,
        "session cookie rejected, no live session: the store holds no session under its id",
    );
}
