//! The checks catch the stores they exist to catch: broken stores fail them.

use std::time::{Duration, SystemTime};

use kv_sessions::{
    Changes, Expiry, MokaStore, Record, Saved, SessionDigest, SessionId, SessionPolicy,
    SessionStore, StoreError, UserSession,
};

use super::{block_on, rules};

/// A store with one flaw in its update, over a sound in-memory store.
#[derive(Debug, Clone)]
struct Flawed {
    inner: MokaStore,
    flaw: Flaw,
}

#[derive(Debug, Clone, Copy)]
enum Flaw {
    /// Reads the latest copy, waits a moment, and writes the merged copy over whatever is stored
    /// then. The moment is a blocking sleep, which lets no other task of the thread run: on one
    /// thread, this store never loses an update.
    ReadsWaitsAndWritesOver,
    /// Merges into the copy the request loaded, trusting it to be the latest, and writes the
    /// merged copy over the stored one.
    MergesIntoTheLoadedCopy,
    /// Writes each key natively, and clears by removing the keys the loaded copy held.
    ClearsTheLoadedKeys,
}

impl Flawed {
    fn new(flaw: Flaw) -> Self {
        Self {
            inner: MokaStore::new(1_000),
            flaw,
        }
    }

    /// Merges `changes` into `base` and writes the result over the stored copy. With
    /// `leave_behind`, a clear spares the stored keys that `leave_behind` did not hold, as a
    /// store that clears by removing the keys it knows of would.
    async fn write_over(
        &self,
        id: &SessionId,
        base: &Record,
        changes: &Changes,
        leave_behind: Option<&Record>,
    ) -> Result<Saved, StoreError> {
        let merged = match changes.apply_to(*id, Some(base), SystemTime::now()) {
            Ok(merged) => merged,
            Err(too_large) => return Ok(Saved::TooLarge(too_large)),
        };
        let mut whole = Changes::new(SessionPolicy::default());
        whole.clear().set_expiry(merged.expiry());
        for (key, json) in merged.entries() {
            whole.insert(key, parsed(json)).expect("JSON serializes");
        }
        if let Some(known) = leave_behind.filter(|_| changes.clears_existing()) {
            let unknown = base.entries().filter(|(key, _)| known.get(key).is_none());
            for (key, json) in unknown.filter(|(key, _)| merged.get(key).is_none()) {
                whole.insert(key, parsed(json)).expect("JSON serializes");
            }
        }
        self.inner.update(id, &whole).await
    }
}

/// A stored value, to be written again: stores hold only JSON.
fn parsed(json: &str) -> serde_json::Value {
    serde_json::from_str(json).expect("a store holds JSON")
}

impl SessionStore for Flawed {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        self.inner.load(id).await
    }

    async fn create(&self, id: &SessionId, changes: &Changes) -> Result<Saved, StoreError> {
        self.inner.create(id, changes).await
    }

    async fn update(&self, id: &SessionId, changes: &Changes) -> Result<Saved, StoreError> {
        let Some(latest) = self.inner.load(id).await? else {
            return Ok(Saved::Gone);
        };
        self.update_from(&latest, changes).await
    }

    async fn update_from(&self, loaded: &Record, changes: &Changes) -> Result<Saved, StoreError> {
        let id = loaded.id();
        let Some(latest) = self.inner.load(&id).await? else {
            return Ok(Saved::Gone);
        };
        match self.flaw {
            Flaw::ReadsWaitsAndWritesOver => {
                std::thread::sleep(Duration::from_millis(5));
                self.write_over(&id, &latest, changes, None).await
            }
            Flaw::MergesIntoTheLoadedCopy => self.write_over(&id, loaded, changes, None).await,
            Flaw::ClearsTheLoadedKeys => self.write_over(&id, &latest, changes, Some(loaded)).await,
        }
    }

    async fn delete(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        self.inner.delete(id).await
    }
}

#[test]
#[should_panic(expected = "updates from other threads were lost")]
fn concurrent_updates_catch_a_store_that_loses_updates_across_threads() {
    let store = Flawed::new(Flaw::ReadsWaitsAndWritesOver);
    block_on(rules::concurrent_updates_of_different_keys_all_survive(
        store,
    ));
}

/// Why the concurrent checks use threads: the same flawed store keeps every update when the
/// writers are tasks sharing one thread, as they were before.
#[test]
fn a_store_that_waits_between_read_and_write_loses_nothing_to_writers_on_one_thread() {
    let store = Flawed::new(Flaw::ReadsWaitsAndWritesOver);
    let policy = SessionPolicy::new(Expiry::OnInactivity(Duration::from_secs(60)));
    let id = SessionId::generate();
    block_on(async {
        store
            .create(&id, &Changes::new(policy))
            .await
            .expect("create");
        let writers: Vec<_> = (0..8)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut changes = Changes::new(policy);
                    changes
                        .insert(format!("k{i}"), true)
                        .expect("a bool serializes");
                    store.update(&id, &changes).await
                })
            })
            .collect();
        for writer in writers {
            writer.await.expect("join").expect("update");
        }
        let loaded = store.load(&id).await.expect("load").expect("stored");
        assert_eq!(loaded.len(), 8);
    });
}

#[test]
#[should_panic(expected = "the write made since the copy was loaded survives")]
fn a_stale_copy_catches_a_store_that_merges_into_the_loaded_copy() {
    let store = Flawed::new(Flaw::MergesIntoTheLoadedCopy);
    block_on(rules::a_stale_loaded_copy_never_loses_a_write(store));
}

#[test]
#[should_panic(expected = "the entry written since the copy was loaded is cleared too")]
fn a_stale_clear_catches_a_store_that_clears_the_loaded_copy() {
    let store = Flawed::new(Flaw::ClearsTheLoadedKeys);
    block_on(rules::a_clear_from_a_stale_copy_clears_the_latest_entries(
        store,
    ));
}

/// A store that keeps sessions but answers every listing with an empty list, rather than
/// saying it cannot list: the silent gap the binding's `Unsupported` exists to prevent.
#[derive(Debug, Clone)]
struct ListsNothing(MokaStore);

impl SessionStore for ListsNothing {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        self.0.load(id).await
    }

    async fn create(&self, id: &SessionId, changes: &Changes) -> Result<Saved, StoreError> {
        self.0.create(id, changes).await
    }

    async fn update(&self, id: &SessionId, changes: &Changes) -> Result<Saved, StoreError> {
        self.0.update(id, changes).await
    }

    async fn delete(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        self.0.delete(id).await
    }

    async fn sessions_of(&self, _: &str) -> Result<Vec<UserSession>, StoreError> {
        Ok(Vec::new())
    }

    async fn revoke(&self, _: &str, _: SessionDigest) -> Result<bool, StoreError> {
        Ok(false)
    }
}

#[test]
#[should_panic(expected = "one session listed, got []")]
fn the_listing_check_catches_a_store_that_answers_an_empty_list() {
    let store = ListsNothing(MokaStore::new(1_000));
    block_on(rules::a_binding_is_stored_listed_and_moved_by_renewal(
        store,
    ));
}
