//! The `custom_store` example's `HashMapStore` keeps the same contract as the built-in stores,
//! each rule a test in `store_rules`, and the example binary serves sessions from it.

mod common;

use std::time::Duration;

use common::{Instance, KEY};
use kv_sessions::{Changes, Expiry, SessionId, SessionPolicy, SessionStore};
use kv_sessions_examples::custom_store::HashMapStore;

kv_sessions_tests::store_rule_tests!(HashMapStore::new());

#[actix_rt::test]
async fn create_refuses_an_id_that_a_live_session_holds() {
    let store = HashMapStore::new();
    let id = SessionId::generate();
    let mut changes = Changes::new(SessionPolicy::default());
    changes
        .insert("user", "alice")
        .expect("a string serializes");
    store.create(&id, &changes).await.expect("create");
    let mut stranger = Changes::new(SessionPolicy::default());
    stranger
        .insert("user", "mallory")
        .expect("a string serializes");
    assert!(store.create(&id, &stranger).await.is_err());
    let kept = store.load(&id).await.expect("load").expect("live");
    assert_eq!(kept.get("user"), Some(r#""alice""#));
}

#[actix_rt::test]
async fn a_sweep_deletes_only_expired_records() {
    let store = HashMapStore::new();
    for idle in [Duration::from_millis(50), Duration::from_secs(60)] {
        let mut changes = Changes::new(SessionPolicy::new(Expiry::OnInactivity(idle)));
        changes
            .insert("user", "alice")
            .expect("a string serializes");
        store
            .create(&SessionId::generate(), &changes)
            .await
            .expect("create");
    }
    actix_rt::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(store.sweep_expired(), 1);
    assert_eq!(store.len(), 1);
    assert_eq!(store.sweep_expired(), 0);
}

#[test]
fn the_example_app_counts_visits_until_it_is_told_to_forget() {
    let app = Instance::start(env!("CARGO_BIN_EXE_custom_store"), &[("SESSION_KEY", KEY)]);
    let first = app.get("/", None);
    assert_eq!(first.body, "Visits: 1");
    let cookie = first.cookie("session").expect("a session cookie");
    assert_eq!(app.get("/", Some(&cookie)).body, "Visits: 2");
    assert_eq!(app.get("/", Some(&cookie)).body, "Visits: 3");

    let forgotten = app.post("/forget", Some(&cookie), "");
    assert_eq!(forgotten.status, 204);
    let removal = forgotten.set_cookie("session").expect("a removal cookie");
    assert!(removal.contains("Max-Age=0"), "{removal}");
    let replayed = app.get("/", Some(&cookie));
    assert_eq!(
        replayed.body, "Visits: 1",
        "the forgotten session stays gone"
    );
    assert_ne!(replayed.cookie("session"), Some(cookie), "under a new id");
    app.stop();
}
