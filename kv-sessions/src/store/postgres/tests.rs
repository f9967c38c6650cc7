//! The store's SQL against [`Changes::apply_to`] on a real server, at moments the tests choose.
//!
//! These tests read the server's URL from `KV_SESSIONS_POSTGRES_URL`, as the end-to-end tests
//! do (they cannot share that crate's helper, which depends on this one), and skip, saying so on
//! stderr, where it is unset. Each works in a table of its own, dropped at the end.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use tokio::runtime::Runtime;

use super::PostgresStore;
use super::columns::tests::as_stored;
use crate::changes::SessionPolicy;
use crate::changes::{Changes, Saved};
use crate::error::StoreError;
use crate::expiry::Expiry;
use crate::id::SessionId;
use crate::record::Record;
use crate::store::SessionStore;

/// A store on a fresh table, with the runtime that drives its connections.
struct Scratch {
    runtime: Runtime,
    store: PostgresStore,
    url: String,
}

impl Scratch {
    /// A migrated table of its own, with no sweeper, or `None` where no server is configured.
    fn new(test: &str) -> Option<Self> {
        Self::sweeping(test, None)
    }

    /// A migrated table of its own, swept `every` so often, or `None` where no server is
    /// configured.
    fn sweeping(test: &str, every: Option<Duration>) -> Option<Self> {
        let Some(url) = std::env::var("KV_SESSIONS_POSTGRES_URL")
            .ok()
            .filter(|url| !url.is_empty())
        else {
            eprintln!("skipping {test}: KV_SESSIONS_POSTGRES_URL is not set");
            return None;
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let table = format!("kv_test_{}", &SessionId::generate().to_string()[..16]);
        let store = runtime.block_on(async {
            let store = PostgresStore::builder(&url)
                .table(table)
                .sweep_every(every)
                .build()
                .await
                .expect("connect");
            store.migrate_up().await.expect("migrate up");
            store
        });
        Some(Self {
            runtime,
            store,
            url,
        })
    }

    fn run<T>(&self, work: impl Future<Output = T>) -> T {
        self.runtime.block_on(work)
    }

    /// Writes a row by hand, for the rows no statement of the store would write.
    fn insert_raw(&self, id: &SessionId, columns: &str) {
        let sql = format!(
            "INSERT INTO {} (id, version, created_at, expires_at, rule_kind, rule_ms, data) \
             VALUES ('{}', {columns})",
            self.store.table.name.quoted(),
            uuid::Uuid::from_bytes(*id.as_bytes()),
        );
        self.run(self.store.table.batch(&sql)).expect("insert");
    }

    /// How many rows the table holds, expired or not.
    fn rows(&self) -> i64 {
        let sql = format!(
            "SELECT count(*) AS n FROM {}",
            self.store.table.name.quoted()
        );
        let rows = self.run(self.store.table.query(&sql, &[])).expect("count");
        rows[0].get("n")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let dropped = self.runtime.block_on(self.store.migrate_down());
        dropped.expect("migrate down");
    }
}

/// Moments around 2024, to the nanosecond.
fn moment() -> impl Strategy<Value = SystemTime> {
    (1_700_000_000_000_000_000u64..1_800_000_000_000_000_000)
        .prop_map(|nanos| UNIX_EPOCH + Duration::from_nanos(nanos))
}

/// Windows from a millisecond to past the 400-day cap, to the nanosecond, and the largest.
fn window() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (1u64..7_200_000_000_000).prop_map(Duration::from_nanos),
        (0u64..2_000).prop_map(|days| Duration::from_secs(days * 86_400)),
        Just(Duration::MAX),
    ]
}

/// Every kind of rule, with dates before the epoch, near the test's moments and far past the
/// cap.
fn rule() -> impl Strategy<Value = Expiry> {
    prop_oneof![
        window().prop_map(Expiry::OnInactivity),
        window().prop_map(Expiry::OnSessionEnd),
        moment().prop_map(Expiry::AtDateTime),
        Just(Expiry::AtDateTime(UNIX_EPOCH - Duration::from_secs(1))),
        Just(Expiry::AtDateTime(
            UNIX_EPOCH + Duration::from_secs(u64::MAX >> 2)
        )),
    ]
}

/// Policies with and without an absolute lifetime, up to the largest, and a cap small enough
/// to refuse some merges.
fn policy() -> impl Strategy<Value = SessionPolicy> {
    let lifetime = prop_oneof![
        Just(None),
        window().prop_map(Some),
        Just(Some(Duration::from_secs(u64::MAX >> 1))),
    ];
    let max_size = prop_oneof![Just(SessionPolicy::DEFAULT_MAX_SIZE), 0usize..60];
    (rule(), lifetime, max_size).prop_map(|(default, lifetime, max_size)| {
        SessionPolicy::new(default)
            .with_absolute_lifetime(lifetime)
            .with_max_size(max_size)
    })
}

