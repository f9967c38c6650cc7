//! Runs the `cart` example binary over real HTTP and a real sled directory: items go in and out
//! of a typed cart stored under `cart.lines`.

mod common;

use actix_web::cookie::Key;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::{Instance, KEY};
use kv_sessions::test_util::CookieSealer;
use kv_sessions::{CookieContent, Record, SessionStore, SledStore};
use tempfile::TempDir;

/// What the cart routes answer for an empty cart.
const EMPTY: &str = r#"{"stored_under":"cart.lines","items":{}}"#;

/// A running `cart` app and the directory of its sessions.
struct Shop {
    app: Instance,
    dir: TempDir,
}

impl Shop {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Self::db(&dir);
        let db = db.to_str().expect("a UTF-8 path");
        let app = Instance::start(
            env!("CARGO_BIN_EXE_cart"),
            &[("SESSIONS_DB", db), ("SESSION_KEY", KEY)],
        );
        Self { app, dir }
    }

    /// The sled directory the app keeps its sessions in, inside `dir`.
    fn db(dir: &TempDir) -> std::path::PathBuf {
        dir.path().join("cart-sessions.sled")
    }

    /// Stops the app and reads, straight from its sled directory, the session that `cookie`
    /// names.
    async fn stored(self, cookie: &str) -> Record {
        self.app.stop();
        let key = Key::try_from(STANDARD.decode(KEY).expect("base64").as_slice()).expect("a key");
        let sealer = CookieSealer::new(&key, "session", CookieContent::Signed);
        let value = cookie.strip_prefix("session=").expect("a session cookie");
        let id = sealer.open(value).expect("a cookie the app sealed");
        let store = SledStore::open(Self::db(&self.dir)).expect("open the app's sessions");
        store
            .load(&id)
            .await
            .expect("load")
            .expect("a live session")
    }

    /// Posts to `path` with `cookie`, and returns the body, checking that the request succeeded.
    fn post(&self, path: &str, cookie: &str) -> String {
        let response = self.app.post(path, Some(cookie), "");
        assert_eq!(response.status, 200, "{path}: {}", response.body);
        response.body
    }

    /// The cart as `GET /cart` shows it to the holder of `cookie`.
    fn cart(&self, cookie: &str) -> String {
        self.app.get("/cart", Some(cookie)).body
    }

    /// Adds `item` to a new cart and returns the session cookie.
    fn first_add(&self, item: &str) -> String {
        let response = self.app.post(&format!("/cart/add/{item}"), None, "");
        assert_eq!(response.status, 200, "{}", response.body);
        response.cookie("session").expect("a session cookie")
    }
}

#[test]
fn an_empty_cart_is_shown_and_creates_no_session() {
    let shop = Shop::start();
    let empty = shop.app.get("/cart", None);
    assert_eq!(empty.status, 200);
    assert_eq!(empty.header("content-type"), Some("application/json"));
    assert_eq!(empty.body, EMPTY);
    assert_eq!(empty.header("set-cookie"), None);
}

#[test]
fn adding_counts_each_item_under_its_name() {
    let shop = Shop::start();
    let cookie = shop.first_add("apple");
    shop.post("/cart/add/bread", &cookie);
    let added = shop.post("/cart/add/apple", &cookie);
    let expected = r#"{"stored_under":"cart.lines","items":{"apple":2,"bread":1}}"#;
    assert_eq!(added, expected);
    assert_eq!(
        shop.cart(&cookie),
        expected,
        "the cart is kept in the session"
    );
}

#[actix_rt::test]
async fn the_cart_is_stored_as_one_json_map_under_cart_lines() {
    let shop = Shop::start();
    let cookie = shop.first_add("apple");
    shop.post("/cart/add/bread", &cookie);
    shop.post("/cart/add/apple", &cookie);
    let record = shop.stored(&cookie).await;
    assert_eq!(
        record.entries().collect::<Vec<_>>(),
        [("cart.lines", r#"{"apple":2,"bread":1}"#)]
    );
}

#[actix_rt::test]
async fn clearing_removes_the_key_rather_than_storing_an_empty_cart() {
    let shop = Shop::start();
    let cookie = shop.first_add("apple");
    shop.post("/cart/clear", &cookie);
    let record = shop.stored(&cookie).await;
    assert_eq!(record.get("cart.lines"), None);
    assert!(record.is_empty(), "the session lives on, empty");
}

#[test]
fn removing_takes_one_away_and_drops_the_item_at_zero() {
    let shop = Shop::start();
    let cookie = shop.first_add("cheese");
    shop.post("/cart/add/cheese", &cookie);
    shop.post("/cart/add/apple", &cookie);

    let one_fewer = shop.post("/cart/remove/cheese", &cookie);
    assert_eq!(
        one_fewer,
        r#"{"stored_under":"cart.lines","items":{"apple":1,"cheese":1}}"#
    );
    shop.post("/cart/remove/cheese", &cookie);
    let absent = shop.post("/cart/remove/bread", &cookie);
    let expected = r#"{"stored_under":"cart.lines","items":{"apple":1}}"#;
    assert_eq!(absent, expected, "removing an absent item changes nothing");
    assert_eq!(shop.cart(&cookie), expected);
}

#[test]
fn clearing_deletes_the_cart_from_the_session() {
    let shop = Shop::start();
    let cookie = shop.first_add("bread");
    assert_eq!(shop.post("/cart/clear", &cookie), EMPTY);
    assert_eq!(shop.cart(&cookie), EMPTY);
    let again = shop.post("/cart/add/apple", &cookie);
    assert_eq!(
        again, r#"{"stored_under":"cart.lines","items":{"apple":1}}"#,
        "the session lives on after the cart is cleared"
    );
}

#[test]
fn an_item_not_in_the_catalogue_is_not_found_and_changes_nothing() {
    let shop = Shop::start();
    let cookie = shop.first_add("apple");
    for path in ["/cart/add/caviar", "/cart/remove/caviar"] {
        let refused = shop.app.post(path, Some(&cookie), "");
        assert_eq!(refused.status, 404, "{path}");
    }
    assert_eq!(
        shop.cart(&cookie),
        r#"{"stored_under":"cart.lines","items":{"apple":1}}"#
    );
    let anonymous = shop.app.post("/cart/add/caviar", None, "");
    assert_eq!(
        anonymous.header("set-cookie"),
        None,
        "no session is created"
    );
}
