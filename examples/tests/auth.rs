//! Runs the `auth` example binary as a browser would use it, over real HTTP and a real sled
//! directory: sign in, the guarded account page, "remember me", and sign out.

mod common;

use std::path::{Path, PathBuf};

use actix_web::cookie::Key;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::{Instance, KEY, Response};
use kv_sessions::test_util::CookieSealer;
use kv_sessions::{
    Changes, CookieContent, Record, SessionId, SessionPolicy, SessionStore, SledStore,
};
use tempfile::TempDir;

/// Thirty days in seconds: the `Max-Age` of a remembered session.
const THIRTY_DAYS: u64 = 30 * 24 * 60 * 60;

/// A running `auth` app and the directory of its sessions.
struct Auth {
    app: Instance,
    dir: TempDir,
}

impl Auth {
    fn start() -> Self {
        Self::start_in(tempfile::tempdir().expect("temp dir"))
    }

    /// Starts the app on the sessions already in `dir`.
    fn start_in(dir: TempDir) -> Self {
        let db = Self::db(dir.path());
        let db = db.to_str().expect("a UTF-8 path");
        let app = Instance::start(
            env!("CARGO_BIN_EXE_auth"),
            &[("SESSIONS_DB", db), ("SESSION_KEY", KEY)],
        );
        Self { app, dir }
    }

    /// The sled directory the app keeps its sessions in, inside `dir`.
    fn db(dir: &Path) -> PathBuf {
        dir.join("auth-sessions.sled")
    }

    /// Stops the app and reads, straight from its sled directory, the session that `cookie`
    /// names.
    async fn stored(self, cookie: &str) -> Record {
        self.app.stop();
        let value = cookie.strip_prefix("session=").expect("a session cookie");
        let id = sealer().open(value).expect("a cookie the app sealed");
        let store = SledStore::open(Self::db(self.dir.path())).expect("open the app's sessions");
        store
            .load(&id)
            .await
            .expect("load")
            .expect("a live session")
    }

    /// Posts the sign-in form, with the browser's `cookie` if it holds one.
    fn sign_in(
        &self,
        cookie: Option<&str>,
        user: &str,
        password: &str,
        remember: bool,
    ) -> Response {
        let mut form = format!("username={user}&password={password}");
        if remember {
            form.push_str("&remember=on");
        }
        self.app.post("/login", cookie, &form)
    }

    /// Signs in and returns the session cookie's `name=value` pair.
    fn signed_in(&self, user: &str, password: &str) -> String {
        let response = self.sign_in(None, user, password, false);
        assert_eq!(response.status, 303, "{}", response.body);
        response.cookie("session").expect("a session cookie")
    }

    /// Whether `cookie` opens the account page.
    fn opens_the_account(&self, cookie: &str) -> bool {
        self.app.get("/account", Some(cookie)).status == 200
    }
}

