//! Drives headless Chromium against the example apps, as a newcomer's browser would: through
//! chromedriver, over real HTTP, with real sled directories; and against a test page whose
//! sign-in races the page's own requests. Skipped, saying so, where Chromium or chromedriver is
//! not installed; under `CI=true` they must be.
//!
//! Every checked page is saved as a PNG under `<CARGO_TARGET_TMPDIR>/browser/`.

#[path = "browser/chromium.rs"]
mod chromium;
mod common;
#[path = "browser/page.rs"]
mod page;
#[path = "browser/parallel_login.rs"]
mod parallel_login;

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use chromium::Chromedriver;
use common::{Instance, KEY, NO_VALUE};
use page::Browser;
use tempfile::TempDir;

const BASIC: &str = env!("CARGO_BIN_EXE_basic");
const AUTH: &str = env!("CARGO_BIN_EXE_auth");
/// Where the browser reaches the apps. Chromium counts 127.0.0.1 as a secure origin, so it keeps
/// the `Secure` session cookies that the apps send over plain HTTP.
const HOST: &str = "127.0.0.1";
/// The `auth` example's session cookie.
const AUTH_COOKIE: &str = "session";
/// How long a remembered session lasts, in seconds.
const THIRTY_DAYS: u64 = 30 * 24 * 60 * 60;

#[actix_rt::test]
async fn basic_keeps_a_value_set_in_the_browser_across_a_restart() {
    let test = "basic_keeps_a_value_set_in_the_browser_across_a_restart";
    let Some(chromedriver) = Chromedriver::start_or_skip(test) else {
        return;
    };
    let basic = App::start(BASIC);
    let browser = chromedriver.open(&screenshots(test)).await;

    browser.goto(&basic.url("/")).await;
    browser.expect_page("basic-no-value", "/", NO_VALUE).await;
    browser.goto(&basic.url("/set")).await;
    browser.expect_page("basic-set", "/", "something").await;
    expect_hidden_from_scripts(&browser, "SESSION_COOKIE").await;

    let basic = basic.restart();
    browser.goto(&basic.url("/")).await;
    browser
        .expect_page("basic-after-restart", "/", "something")
        .await;
    browser.close().await;
}

#[actix_rt::test]
async fn auth_signs_in_through_the_form_for_the_browser_session_and_out_again() {
    let test = "auth_signs_in_through_the_form_for_the_browser_session_and_out_again";
    let Some(chromedriver) = Chromedriver::start_or_skip(test) else {
        return;
    };
    let auth = App::start(AUTH);
    let browser = chromedriver.open(&screenshots(test)).await;

    browser.goto(&auth.url("/account")).await;
    browser
        .expect_page("auth-anonymous-account", "/login", "Sign in")
        .await;
    sign_in(&browser, "not-the-password", false).await;
    browser
        .expect_page(
            "auth-wrong-password",
            "/login",
            "Wrong username or password",
        )
        .await;
    assert_eq!(
        browser.text_of("#error").await,
        "Wrong username or password."
    );

    sign_in(&browser, "wonderland", false).await;
    browser
        .expect_page("auth-account", "/account", "Signed in as alice")
        .await;
    let cookie = browser.cookie(AUTH_COOKIE).await.expect("a session cookie");
    assert_eq!(
        cookie.expires_datetime(),
        None,
        "without \"remember me\", a cookie for this browser session only: {cookie:?}"
    );
    expect_hidden_from_scripts(&browser, AUTH_COOKIE).await;

    browser.click("#sign-out").await;
    browser.expect_page("auth-signed-out", "/", "Welcome").await;
    assert!(
        browser.cookie(AUTH_COOKIE).await.is_none(),
        "cookie removed"
    );
    let replayed = format!("{AUTH_COOKIE}={}", cookie.value());
    let replay = auth.instance.get("/account", Some(&replayed));
    assert_eq!(replay.header("location"), Some("/login"), "session purged");
    browser.goto(&auth.url("/account")).await;
    browser
        .expect_page("auth-account-after-sign-out", "/login", "Sign in")
        .await;
    browser.close().await;
}

#[actix_rt::test]
async fn auth_remember_me_keeps_the_cookie_for_thirty_days() {
    let test = "auth_remember_me_keeps_the_cookie_for_thirty_days";
    let Some(chromedriver) = Chromedriver::start_or_skip(test) else {
        return;
    };
    let auth = App::start(AUTH);
    let browser = chromedriver.open(&screenshots(test)).await;

    browser.goto(&auth.url("/login")).await;
    sign_in(&browser, "wonderland", true).await;
    browser
        .expect_page("auth-remembered", "/account", "Signed in as alice")
        .await;
    let cookie = browser.cookie(AUTH_COOKIE).await.expect("a session cookie");
    let expiry = cookie
        .expires_datetime()
        .map(|expiry| expiry.unix_timestamp());
    let thirty_days_ahead = unix_now() + THIRTY_DAYS;
    assert!(
        expiry.is_some_and(|expiry| expiry.abs_diff(thirty_days_ahead.cast_signed()) < 120),
        "expected an expiry about {thirty_days_ahead} (30 days ahead): {cookie:?}"
    );
    browser.close().await;
}

