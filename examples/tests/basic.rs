//! Runs the `basic` example binary as a user would, over real HTTP and a real sled directory.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Instance, KEY, NO_VALUE};

/// Starts `basic` over the sled directory in `dir`, with `key` as `SESSION_KEY` if given.
fn start_basic(dir: &Path, key: Option<&str>) -> Instance {
    let db = dir.join("sessions.sled");
    let db = db.to_str().expect("a UTF-8 path");
    let mut settings = vec![("SESSIONS_DB", db)];
    settings.extend(key.map(|key| ("SESSION_KEY", key)));
    Instance::start(env!("CARGO_BIN_EXE_basic"), &settings)
}

#[test]
fn the_seed_flow_works_and_survives_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let basic = start_basic(dir.path(), Some(KEY));

    let first = basic.get("/", None);
    assert_eq!(first.status, 200);
    assert_eq!(first.body, NO_VALUE);
    assert_eq!(first.header("set-cookie"), None, "reading creates nothing");

    let set = basic.get("/set", None);
    assert_eq!(set.status, 303);
    assert_eq!(set.header("location"), Some("/"));
    let cookie = set.session_cookie().expect("session cookie");
    assert_eq!(basic.get("/", Some(&cookie)).body, "something");

    let stderr = basic.stop();
    assert!(!stderr.contains("SESSION_KEY is not set"), "{stderr}");

    let restarted = start_basic(dir.path(), Some(KEY));
    assert_eq!(restarted.get("/", Some(&cookie)).body, "something");
    restarted.stop();
}

#[test]
fn without_a_key_it_warns_that_sessions_will_not_survive_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let basic = start_basic(dir.path(), None);
    let cookie = basic.get("/set", None).session_cookie().expect("cookie");
    let stderr = basic.stop();
    assert!(
        stderr.contains("sessions will not survive a restart"),
        "{stderr}"
    );

    let restarted = start_basic(dir.path(), None);
    assert_eq!(restarted.get("/", Some(&cookie)).body, NO_VALUE);
    restarted.stop();
}

#[test]
fn a_bad_key_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (key, message) in [
        (
            "c2hvcnQ=",
            "SESSION_KEY decodes to 5 bytes; a session key needs at least 64",
        ),
        (
            "not base64!",
            "SESSION_KEY is neither hex nor base64 (found '!' at position 11)",
        ),
        (
            &"00".repeat(64),
            "SESSION_KEY repeats one 1-byte pattern, so anyone can guess it",
        ),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_basic"))
            .env("PORT", "0")
            .env("SESSIONS_DB", dir.path().join("sessions.sled"))
            .env("SESSION_KEY", key)
            .output()
            .expect("run basic");
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
