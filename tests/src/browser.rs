//! An HTTP client that keeps the session cookie the way a browser does.

use actix_test::TestServer;
use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::http::header::{COOKIE, LOCATION, SET_COOKIE};
use kv_sessions::SessionId;

use crate::app::ListedSession;

/// What came back for one request.
#[derive(Debug)]
pub struct Page {
    /// The status.
    pub status: StatusCode,
    /// The body, as text.
    pub body: String,
    /// The `Location` header, for redirects.
    pub location: Option<String>,
    /// Every `Set-Cookie` header, parsed.
    pub set_cookies: Vec<Cookie<'static>>,
}

impl Page {
    /// The `Set-Cookie` for `name`, if the response sent one.
    pub fn cookie(&self, name: &str) -> Option<&Cookie<'static>> {
        self.set_cookies.iter().find(|cookie| cookie.name() == name)
    }
}

/// A client with one cookie jar slot, for the session cookie.
pub struct Browser<'s> {
    server: &'s TestServer,
    name: String,
    value: Option<String>,
}

impl<'s> Browser<'s> {
    /// A browser with no cookie, for the session cookie `name`.
    pub fn new(server: &'s TestServer, name: &str) -> Self {
        Self {
            server,
            name: name.to_owned(),
            value: None,
        }
    }

    /// The session cookie's value as the browser holds it.
    pub fn cookie_value(&self) -> Option<&str> {
        self.value.as_deref()
    }

    /// Sends later requests to `server`, keeping the cookie: a client that a load balancer moves
    /// to another instance of the app.
    pub fn hop_to(&mut self, server: &'s TestServer) {
        self.server = server;
    }

    /// Replaces the held cookie value, as a user tampering with it would.
    pub fn set_cookie_value(&mut self, value: Option<String>) {
        self.value = value;
    }

    /// Sends `GET path` with the held cookie and applies the response's `Set-Cookie`.
    pub async fn get(&mut self, path: &str) -> Page {
        let mut request = self.server.get(path);
        if let Some(value) = &self.value {
            request = request.insert_header((COOKIE, format!("{}={}", self.name, value)));
        }
        let page = send(request).await;
        self.receive(&page);
        page
    }

    /// Signs in as `user` from a device called `label`, as a login handler does (a renewal,
    /// then a bind, and the user's name under `user`), and returns the session's new id.
    ///
    /// # Panics
    /// Where the login fails.
    pub async fn log_in(&mut self, user: &str, label: &str) -> SessionId {
        let login = self
            .get(&format!("/renew?then=bind:{user}:{label},put:user:{user}"))
            .await;
        assert_eq!(login.status, StatusCode::OK, "login: {}", login.body);
        self.get("/id")
            .await
            .body
            .parse()
            .expect("the login's session id")
    }

    /// The sessions of `user`, as this browser's request lists them.
    ///
    /// # Panics
    /// Where the listing fails.
    pub async fn sessions_of(&mut self, user: &str) -> Vec<ListedSession> {
        let page = self.get(&format!("/sessions/{user}")).await;
        assert_eq!(page.status, StatusCode::OK, "listing: {}", page.body);
        serde_json::from_str(&page.body).expect("a JSON list of sessions")
    }

    /// Applies the `Set-Cookie` of `page`, as a browser does when a response reaches it: a test
    /// that sent requests on its own can deliver their answers in the order it chooses.
    pub fn receive(&mut self, page: &Page) {
        if let Some(cookie) = page.cookie(&self.name) {
            let removed = cookie.max_age().is_some_and(|age| age.is_zero());
            self.value = (!removed).then(|| cookie.value().to_owned());
        }
    }
}

/// Sends a request and collects the response.
pub async fn send(request: awc::ClientRequest) -> Page {
    let mut response = request.send().await.expect("request");
    let set_cookies = response
        .headers()
        .get_all(SET_COOKIE)
        .map(|value| Cookie::parse(value.to_str().expect("ascii").to_owned()).expect("cookie"))
        .collect();
    let location = response
        .headers()
        .get(LOCATION)
        .map(|value| value.to_str().expect("ascii").to_owned());
    let body = response.body().await.expect("body");
    Page {
        status: response.status(),
        body: String::from_utf8(body.to_vec()).expect("utf-8 body"),
        location,
        set_cookies,
    }
}
