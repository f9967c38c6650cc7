//! The contract of [`SessionStore`], checked directly against a store, without a server.
//!
//! Every store in this workspace runs [`check_store`]; a new store adds one test that calls it.

use std::time::{Duration, SystemTime};

use kv_sessions::{Changes, SessionId, SessionStore};

fn in_a_minute() -> SystemTime {
    SystemTime::now() + Duration::from_secs(60)
}

fn setting(pairs: &[(&str, &str)]) -> Changes {
    let mut changes = Changes::new(in_a_minute());
    for (key, json) in pairs {
        changes.set(*key, *json);
    }
    changes
}

/// Runs every check of the store contract against `store`.
pub async fn check_store<S: SessionStore + Clone>(store: S) {
    an_unknown_id_loads_as_none(&store).await;
    a_save_creates_then_merges_and_counts_versions(&store).await;
    removes_and_clears_apply_to_the_stored_copy(&store).await;
    delete_forgets_the_session_and_tolerates_repeats(&store).await;
    an_expired_session_is_never_loaded_or_merged(&store).await;
    concurrent_saves_of_different_keys_all_survive(store).await;
}

async fn an_unknown_id_loads_as_none<S: SessionStore>(store: &S) {
    let loaded = store.load(&SessionId::generate()).await.expect("load");
    assert_eq!(loaded, None);
}

async fn a_save_creates_then_merges_and_counts_versions<S: SessionStore>(store: &S) {
    let id = SessionId::generate();
    let created = store
        .save(&id, &setting(&[("a", "1")]))
        .await
        .expect("save");
    assert_eq!(created.id(), id);
    assert_eq!(created.version(), 1);
    let merged = store
        .save(&id, &setting(&[("b", "2")]))
        .await
        .expect("save");
    assert_eq!(merged.version(), 2);
    assert_eq!(merged.created_at(), created.created_at());
    let loaded = store.load(&id).await.expect("load").expect("stored");
    assert_eq!(
        loaded.entries().collect::<Vec<_>>(),
        [("a", "1"), ("b", "2")]
    );
    assert_eq!(loaded.version(), 2);
}

async fn removes_and_clears_apply_to_the_stored_copy<S: SessionStore>(store: &S) {
    let id = SessionId::generate();
    store
        .save(&id, &setting(&[("a", "1"), ("b", "2"), ("c", "3")]))
        .await
        .expect("save");
    let mut remove = Changes::new(in_a_minute());
    remove.remove("a");
    let after_remove = store.save(&id, &remove).await.expect("save");
    assert_eq!(
        after_remove.entries().collect::<Vec<_>>(),
        [("b", "2"), ("c", "3")]
    );
    let mut clear = Changes::new(in_a_minute());
    clear.clear().set("d", "4");
    store.save(&id, &clear).await.expect("save");
    let loaded = store.load(&id).await.expect("load").expect("stored");
    assert_eq!(loaded.entries().collect::<Vec<_>>(), [("d", "4")]);
}

async fn delete_forgets_the_session_and_tolerates_repeats<S: SessionStore>(store: &S) {
    let id = SessionId::generate();
    store
        .save(&id, &setting(&[("a", "1")]))
        .await
        .expect("save");
    store.delete(&id).await.expect("delete");
    assert_eq!(store.load(&id).await.expect("load"), None);
    store.delete(&id).await.expect("deleting twice is fine");
    store
        .delete(&SessionId::generate())
        .await
        .expect("deleting an unknown id is fine");
}

async fn an_expired_session_is_never_loaded_or_merged<S: SessionStore>(store: &S) {
    let id = SessionId::generate();
    let mut short = Changes::new(SystemTime::now() + Duration::from_millis(200));
    short.set("secret", "1");
    store.save(&id, &short).await.expect("save");
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(store.load(&id).await.expect("load"), None);
    let revived = store
        .save(&id, &setting(&[("b", "2")]))
        .await
        .expect("save");
    assert_eq!(
        revived.get("secret"),
        None,
        "expired entries never come back"
    );
    assert_eq!(revived.version(), 1);
}

async fn concurrent_saves_of_different_keys_all_survive<S: SessionStore + Clone>(store: S) {
    let id = SessionId::generate();
    let writers: Vec<_> = (0..32)
        .map(|i| {
            let store = store.clone();
            actix_rt::spawn(async move {
                let key = format!("k{i}");
                store.save(&id, &setting(&[(&key, "true")])).await
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("join").expect("save");
    }
    let loaded = store.load(&id).await.expect("load").expect("stored");
    assert_eq!(loaded.len(), 32);
    assert_eq!(loaded.version(), 32);
}