#[actix_rt::test]
async fn auth_a_second_profile_does_not_see_the_first_ones_session() {
    let test = "auth_a_second_profile_does_not_see_the_first_ones_session";
    let Some(chromedriver) = Chromedriver::start_or_skip(test) else {
        return;
    };
    let auth = App::start(AUTH);
    let first = chromedriver.open(&screenshots(test)).await;
    first.goto(&auth.url("/login")).await;
    sign_in(&first, "wonderland", false).await;
    first
        .expect_page("auth-first-profile", "/account", "Signed in as alice")
        .await;

    let second = chromedriver.open(&screenshots(test)).await;
    second.goto(&auth.url("/account")).await;
    second
        .expect_page("auth-second-profile", "/login", "Sign in")
        .await;
    assert!(second.cookie(AUTH_COOKIE).await.is_none());

    first.goto(&auth.url("/account")).await;
    first
        .expect_page("auth-first-profile-again", "/account", "Signed in as alice")
        .await;
    second.close().await;
    first.close().await;
}

#[actix_rt::test]
async fn auth_signs_out_another_profile_from_the_sessions_page() {
    let test = "auth_signs_out_another_profile_from_the_sessions_page";
    let Some(chromedriver) = Chromedriver::start_or_skip(test) else {
        return;
    };
    let auth = App::start(AUTH);
    let first = chromedriver.open(&screenshots(test)).await;
    let second = chromedriver.open(&screenshots(test)).await;
    for browser in [&first, &second] {
        browser.goto(&auth.url("/login")).await;
        sign_in(browser, "wonderland", false).await;
        browser
            .expect_page("sessions-signed-in", "/account", "Signed in as alice")
            .await;
    }

    first.goto(&auth.url("/sessions")).await;
    first
        .expect_page("sessions-two-devices", "/sessions", "on 2 device(s)")
        .await;
    assert_eq!(first.text_of(".current").await, "This device");
    first.click(".sign-out-device").await;
    first
        .expect_page("sessions-one-device", "/sessions", "on 1 device(s)")
        .await;

    second.goto(&auth.url("/account")).await;
    second
        .expect_page("sessions-signed-out-profile", "/login", "Sign in")
        .await;
    first.goto(&auth.url("/account")).await;
    first
        .expect_page("sessions-still-signed-in", "/account", "Signed in as alice")
        .await;
    second.close().await;
    first.close().await;
}

#[actix_rt::test]
async fn a_sign_in_survives_the_pages_parallel_fetches_that_answer_after_it() {
    let test = "a_sign_in_survives_the_pages_parallel_fetches_that_answer_after_it";
    let Some(chromedriver) = Chromedriver::start_or_skip(test) else {
        return;
    };
    let app = parallel_login::start();
    let browser = chromedriver.open(&screenshots(test)).await;

    browser.goto(&app.url("/")).await;
    browser.expect_page("parallel-cart", "/", "3 items").await;
    let anonymous = browser.cookie("session").await.expect("a session cookie");

    browser.goto(&app.url("/login")).await;
    sign_in(&browser, "wonderland", false).await;
    browser
        .expect_page("parallel-account", "/account", "Signed in as alice")
        .await;
    let signed_in = browser.cookie("session").await.expect("a session cookie");
    assert_ne!(
        signed_in.value(),
        anonymous.value(),
        "the sign-in moved the session to a new id, and none of the {} fragments that came \
         back after it with the old one took the cookie away",
        parallel_login::FRAGMENTS
    );
    browser.close().await;
}

/// An example app on a sled directory of its own, with a fixed `SESSION_KEY`.
struct App {
    instance: Instance,
    binary: &'static str,
    dir: TempDir,
}

impl App {
    fn start(binary: &'static str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let instance = Self::run(binary, &dir, None);
        Self {
            instance,
            binary,
            dir,
        }
    }

    /// Stops the app gracefully, which flushes its sessions to disk, and starts it again on the
    /// same port, directory and key.
    fn restart(self) -> Self {
        let port = self.instance.port;
        self.instance.stop();
        let instance = Self::run(self.binary, &self.dir, Some(port));
        Self { instance, ..self }
    }

    fn run(binary: &str, dir: &TempDir, port: Option<u16>) -> Instance {
        let db = dir.path().join("sessions.sled");
        let db = db.to_str().expect("a UTF-8 path");
        let port = port.map(|port| port.to_string());
        let mut settings = vec![("SESSIONS_DB", db), ("SESSION_KEY", KEY)];
        settings.extend(port.as_deref().map(|port| ("PORT", port)));
        Instance::start(binary, &settings)
    }

    /// The address of `path` on this app.
    fn url(&self, path: &str) -> String {
        format!("http://{HOST}:{}{path}", self.instance.port)
    }
}

/// Fills the sign-in form on the page as alice, with `password`, and sends it.
async fn sign_in(browser: &Browser, password: &str, remember: bool) {
    browser.fill("#username", "alice").await;
    browser.fill("#password", password).await;
    if remember {
        browser.click("#remember").await;
    }
    browser.click("#sign-in").await;
}

/// Checks that the browser holds the cookie `name`, and that the page's scripts cannot read it.
async fn expect_hidden_from_scripts(browser: &Browser, name: &str) {
    let cookie = browser.cookie(name).await;
    assert!(
        cookie
            .as_ref()
            .is_some_and(|cookie| cookie.http_only() == Some(true)),
        "the browser holds {name} as an HttpOnly cookie: {cookie:?}"
    );
    let visible = browser.script_cookies().await;
    assert!(
        !visible.contains(&format!("{name}=")),
        "document.cookie shows {name}: {visible:?}"
    );
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs()
}

/// Where `test` saves its screenshots, said on stderr.
fn screenshots(test: &str) -> PathBuf {
    let directory = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser");
    eprintln!("{test}: screenshots in {}", directory.display());
    directory
}