/// Changes under `policy` over a few keys, with JSON texts of every shape the session layer
/// might write.
fn changes(policy: impl Strategy<Value = SessionPolicy>) -> impl Strategy<Value = Changes> {
    let key = "[a-d]|é|k\"";
    let json = prop_oneof![
        Just("1".to_owned()),
        "\\{\"[a-z]{0,3}\":[0-9 ]{1,3}\\}",
        "\"[a-zé\\\\\" ]{0,6}\"",
    ];
    let write = (key, proptest::option::weighted(0.8, json));
    let own_rule = proptest::option::of(proptest::option::of(rule()));
    (
        policy,
        any::<bool>(),
        proptest::collection::vec(write, 0..4),
        own_rule,
    )
        .prop_map(|(policy, clear, writes, own_rule)| {
            let mut changes = Changes::new(policy);
            if clear {
                changes.clear();
            }
            for (key, json) in writes {
                match json {
                    Some(json) => changes.set(key, json),
                    None => changes.remove(key),
                };
            }
            if let Some(rule) = own_rule {
                changes.set_expiry(rule);
            }
            changes
        })
}

/// What the store should answer: `apply_to`'s record, with its rule as the table keeps it.
fn as_stored_by_the_table(saved: Saved) -> Saved {
    match saved {
        Saved::Stored(record) => {
            let rule = as_stored(record.expiry());
            Saved::Stored(record.with_expiry(rule))
        }
        other => other,
    }
}

/// One session's life: created at `born` with `first`, then changed at `later` by `then`.
#[derive(Debug, Clone)]
struct Case {
    born: SystemTime,
    first: Changes,
    created_at: Option<SystemTime>,
    later: Duration,
    then: Changes,
    renew: bool,
}

fn case() -> impl Strategy<Value = Case> {
    let born_policy = policy().prop_map(|p| p.with_max_size(SessionPolicy::DEFAULT_MAX_SIZE));
    (
        moment(),
        changes(born_policy),
        proptest::option::of(0u64..3_000_000_000_000),
        (0u64..7_200_000_000_000).prop_map(Duration::from_nanos),
        changes(policy()),
        any::<bool>(),
    )
        .prop_map(|(born, first, age, later, then, renew)| Case {
            born,
            first,
            created_at: age.map(|age| born - Duration::from_millis(age)),
            later,
            then,
            renew,
        })
}

/// Runs one case, and checks every answer against `apply_to`.
async fn check(store: &PostgresStore, case: Case) -> Result<(), TestCaseError> {
    let (id, now) = (SessionId::generate(), case.born + case.later);
    let mut first = case.first.clone();
    if let Some(created_at) = case.created_at {
        let moved = Record::new(id, 1, created_at, created_at, Vec::new())
            .with_expiry(case.first.expiry().flatten());
        first = Changes::moving(&moved, &first);
        for (key, json) in case.first.writes() {
            match json {
                Some(json) => first.set(key, json),
                None => first.remove(key),
            };
        }
    }
    let created = store
        .create_at(&id, &first, case.born)
        .await
        .expect("create");
    let expected = as_stored_by_the_table(first.apply_to(id, None, case.born).into());
    prop_assert_eq!(&created, &expected, "create");
    let Saved::Stored(base) = created else {
        return Ok(());
    };
    let live = (!base.is_expired_at(now)).then_some(&base);
    let (target, saved, expected) = if case.renew {
        let new = SessionId::generate();
        let saved = store.renew_at(&id, &new, &case.then, now).await;
        let expected = match live {
            None if !case.then.writes_a_value() => Saved::Gone,
            base => case.then.apply_to(new, base, now).into(),
        };
        (new, saved, expected)
    } else {
        let saved = store.update_at(&id, &case.then, now).await;
        let expected = match live {
            None => Saved::Gone,
            base => case.then.apply_to(id, base, now).into(),
        };
        (id, saved, expected)
    };
    let saved = saved.expect("save");
    prop_assert_eq!(&saved, &as_stored_by_the_table(expected), "save");
    let loaded = store.load_at(&target, now).await.expect("load");
    match saved {
        Saved::Stored(record) => {
            // A merge can set a deadline that has passed already (a date in the past).
            let live = (!record.is_expired_at(now)).then_some(record);
            prop_assert_eq!(loaded, live, "a load after a save")
        }
        _ => prop_assert_eq!(loaded, live.filter(|_| target == id).cloned()),
    }
    Ok(())
}

