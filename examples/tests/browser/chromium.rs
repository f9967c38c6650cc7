//! Headless Chromium under a chromedriver of the test's own, each browser in a fresh profile.

use std::env;
use std::net::TcpStream;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use fantoccini::ClientBuilder;
use fantoccini::wd::Capabilities;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

use crate::common::free_port;
use crate::page::Browser;

/// Where Debian's `chromium` package puts the browser.
const CHROMIUM: &str = "/usr/bin/chromium";
/// How to get both programs on Debian or Ubuntu.
const INSTALL: &str = "apt-get install chromium chromium-driver";
/// A browser that talks to nothing but the app under test, and runs as root.
const FLAGS: [&str; 8] = [
    "--headless=new",
    "--disable-background-networking",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-sync",
    "--disable-component-update",
    "--disable-extensions",
    "--no-sandbox",
];

/// A chromedriver process, with every browser it started, stopped on drop.
pub(crate) struct Chromedriver {
    child: Child,
    port: u16,
}

impl Chromedriver {
    /// Starts chromedriver on a free port. Where Chromium or chromedriver is not installed, says
    /// so on stderr and returns `None`, so that `test` can skip; under `CI=true` it fails instead.
    pub(crate) fn start_or_skip(test: &str) -> Option<Self> {
        let Some(chromedriver) = find_chromedriver() else {
            return skip(test, "chromedriver");
        };
        if !Path::new(CHROMIUM).exists() {
            return skip(test, CHROMIUM);
        }
        Some(Self::start(&chromedriver))
    }

    fn start(program: &Path) -> Self {
        let port = free_port();
        let child = Command::new(program)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // A group of its own, so that a failed test can stop the browsers with the driver.
            .process_group(0)
            .spawn()
            .expect("start chromedriver");
        let driver = Self { child, port };
        driver.wait_until_listening();
        driver
    }

    fn wait_until_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Opens a headless Chromium in a fresh profile, which saves its screenshots as
    /// `<screenshots>/<name>.png`.
    pub(crate) async fn open(&self, screenshots: &Path) -> Browser {
        let profile = tempfile::tempdir().expect("a profile directory");
        let mut args: Vec<String> = FLAGS.iter().map(|flag| (*flag).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let mut capabilities = Capabilities::new();
        let options = json!({ "binary": CHROMIUM, "args": args });
        capabilities.insert("goog:chromeOptions".to_owned(), options);
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("Chromium starts under chromedriver");
        Browser::new(client, profile, screenshots.to_owned())
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // A test that closed its browsers leaves only the driver; one that failed midway also
        // leaves the browsers, which share the driver's process group.
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

/// chromedriver on the `PATH`.
fn find_chromedriver() -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|directory| directory.join("chromedriver"))
        .find(|candidate| candidate.is_file())
}

/// Says on stderr that `test` skips because `missing` is not installed; under `CI=true`, fails.
fn skip(test: &str, missing: &str) -> Option<Chromedriver> {
    assert!(
        env::var("CI").as_deref() != Ok("true"),
        "{missing} is not installed, and CI must run the browser test: `{INSTALL}`"
    );
    eprintln!("{test}: skipped: {missing} is not installed (`{INSTALL}` to run it)");
    None
}
