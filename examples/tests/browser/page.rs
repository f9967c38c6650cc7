//! One Chromium profile driven over WebDriver: waits with a deadline instead of sleeps,
//! expectations that fail with the page's URL and text, and a screenshot of every checked page.

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use fantoccini::cookies::Cookie;
use fantoccini::elements::Element;
use fantoccini::error::CmdError;
use fantoccini::{Client, Locator};
use tempfile::TempDir;

/// How long a page may take to get where a check expects it.
const DEADLINE: Duration = Duration::from_secs(10);
/// How much of the page's text a failure quotes.
const SNIPPET: usize = 400;

/// A browser window in a profile of its own, which goes away with it.
pub(crate) struct Browser {
    client: Client,
    screenshots: PathBuf,
    // Declared after the client: the profile directory outlives the browser that uses it.
    _profile: TempDir,
}

/// Where a page is and what it says, as a failure reports it.
struct Seen {
    url: String,
    path: String,
    text: String,
}

impl Browser {
    /// Wraps a WebDriver session of Chromium running in `profile`.
    pub(super) fn new(client: Client, profile: TempDir, screenshots: PathBuf) -> Self {
        Self {
            client,
            screenshots,
            _profile: profile,
        }
    }

    /// Loads `url` and waits for it, redirects included.
    pub(crate) async fn goto(&self, url: &str) {
        if let Err(error) = self.client.goto(url).await {
            panic!("could not load {url}: {error}");
        }
    }

    /// Waits until the page is at `path` and shows `text`, then saves it as `<check>.png`. Past
    /// the deadline, saves what is there instead and fails with the URL and the page's text.
    pub(crate) async fn expect_page(&self, check: &str, path: &str, text: &str) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let seen = self.seen().await;
            let arrived = seen.path == path && seen.text.contains(text);
            if arrived || Instant::now() > deadline {
                self.screenshot(check).await;
                assert!(
                    arrived,
                    "{check}: expected {path} showing {text:?}, but {}",
                    seen.describe()
                );
                return;
            }
            actix_rt::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Types `text` into the field matched by `css`.
    pub(crate) async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        if let Err(error) = field.send_keys(text).await {
            panic!("could not type into {css}: {error}");
        }
    }

    /// Clicks the element matched by `css`.
    pub(crate) async fn click(&self, css: &str) {
        let element = self.find(css).await;
        if let Err(error) = element.click().await {
            panic!("could not click {css}: {error}");
        }
    }

    /// The text of the element matched by `css`.
    pub(crate) async fn text_of(&self, css: &str) -> String {
        let element = self.find(css).await;
        element
            .text()
            .await
            .unwrap_or_else(|error| panic!("could not read {css}: {error}"))
    }

    /// The cookie called `name` in the browser's jar for the current page, as WebDriver reports
    /// it: HttpOnly cookies included.
    pub(crate) async fn cookie(&self, name: &str) -> Option<Cookie<'static>> {
        let cookies = self
            .client
            .get_all_cookies()
            .await
            .expect("the browser's cookies");
        cookies.into_iter().find(|cookie| cookie.name() == name)
    }

    /// `document.cookie`, as the page's own scripts see it.
    pub(crate) async fn script_cookies(&self) -> String {
        self.script("return document.cookie")
            .await
            .unwrap_or_else(|error| panic!("could not read document.cookie: {error}"))
    }

    /// Ends the WebDriver session, which closes the browser.
    pub(crate) async fn close(self) {
        self.client.close().await.expect("close the browser");
    }

    async fn find(&self, css: &str) -> Element {
        match self.client.find(Locator::Css(css)).await {
            Ok(element) => element,
            Err(error) => panic!("no {css} ({error}): {}", self.seen().await.describe()),
        }
    }

    /// Where the page is and what it says. A page caught mid-navigation may not answer; it is
    /// then described as such, and a waiting check looks again.
    async fn seen(&self) -> Seen {
        let (url, path) = match self.client.current_url().await {
            Ok(url) => (url.to_string(), url.path().to_owned()),
            Err(error) => (format!("an unknown URL ({error})"), String::new()),
        };
        let text = self
            .script("return document.body ? document.body.innerText : ''")
            .await
            .unwrap_or_else(|error| format!("(unreadable: {error})"));
        Seen { url, path, text }
    }

    async fn script(&self, script: &str) -> Result<String, CmdError> {
        let value = self.client.execute(script, Vec::new()).await?;
        Ok(value.as_str().unwrap_or_default().to_owned())
    }

    async fn screenshot(&self, check: &str) {
        let png = self.client.screenshot().await.expect("a screenshot");
        fs::create_dir_all(&self.screenshots).expect("the screenshot directory");
        let file = self.screenshots.join(format!("{check}.png"));
        fs::write(&file, png).unwrap_or_else(|error| panic!("write {}: {error}", file.display()));
    }
}

impl Seen {
    fn describe(&self) -> String {
        let text: String = self.text.split_whitespace().collect::<Vec<_>>().join(" ");
        let snippet: String = text.chars().take(SNIPPET).collect();
        format!("the page at {} shows: {snippet:?}", self.url)
    }
}