#[test]
fn every_merge_matches_apply_to_to_the_millisecond() {
    let Some(scratch) = Scratch::new("every_merge_matches_apply_to_to_the_millisecond") else {
        return;
    };
    let mut runner = TestRunner::new(Config {
        cases: 512,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&case(), |case| scratch.run(check(&scratch.store, case)));
    drop(scratch);
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

#[test]
fn a_row_that_does_not_decode_is_corrupt() {
    let Some(scratch) = Scratch::new("a_row_that_does_not_decode_is_corrupt") else {
        return;
    };
    let far = i64::MAX / 2;
    for columns in [
        format!("1, 0, {far}, 9, 0, '{{}}'"),
        format!("1, 0, {far}, 1, -5, '{{}}'"),
        format!("-1, 0, {far}, 0, 0, '{{}}'"),
        format!("1, 0, {far}, 0, 0, '{{\"a\": 1}}'"),
        format!("1, 0, {far}, 0, 0, '[1]'"),
    ] {
        let id = SessionId::generate();
        scratch.insert_raw(&id, &columns);
        let loaded = scratch.run(scratch.store.load_at(&id, SystemTime::now()));
        assert!(
            matches!(loaded, Err(StoreError::Corrupt(_))),
            "{columns}: {loaded:?}"
        );
    }
}

#[test]
fn create_refuses_an_id_a_live_session_holds_and_replaces_an_expired_one() {
    let Some(scratch) = Scratch::new("create_refuses_an_id_a_live_session_holds") else {
        return;
    };
    let now = SystemTime::now();
    let mut changes = Changes::new(SessionPolicy::default());
    changes.set("a", "1");
    let (live, expired) = (SessionId::generate(), SessionId::generate());
    scratch.insert_raw(&live, "1, 0, 9223372036854775807, 0, 0, '{\"old\": \"1\"}'");
    scratch.insert_raw(&expired, "7, 0, 1, 0, 0, '{\"old\": \"1\"}'");
    let refused = scratch.run(scratch.store.create_at(&live, &changes, now));
    assert!(
        matches!(refused, Err(StoreError::Backend(_))),
        "{refused:?}"
    );
    let kept = scratch
        .run(scratch.store.load_at(&live, now))
        .expect("load");
    assert_eq!(kept.expect("kept").get("old"), Some("1"));
    let replaced = scratch.run(scratch.store.create_at(&expired, &changes, now));
    let Ok(Saved::Stored(record)) = replaced else {
        panic!("{replaced:?}");
    };
    assert_eq!(record.version(), 1);
    assert_eq!(record.entries().collect::<Vec<_>>(), [("a", "1")]);
}

/// Changes that write one value under an idle window of `ttl`.
fn lasting(ttl: Duration) -> Changes {
    let mut changes = Changes::new(SessionPolicy::new(Expiry::OnInactivity(ttl)));
    changes.set("k", "\"v\"");
    changes
}

#[test]
fn the_background_sweeper_deletes_expired_rows_on_its_own() {
    let every = Some(Duration::from_millis(20));
    let Some(scratch) = Scratch::sweeping("the_background_sweeper_deletes_expired_rows", every)
    else {
        return;
    };
    let (short, live) = (SessionId::generate(), SessionId::generate());
    scratch.run(async {
        let store = &scratch.store;
        store
            .create(&short, &lasting(Duration::from_millis(10)))
            .await
            .expect("create");
        store
            .create(&live, &lasting(Duration::from_secs(600)))
            .await
            .expect("create");
    });
    assert_eq!(scratch.rows(), 2);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while scratch.rows() > 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the sweeper never ran"
        );
        scratch.run(async { tokio::time::sleep(Duration::from_millis(10)).await });
    }
    let kept = scratch.run(scratch.store.load(&live)).expect("load");
    assert!(kept.is_some(), "the live session stays");
}

#[test]
fn the_sweeper_stops_with_the_last_clone_of_the_store() {
    let Some(scratch) = Scratch::new("the_sweeper_stops_with_the_last_clone_of_the_store") else {
        return;
    };
    let first = scratch.run(
        PostgresStore::builder(&scratch.url)
            .table(scratch.store.table.name.to_string())
            .sweep_every(Some(Duration::from_secs(60)))
            .build(),
    );
    let first = first.expect("connect");
    let second = first.clone();
    let sweeper = first.sweeper.as_ref().expect("a sweeper").task();
    drop(first);
    scratch.run(tokio::task::yield_now());
    assert!(!sweeper.is_finished(), "a clone still holds the store");
    drop(second);
    scratch.run(tokio::task::yield_now());
    assert!(sweeper.is_finished(), "the last clone is gone");
}
