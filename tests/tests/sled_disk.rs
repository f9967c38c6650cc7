//! What a sled directory that cannot serve tells the person running the app: a directory another
//! process holds, one on a read-only file system, and a disk that fills up while serving.
//!
//! The file-system tests mount a small tmpfs of their own, which needs root (as CI has); where the
//! mount fails they are skipped, saying so on stderr.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use actix_web::cookie::Key;
use actix_web::http::StatusCode;
use kv_sessions::SledStore;
use kv_sessions_tests::{AnyStore, Harness, capture_log};

/// A `session_server` process serving over the sled directory `dir`.
fn session_server(dir: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_session_server"))
        .arg(dir)
        .arg("periodic")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start session_server")
}

/// What `SledStore::open(path)` says when it fails.
fn open_error(path: &Path) -> String {
    match SledStore::open(path) {
        Ok(_) => panic!("{path:?} opened"),
        Err(error) => format!("{error:?}"),
    }
}

#[test]
fn a_directory_open_in_another_process_says_so_in_both_processes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sessions.sled");
    let mut holder = session_server(&path);
    let mut line = String::new();
    BufReader::new(holder.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read");
    assert!(line.starts_with("listening on "), "{line}");

    let expected = format!(
        "the sled directory {path:?} is already open in another process: stop that process, or \
         give this one a directory of its own"
    );
    let here = open_error(&path);
    assert!(here.contains(&expected), "{here}");

    let second = session_server(&path)
        .wait_with_output()
        .expect("run session_server");
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains(&expected), "{stderr}");

    holder.kill().expect("stop session_server");
    holder.wait().expect("reap session_server");
}

/// A tmpfs mounted for one test, lazily unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// A tmpfs mounted with `options`, or `None`, saying on stderr that `test` is skipped, where
    /// this process may not mount.
    fn mount(options: &str, test: &str) -> Option<Self> {
        let dir = tempfile::tempdir().expect("temp dir");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::piped())
            .output();
        match mounted {
            Ok(output) if output.status.success() => Some(Self { dir }),
            Ok(output) => {
                let why = String::from_utf8_lossy(&output.stderr);
                eprintln!(
                    "skipping {test}: cannot mount a tmpfs here ({})",
                    why.trim()
                );
                None
            }
            Err(error) => {
                eprintln!("skipping {test}: cannot run mount ({error})");
                None
            }
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
        if !unmounted.is_ok_and(|status| status.success()) {
            eprintln!("could not unmount the tmpfs at {:?}", self.dir.path());
        }
    }
}

#[test]
fn a_read_only_file_system_names_the_directory_and_the_cause() {
    let test = "a_read_only_file_system_names_the_directory_and_the_cause";
    let Some(disk) = Tmpfs::mount("ro,size=1m", test) else {
        return;
    };
    let path = disk.path().join("sessions.sled");
    assert_eq!(
        open_error(&path),
        format!(
            "could not open the sled directory {path:?}: Read-only file system (os error 30). \
             The app needs a directory it can create, read and write, on a disk with free space"
        )
    );
}

/// A save that finds the disk full fails its request with the opaque 500 of every store
/// failure; the log gets the cause.
#[actix_rt::test]
async fn a_full_disk_fails_the_save_with_an_opaque_500_and_the_cause_in_the_log() {
    let test = "a_full_disk_fails_the_save_with_an_opaque_500_and_the_cause_in_the_log";
    let Some(disk) = Tmpfs::mount("size=2m", test) else {
        return;
    };
    let log = capture_log();
    let sled = SledStore::open(disk.path().join("sessions.sled")).expect("open");
    let store = AnyStore::plain(sled.clone()).on_sled(sled);
    let dir = tempfile::tempdir().expect("temp dir");
    let harness = Harness::start(dir, store, Key::generate(), |builder| builder);

    let mut refused = None;
    for _ in 0..200 {
        let page = harness.browser().get("/big/60000").await;
        if page.status != StatusCode::OK {
            refused = Some(page);
            break;
        }
    }
    let page = refused.expect("the disk never filled up");
    assert_eq!(page.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(page.body, "Internal Server Error");
    let logged = log.lines_with("No space left on device");
    assert!(
        logged
            .iter()
            .any(|line| line.contains("ERROR") && line.contains("session error")),
        "{logged:#?}"
    );

    // sled 0.34, once a write has failed on a full disk, can wait for a minute or more in the
    // flush that dropping a store runs. The server and its store are left to end with the test
    // process instead; the tmpfs is unmounted lazily, once they have let go of it.
    std::mem::forget(harness);
    drop(disk);
}