#[test]
fn an_anonymous_visitor_is_offered_the_sign_in_form() {
    let auth = Auth::start();
    let home = auth.app.get("/", None);
    assert_eq!(home.status, 200);
    assert!(
        home.body.contains(r#"<a href="/login">Sign in</a>"#),
        "{}",
        home.body
    );

    let form = auth.app.get("/login", None);
    assert_eq!(form.status, 200);
    for part in [
        r#"<form method="post" action="/login">"#,
        r#"<input name="username" id="username">"#,
        r#"<input type="password" name="password" id="password">"#,
        r#"<input type="checkbox" name="remember" id="remember" value="on">"#,
        "Remember me for 30 days",
        r#"<button type="submit" id="sign-in">Sign in</button>"#,
    ] {
        assert!(form.body.contains(part), "{part} in {}", form.body);
    }
    assert_eq!(
        form.header("set-cookie"),
        None,
        "showing pages stores nothing"
    );
}

#[test]
fn the_account_page_sends_an_anonymous_visitor_to_sign_in() {
    let auth = Auth::start();
    let account = auth.app.get("/account", None);
    assert_eq!(account.status, 303);
    assert_eq!(account.header("location"), Some("/login"));
}

#[test]
fn a_wrong_password_or_an_unknown_user_is_refused_and_stores_nothing() {
    let auth = Auth::start();
    for (user, password) in [
        ("alice", "builder"),
        ("alice", "wonderlan"),
        ("carol", "wonderland"),
    ] {
        let refused = auth.sign_in(None, user, password, true);
        assert_eq!(refused.status, 401, "{user}/{password}");
        assert!(
            refused
                .body
                .contains(r#"<p id="error">Wrong username or password.</p>"#),
            "{}",
            refused.body
        );
        assert!(
            refused
                .body
                .contains(r#"<form method="post" action="/login">"#)
        );
        assert_eq!(refused.header("set-cookie"), None, "no session is stored");
    }
}

#[test]
fn signing_in_opens_the_account_page_and_names_the_user() {
    let auth = Auth::start();
    let signed_in = auth.sign_in(None, "alice", "wonderland", false);
    assert_eq!(signed_in.status, 303);
    assert_eq!(signed_in.header("location"), Some("/account"));
    let cookie = signed_in.cookie("session").expect("a session cookie");

    let account = auth.app.get("/account", Some(&cookie));
    assert_eq!(account.status, 200);
    assert!(
        account.body.contains("<h1>Account</h1>"),
        "{}",
        account.body
    );
    assert!(
        account.body.contains("Signed in as alice"),
        "{}",
        account.body
    );
    assert!(
        account.body.contains(
            r#"<form method="post" action="/logout"><button type="submit" id="sign-out">Sign out</button></form>"#
        ),
        "{}",
        account.body
    );

    let home = auth.app.get("/", Some(&cookie));
    assert!(home.body.contains("Signed in as alice"), "{}", home.body);
    assert!(
        home.body.contains(r#"<a href="/account">"#),
        "{}",
        home.body
    );
}

#[test]
fn signing_in_moves_the_session_to_a_new_id_and_the_planted_one_dies() {
    let auth = Auth::start();
    // An attacker signs in as bob and plants that cookie in alice's browser.
    let planted = auth.signed_in("bob", "builder");
    let signed_in = auth.sign_in(Some(&planted), "alice", "wonderland", false);
    assert_eq!(signed_in.status, 303);
    let cookie = signed_in.cookie("session").expect("a new cookie");
    assert_ne!(cookie, planted, "the id changes on sign-in");

    let account = auth.app.get("/account", Some(&cookie));
    assert!(
        account.body.contains("Signed in as alice"),
        "{}",
        account.body
    );
    assert!(
        !auth.opens_the_account(&planted),
        "the planted id no longer opens any session"
    );
}

#[test]
fn without_remember_me_the_cookie_ends_with_the_browser() {
    let auth = Auth::start();
    let signed_in = auth.sign_in(None, "bob", "builder", false);
    let set_cookie = signed_in.set_cookie("session").expect("a session cookie");
    assert!(!set_cookie.contains("Max-Age"), "{set_cookie}");
    assert!(!set_cookie.contains("Expires"), "{set_cookie}");
}

#[test]
fn remember_me_keeps_the_cookie_for_thirty_days() {
    let auth = Auth::start();
    let signed_in = auth.sign_in(None, "bob", "builder", true);
    let set_cookie = signed_in.set_cookie("session").expect("a session cookie");
    let max_age = max_age(set_cookie).expect("a Max-Age");
    assert!(
        (THIRTY_DAYS - 5..=THIRTY_DAYS).contains(&max_age),
        "{set_cookie}"
    );
    assert!(set_cookie.contains("Expires="), "{set_cookie}");
}

#[test]
fn signing_in_again_without_remember_me_forgets_the_thirty_days() {
    let auth = Auth::start();
    let remembered = auth
        .sign_in(None, "bob", "builder", true)
        .cookie("session")
        .expect("a session cookie");
    let again = auth.sign_in(Some(&remembered), "bob", "builder", false);
    let set_cookie = again.set_cookie("session").expect("a session cookie");
    assert!(!set_cookie.contains("Max-Age"), "{set_cookie}");
}

#[test]
fn signing_out_removes_the_cookie_and_the_old_cookie_stays_signed_out() {
    let auth = Auth::start();
    let cookie = auth.signed_in("alice", "wonderland");

    let signed_out = auth.app.post("/logout", Some(&cookie), "");
    assert_eq!(signed_out.status, 303);
    assert_eq!(signed_out.header("location"), Some("/"));
    let removal = signed_out.set_cookie("session").expect("a removal cookie");
    assert!(removal.contains("Max-Age=0"), "{removal}");

    assert!(
        !auth.opens_the_account(&cookie),
        "a replayed cookie is anonymous"
    );
    let home = auth.app.get("/", Some(&cookie));
    assert!(
        home.body.contains(r#"<a href="/login">Sign in</a>"#),
        "{}",
        home.body
    );
}

#[actix_rt::test]
async fn signing_in_keeps_none_of_the_values_of_the_session_it_renews() {
    // An attacker's session, holding a value of its own, planted in the victim's browser before
    // the app starts.
    let dir = tempfile::tempdir().expect("temp dir");
    let planted = SessionId::generate();
    let store = SledStore::open(Auth::db(dir.path())).expect("open a sled directory");
    let mut changes = Changes::new(SessionPolicy::default());
    changes
        .insert("auth.role", "admin")
        .expect("a string serializes");
    store.create(&planted, &changes).await.expect("create");
    store.flush().await.expect("flush");
    drop(store);
    let planted = format!("session={}", sealer().seal(planted));

    let auth = Auth::start_in(dir);
    let signed_in = auth.sign_in(Some(&planted), "alice", "wonderland", false);
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    let cookie = signed_in.cookie("session").expect("a new cookie");
    assert_ne!(cookie, planted, "the id changes on sign-in");

    let record = auth.stored(&cookie).await;
    assert_eq!(
        record.entries().collect::<Vec<_>>(),
        [("auth.user", r#""alice""#)],
        "the planted value is gone"
    );
}

#[test]
fn the_sessions_page_sends_an_anonymous_visitor_to_sign_in() {
    let auth = Auth::start();
    for response in [
        auth.app.get("/sessions", None),
        auth.app.post("/sessions/revoke-others", None, ""),
    ] {
        assert_eq!(response.status, 303);
        assert_eq!(response.header("location"), Some("/login"));
    }
}

#[test]
fn your_sessions_lists_every_device_of_the_user_and_signs_one_out() {
    let auth = Auth::start();
    let laptop = auth.signed_in("alice", "wonderland");
    let phone = auth.signed_in("alice", "wonderland");
    let bobs = auth.signed_in("bob", "builder");

    let page = auth.app.get("/sessions", Some(&laptop));
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        page.body.matches(r#"<tr class="session">"#).count(),
        2,
        "{}",
        page.body
    );
    assert_eq!(page.body.matches("This device").count(), 1, "{}", page.body);
    let handles = handles(&page.body);
    assert_eq!(handles.len(), 1, "one other device: {}", page.body);

    let revoked = auth.app.post(
        "/sessions/revoke",
        Some(&laptop),
        &format!("handle={}", handles[0]),
    );
    assert_eq!(revoked.status, 303, "{}", revoked.body);
    assert_eq!(revoked.header("location"), Some("/sessions"));
    assert!(!auth.opens_the_account(&phone), "the phone is signed out");
    assert!(
        auth.opens_the_account(&laptop),
        "the laptop stays signed in"
    );
    assert!(auth.opens_the_account(&bobs), "another user is untouched");
    let page = auth.app.get("/sessions", Some(&laptop));
    assert_eq!(
        page.body.matches(r#"<tr class="session">"#).count(),
        1,
        "{}",
        page.body
    );
}

#[test]
fn a_handle_of_another_users_session_signs_nothing_out() {
    let auth = Auth::start();
    let alices = auth.signed_in("alice", "wonderland");
    let alices_other = auth.signed_in("alice", "wonderland");
    let bobs = auth.signed_in("bob", "builder");
    let alices_handles = handles(&auth.app.get("/sessions", Some(&alices)).body);

    let attempt = auth.app.post(
        "/sessions/revoke",
        Some(&bobs),
        &format!("handle={}", alices_handles[0]),
    );
    assert_eq!(attempt.status, 303, "{}", attempt.body);
    assert!(
        auth.opens_the_account(&alices_other),
        "alice's session survives bob's form"
    );

    let garbage = auth
        .app
        .post("/sessions/revoke", Some(&bobs), "handle=not-a-handle");
    assert_eq!(garbage.status, 400, "{}", garbage.body);
}

#[test]
fn signing_out_everywhere_else_keeps_only_this_device() {
    let auth = Auth::start();
    let this = auth.signed_in("alice", "wonderland");
    let others = [
        auth.signed_in("alice", "wonderland"),
        auth.signed_in("alice", "wonderland"),
    ];

    let response = auth.app.post("/sessions/revoke-others", Some(&this), "");
    assert_eq!(response.status, 303, "{}", response.body);
    for other in &others {
        assert!(
            !auth.opens_the_account(other),
            "another device is signed out"
        );
    }
    assert!(auth.opens_the_account(&this), "this device stays signed in");
    let page = auth.app.get("/sessions", Some(&this));
    assert_eq!(
        page.body.matches(r#"<tr class="session">"#).count(),
        1,
        "{}",
        page.body
    );
}

/// The handles in the "Sign out" buttons of a sessions page.
fn handles(page: &str) -> Vec<String> {
    let marker = r#"name="handle" value=""#;
    page.match_indices(marker)
        .map(|(at, _)| page[at + marker.len()..].chars().take(32).collect())
        .collect()
}

/// The sealer of the app's cookies, under the key the tests give it.
fn sealer() -> CookieSealer {
    let key = Key::try_from(STANDARD.decode(KEY).expect("base64").as_slice()).expect("a key");
    CookieSealer::new(&key, "session", CookieContent::Signed)
}

/// The `Max-Age` of a `Set-Cookie` header, in seconds.
fn max_age(set_cookie: &str) -> Option<u64> {
    set_cookie
        .split(';')
        .find_map(|attribute| attribute.trim().strip_prefix("Max-Age="))
        .and_then(|seconds| seconds.parse().ok())
}
