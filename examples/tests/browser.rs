//! Drives headless Chromium against the example apps, as a newcomer's browser would: through
//! chromedriver, over real HTTP, with real sled directories. Skipped, saying so, where Chromium
//! or chromedriver is not installed; under `CI=true` they must be.

#[path = "browser/chromium.rs"]
mod chromium;
mod common;
#[path = "browser/page.rs"]
mod page;

use std::path::{Path, PathBuf};

use chromium::Chromedriver;
use common::{Instance, KEY, NO_VALUE};
use page::Browser;

const BASIC: &str = env!("CARGO_BIN_EXE_basic");
/// Where the browser reaches the apps.
const HOST: &str = "127.0.0.1";

#[actix_rt::test]
async fn basic_keeps_a_value_set_in_the_browser_across_a_restart() {
    let test = "basic_keeps_a_value_set_in_the_browser_across_a_restart";
    let Some(chromedriver) = Chromedriver::start_or_skip(test) else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("sessions.sled");
    let settings = [
        ("SESSIONS_DB", db.to_str().expect("a UTF-8 path")),
        ("SESSION_KEY", KEY),
    ];
    let basic = Instance::start(BASIC, &settings);
    let browser = chromedriver.open(&screenshots(test)).await;

    browser.goto(&url(&basic, "/")).await;
    browser.expect_page("basic-no-value", "/", NO_VALUE).await;
    browser.goto(&url(&basic, "/set")).await;
    browser.expect_page("basic-set", "/", "something").await;
    expect_hidden_from_scripts(&browser, "SESSION_COOKIE").await;

    let basic = restart(basic, BASIC, &settings);
    browser.goto(&url(&basic, "/")).await;
    browser
        .expect_page("basic-after-restart", "/", "something")
        .await;
    browser.close().await;
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

/// Stops `instance` gracefully and starts `binary` again on the same port with `settings`.
fn restart(instance: Instance, binary: &str, settings: &[(&str, &str)]) -> Instance {
    let port = instance.port.to_string();
    instance.stop();
    let mut settings = settings.to_vec();
    settings.push(("PORT", &port));
    Instance::start(binary, &settings)
}

/// The address of `path` on `instance`.
fn url(instance: &Instance, path: &str) -> String {
    format!("http://{HOST}:{}{path}", instance.port)
}

/// Where `test` saves its screenshots, said on stderr.
fn screenshots(test: &str) -> PathBuf {
    let directory = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser");
    eprintln!("{test}: screenshots in {}", directory.display());
    directory
}
