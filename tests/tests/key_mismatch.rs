//! An instance whose key differs from the others' signs out every user it serves, and nothing
//! fails. So the middleware logs its keys' fingerprints when it is built, for operators to
//! compare, and warns, once a minute at most, when most incoming cookies fail their signature.

use actix_web::cookie::Key;
use kv_sessions::test_util::CookieSealer;
use kv_sessions::{CookieContent, KeyFingerprint, MokaStore, SessionId, SessionMiddleware};
use kv_sessions_tests::{Backend, Harness, NO_VALUE, capture_log};

/// The lines logged for the cookie `name` at `level`.
fn logged(name: &str, level: &str) -> Vec<String> {
    let lines = capture_log().lines_with(&format!("cookie=\"{name}\""));
    lines
        .into_iter()
        .filter(|line| line.contains(level))
        .collect()
}

/// Sends `count` requests, each with a cookie `name` that `sealer` sealed over a fresh id.
async fn send_sealed(harness: &Harness, name: &str, sealer: &CookieSealer, count: usize) {
    for _ in 0..count {
        let mut browser = harness.browser_for(name);
        browser.set_cookie_value(Some(sealer.seal(SessionId::generate())));
        assert_eq!(browser.get("/").await.body, NO_VALUE);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[actix_rt::test]
async fn building_the_middleware_logs_the_fingerprint_of_each_key_and_never_a_key() {
    let name = "fingerprinted";
    capture_log();
    let (old, older) = (Key::generate(), Key::generate());
    let previous = [old.clone(), older.clone()];
    let harness = Backend::Moka
        .start_with(|builder| builder.cookie_name(name).previous_keys(previous))
        .await;
    let lines = logged(name, "INFO");
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let current = KeyFingerprint::of(&harness.key);
    let expected = [
        format!("key_fingerprint={current}"),
        format!(
            "previous_key_fingerprints={},{}",
            KeyFingerprint::of(&old),
            KeyFingerprint::of(&older)
        ),
    ];
    for fragment in &expected {
        assert!(
            lines[0].contains(fragment.as_str()),
            "{fragment} in {lines:#?}"
        );
    }
    for key in [&harness.key, &old, &older] {
        let halves = [key.signing(), key.encryption()];
        for half in halves.map(hex) {
            assert!(!lines[0].contains(&half[..16]), "{lines:#?}");
        }
    }
}

#[test]
fn the_middleware_tells_its_key_fingerprints() {
    let (key, old) = (Key::generate(), Key::generate());
    let middleware = SessionMiddleware::builder(MokaStore::new(10), key.clone())
        .previous_keys([old.clone()])
        .build();
    assert_eq!(middleware.key_fingerprint(), KeyFingerprint::of(&key));
    assert_eq!(
        middleware.previous_key_fingerprints(),
        [KeyFingerprint::of(&old)]
    );
}

#[actix_rt::test]
async fn cookies_sealed_with_another_key_warn_once_that_the_keys_differ() {
    let name = "mismatched";
    capture_log();
    let harness = Backend::Moka
        .start_with(|builder| builder.cookie_name(name))
        .await;
    let other_instance = CookieSealer::new(&Key::generate(), name, CookieContent::Signed);
    send_sealed(&harness, name, &other_instance, 50).await;
    let warnings = logged(name, "WARN");
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    for words in [
        "most session cookies fail their signature: 20 of 20 recent session cookies",
        "this instance's key differs from the one that sealed them",
        "Compare the `key_fingerprint` that each instance logs",
    ] {
        assert!(warnings[0].contains(words), "{words} in {warnings:#?}");
    }
}

#[actix_rt::test]
async fn cookies_sealed_with_the_right_key_warn_of_nothing_whatever_a_few_forged_ones_do() {
    let name = "matched";
    capture_log();
    let harness = Backend::Moka
        .start_with(|builder| builder.cookie_name(name))
        .await;
    let this_instance = CookieSealer::new(&harness.key, name, CookieContent::Signed);
    let forger = CookieSealer::new(&Key::generate(), name, CookieContent::Signed);
    send_sealed(&harness, name, &this_instance, 30).await;
    send_sealed(&harness, name, &forger, 25).await;
    assert_eq!(logged(name, "WARN"), Vec::<String>::new());
}
