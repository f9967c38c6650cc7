//! The store's answers against [`Changes::apply_to`] of the latest copy, on a real server, at
//! moments the tests choose; and what it keeps in its table.
//!
//! These tests read the server's URL from `KV_SESSIONS_POSTGRES_URL`, as the end-to-end tests
//! do (they cannot share that crate's helper, which depends on this one), and skip, saying so on
//! stderr, where it is unset. Each works in a table of its own, dropped at the end.

use std::future::poll_fn;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use tokio::runtime::Runtime;
use tokio_postgres::{AsyncMessage, NoTls};

use super::PostgresStore;
use crate::changes::SessionPolicy;
use crate::changes::{Changes, Saved};
use crate::error::StoreError;
use crate::expiry::Expiry;
use crate::id::{SessionDigest, SessionId};
use crate::owner::{SessionOwner, UserSession};
use crate::record::Record;
use crate::store::SessionStore;

/// The server's URL and a runtime to drive connections to it, or `None`, said on stderr, where
/// `KV_SESSIONS_POSTGRES_URL` is unset.
pub(super) fn server(test: &str) -> Option<(String, Runtime)> {
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
    Some((url, runtime))
}

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
        let (url, runtime) = server(test)?;
        let table = format!("kv_test_{}", &SessionId::generate().to_string()[..16]);
        let store = runtime.block_on(async {
            let settings = PostgresStore::builder(&url).table(table).sweep_every(every);
            settings.migrate_up().await.expect("migrate up");
            settings.build().await.expect("connect")
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
             VALUES ('\\x{}', {columns})",
            self.store.table.name.quoted(),
            id.digest(),
        );
        self.run(self.store.table.batch(&sql)).expect("insert");
    }

    /// The notices the server sends while it runs `sql` on a connection of its own, which the
    /// driver would log at info level.
    fn notices_of(&self, sql: &str) -> Vec<String> {
        self.run(async {
            let (client, mut connection) = tokio_postgres::connect(&self.url, NoTls)
                .await
                .expect("connect");
            let listener = tokio::spawn(async move {
                let mut notices = Vec::new();
                while let Some(message) = poll_fn(|cx| connection.poll_message(cx)).await {
                    if let Ok(AsyncMessage::Notice(notice)) = message {
                        notices.push(notice.message().to_owned());
                    }
                }
                notices
            });
            client.batch_execute(sql).await.expect("run");
            drop(client);
            listener.await.expect("the listener")
        })
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
/// might write, that bind the session, unbind it or leave its binding alone.
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
        proptest::option::of(proptest::option::of(owner())),
    )
        .prop_map(|(policy, clear, writes, own_rule, binding)| {
            let mut changes = Changes::new(policy);
            if clear {
                changes.clear();
            }
            match binding {
                Some(Some(owner)) => changes.bind(owner),
                Some(None) => changes.unbind(),
                None => &mut changes,
            };
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

/// The users the generated owners are.
const USERS: [&str; 3] = ["u1", "u2", "usér"];

/// Owners among [`USERS`], with and without a label, in any script.
fn owner() -> impl Strategy<Value = SessionOwner> {
    let label = proptest::option::of("[a-z é\"']{0,8}");
    (proptest::sample::select(&USERS[..]), label).prop_map(|(user, label)| match label {
        Some(label) => SessionOwner::new(user).with_label(label),
        None => SessionOwner::new(user),
    })
}

/// One session's life: created at `born` with `first`, then changed at `later` by `then`,
/// through `update_from` with the created copy, or `update`, or `renew`.
#[derive(Debug, Clone)]
struct Case {
    born: SystemTime,
    first: Changes,
    later: Duration,
    then: Changes,
    how: Save,
}

#[derive(Debug, Clone, Copy)]
enum Save {
    UpdateFrom,
    Update,
    Renew,
}

fn case() -> impl Strategy<Value = Case> {
    let born_policy = policy().prop_map(|p| p.with_max_size(SessionPolicy::DEFAULT_MAX_SIZE));
    let how = prop_oneof![
        Just(Save::UpdateFrom),
        Just(Save::Update),
        Just(Save::Renew)
    ];
    (
        moment(),
        changes(born_policy),
        (0u64..7_200_000_000_000).prop_map(Duration::from_nanos),
        changes(policy()),
        how,
    )
        .prop_map(|(born, first, later, then, how)| Case {
            born,
            first,
            later,
            then,
            how,
        })
}

/// Runs one case, and checks every answer against `apply_to` of the latest copy.
async fn check(store: &PostgresStore, case: Case) -> Result<(), TestCaseError> {
    let (id, now) = (SessionId::generate(), case.born + case.later);
    let created = store
        .create_at(&id, &case.first, case.born)
        .await
        .expect("create");
    let expected = Saved::from(case.first.apply_to(id, None, case.born));
    prop_assert_eq!(&created, &expected, "create");
    let Saved::Stored(base) = created else {
        return Ok(());
    };
    let live = (!base.is_expired_at(now)).then_some(&base);
    let (target, saved, expected) = match case.how {
        Save::Renew => {
            let new = SessionId::generate();
            let saved = store.renew_at(&id, &new, &case.then, now).await;
            let expected = match live {
                None if !case.then.writes_a_value() => Saved::Gone,
                base => case.then.apply_to(new, base, now).into(),
            };
            (new, saved, expected)
        }
        how => {
            let saved = match how {
                Save::UpdateFrom => store.update_from_at(&base, &case.then, now).await,
                _ => store.update_at(&id, &case.then, now).await,
            };
            let expected = match live {
                None => Saved::Gone,
                base => case.then.apply_to(id, base, now).into(),
            };
            (id, saved, expected)
        }
    };
    let saved = saved.expect("save");
    prop_assert_eq!(&saved, &expected, "save");
    let loaded = store.load_at(&target, now).await.expect("load");
    // A renewal refused for its size leaves the old id where it was.
    let moved_away = (target != id && matches!(saved, Saved::Stored(_))).then_some(id);
    match saved {
        Saved::Stored(record) => {
            // A merge can set a deadline that has passed already (a date in the past).
            let live = (!record.is_expired_at(now)).then_some(record);
            prop_assert_eq!(&loaded, &live, "a load after a save")
        }
        _ => prop_assert_eq!(&loaded, &live.filter(|_| target == id).cloned()),
    }
    check_listings(store, loaded.as_ref(), target, moved_away, now).await
}

/// Checks that each user's listing at `now` holds session `target` exactly where `loaded`, its
/// live copy, is bound to that user, as `loaded` has it, and never holds `moved_away`.
async fn check_listings(
    store: &PostgresStore,
    loaded: Option<&Record>,
    target: SessionId,
    moved_away: Option<SessionId>,
    now: SystemTime,
) -> Result<(), TestCaseError> {
    for user in USERS {
        let listed = store.sessions_of_at(user, now).await.expect("list");
        let found = listed.iter().find(|s| s.handle() == target.digest());
        let bound = loaded.filter(|r| r.owner().is_some_and(|owner| owner.user() == user));
        prop_assert_eq!(found.is_some(), bound.is_some(), "{} listed", user);
        if let (Some(found), Some(record)) = (found, bound) {
            prop_assert_eq!(found.created_at(), record.created_at());
            prop_assert_eq!(Some(found.saved_at()), record.saved_at());
            prop_assert_eq!(found.expires_at(), record.expires_at());
            prop_assert_eq!(found.label(), record.owner().and_then(SessionOwner::label));
        }
        let old = moved_away.map(|id| id.digest());
        prop_assert!(
            !listed.iter().any(|s| Some(s.handle()) == old),
            "old id listed"
        );
    }
    Ok(())
}

#[test]
fn every_save_is_apply_to_of_the_latest_copy() {
    let Some(scratch) = Scratch::new("every_save_is_apply_to_of_the_latest_copy") else {
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

/// Changes under the default policy that write `json` under each of `keys`.
pub(super) fn writing(keys: &[&str], json: &str) -> Changes {
    let mut changes = Changes::new(SessionPolicy::default());
    for key in keys {
        changes.set(*key, json);
    }
    changes
}

/// The record in `saved`, or a panic saying what came instead.
pub(super) fn stored(saved: Saved) -> Record {
    match saved {
        Saved::Stored(record) => record,
        other => panic!("expected a stored record, got {other:?}"),
    }
}

#[test]
fn a_stale_loaded_copy_of_a_deleted_session_finds_it_gone() {
    let Some(scratch) = Scratch::new("a_stale_loaded_copy_of_a_deleted_session") else {
        return;
    };
    let store = &scratch.store;
    scratch.run(async {
        let id = SessionId::generate();
        let loaded = stored(
            store
                .create(&id, &writing(&["a"], "1"))
                .await
                .expect("create"),
        );
        store.delete(&id).await.expect("delete");
        let saved = store.update_from(&loaded, &writing(&["b"], "2")).await;
        assert_eq!(saved.expect("update"), Saved::Gone);
    });
    assert_eq!(scratch.rows(), 0, "nothing is created");
}

#[test]
fn the_size_cap_is_settled_against_the_latest_copy_not_the_loaded_one() {
    let Some(scratch) = Scratch::new("the_size_cap_is_settled_against_the_latest_copy") else {
        return;
    };
    let store = &scratch.store;
    let capped = |changes: Changes| {
        let mut within = Changes::new(SessionPolicy::default().with_max_size(20));
        for (key, json) in changes.writes() {
            match json {
                Some(json) => within.set(key, json),
                None => within.remove(key),
            };
        }
        within
    };
    scratch.run(async {
        let id = SessionId::generate();
        let big = "\"0123456789\"";
        let loaded = stored(
            store
                .create(&id, &writing(&["a"], big))
                .await
                .expect("create"),
        );
        let mut removal = writing(&[], "");
        removal.remove("a");
        stored(store.update(&id, &removal).await.expect("remove"));
        let saved = store
            .update_from(&loaded, &capped(writing(&["b"], big)))
            .await;
        let record = stored(saved.expect("fits the latest copy"));
        assert_eq!(record.entries().collect::<Vec<_>>(), [("b", big)]);
        let saved = store
            .update_from(&record, &capped(writing(&["c"], big)))
            .await;
        assert!(matches!(saved, Ok(Saved::TooLarge(_))), "{saved:?}");
    });
}

#[test]
fn the_table_holds_the_digest_of_the_id_and_never_the_id() {
    let Some(scratch) = Scratch::new("the_table_holds_the_digest_of_the_id") else {
        return;
    };
    let (id, renewed) = (SessionId::generate(), SessionId::generate());
    scratch.run(async {
        let store = &scratch.store;
        store
            .create(&id, &writing(&["a"], "1"))
            .await
            .expect("create");
        store
            .renew(&id, &renewed, &writing(&["b"], "2"))
            .await
            .expect("renew");
        store
            .create(&id, &writing(&["c"], "3"))
            .await
            .expect("create");
    });
    let sql = format!(
        "SELECT encode(id, 'hex') AS key, t::text AS everything FROM {} AS t ORDER BY key",
        scratch.store.table.name.quoted()
    );
    let rows = scratch
        .run(scratch.store.table.query(&sql, &[]))
        .expect("read");
    let mut keys: Vec<String> = rows.iter().map(|row| row.get("key")).collect();
    let mut digests = vec![id.digest().to_string(), renewed.digest().to_string()];
    keys.sort();
    digests.sort();
    assert_eq!(keys, digests);
    for row in &rows {
        let everything: String = row.get("everything");
        for id in [id, renewed] {
            let hex = id.to_string();
            let hyphenated = uuid::Uuid::from_bytes(*id.as_bytes()).to_string();
            assert!(!everything.contains(&hex), "{everything}");
            assert!(!everything.contains(&hyphenated), "{everything}");
            assert!(!everything.contains(&hex[..12]), "{everything}");
        }
    }
}

/// What `build` answers for a table of `test`'s own that `prepare` (SQL, `{table}` for its
/// name) leaves in the database, where a server is configured.
fn build_after(test: &str, prepare: &str) -> Option<(String, Result<PostgresStore, StoreError>)> {
    let scratch = Scratch::new(test)?;
    let table = format!("kv_test_{}", &SessionId::generate().to_string()[..16]);
    let settings = PostgresStore::builder(&scratch.url)
        .table(table.as_str())
        .sweep_every(None);
    let prepare = prepare.replace("{table}", &table);
    let built = scratch.run(async {
        scratch.store.table.batch(&prepare).await.expect("prepare");
        let built = settings.build().await;
        scratch
            .store
            .table
            .batch(&format!("DROP TABLE IF EXISTS {table}"))
            .await
            .expect("drop");
        built
    });
    Some((table, built))
}

#[test]
fn a_table_from_an_earlier_build_is_refused_by_build_and_by_migrate_up() {
    let earlier = "CREATE TABLE {table} (id uuid PRIMARY KEY, version bigint NOT NULL, \
        created_at bigint NOT NULL, expires_at bigint NOT NULL, rule_kind smallint NOT NULL, \
        rule_ms bigint NOT NULL, data jsonb NOT NULL)";
    let Some((table, built)) = build_after("a_table_from_an_earlier_build", earlier) else {
        return;
    };
    let Err(StoreError::Open(cause)) = built else {
        panic!("expected an error opening the store, got {built:?}");
    };
    let message = cause.to_string();
    for expected in [table.as_str(), "uuid", "drop", "migrate_down", "migrate_up"] {
        assert!(message.contains(expected), "{expected} in {message}");
    }
    let Some(scratch) = Scratch::new("a_table_from_an_earlier_build_at_migrate_up") else {
        return;
    };
    let earlier = earlier.replace("{table}", &table);
    let settings = PostgresStore::builder(&scratch.url).table(table.as_str());
    let migrated = scratch.run(async {
        scratch.store.table.batch(&earlier).await.expect("prepare");
        let migrated = settings.migrate_up().await;
        settings.migrate_down().await.expect("migrate down");
        migrated
    });
    let Err(StoreError::Open(cause)) = migrated else {
        panic!("expected migrate_up to refuse the table, got {migrated:?}");
    };
    assert!(cause.to_string().contains("migrate_down"), "{cause}");
}

#[test]
fn migrate_up_on_an_existing_table_sends_no_notice_for_the_driver_to_log() {
    let Some(scratch) = Scratch::new("migrate_up_on_an_existing_table_sends_no_notice") else {
        return;
    };
    let notices = scratch.notices_of(&scratch.store.table.statements.migrate_up);
    assert_eq!(notices, Vec::<String>::new());
}

#[test]
fn migrate_up_on_a_table_of_the_previous_release_sends_no_notice_either() {
    let Some(scratch) = Scratch::new("migrate_up_on_a_previous_release_sends_no_notice") else {
        return;
    };
    let table = scratch.store.table.name.to_string();
    let previous = format!(
        "DROP TABLE {table}; {}",
        PREVIOUS_RELEASE.replace("{table}", &table)
    );
    scratch
        .run(scratch.store.table.batch(&previous))
        .expect("previous release");
    let notices = scratch.notices_of(&scratch.store.table.statements.migrate_up);
    assert_eq!(notices, Vec::<String>::new());
    scratch
        .run(scratch.store.table.check_layout())
        .expect("migrated");
}

#[test]
fn concurrent_saves_from_one_loaded_copy_all_keep_their_writes() {
    let Some(scratch) = Scratch::new("concurrent_saves_from_one_loaded_copy") else {
        return;
    };
    let id = SessionId::generate();
    let keys: Vec<String> = (0..16).map(|n| format!("k{n:02}")).collect();
    let latest = scratch.run(async {
        let store = &scratch.store;
        let loaded = stored(
            store
                .create(&id, &writing(&["a"], "1"))
                .await
                .expect("create"),
        );
        let saves = keys.iter().map(|key| {
            let (store, loaded) = (store.clone(), loaded.clone());
            let changes = writing(&[key.as_str()], "2");
            // Each save runs on a connection of its own, so the server sees them race.
            tokio::spawn(async move { store.update_from(&loaded, &changes).await })
        });
        for save in saves.collect::<Vec<_>>() {
            stored(save.await.expect("join").expect("save"));
        }
        store.load(&id).await.expect("load").expect("live")
    });
    assert_eq!(latest.version(), 17);
    for key in &keys {
        assert_eq!(latest.get(key), Some("2"), "{key}");
    }
}

/// The sessions table and its index on the deadline as the release before bindings created
/// them (`git show d37a8f7:kv-sessions/src/store/postgres/sql/migrate_up.sql`), `{table}` for
/// the table's name.
const PREVIOUS_RELEASE: &str = "CREATE TABLE IF NOT EXISTS {table} (
    id bytea PRIMARY KEY,
    version bigint NOT NULL,
    created_at bigint NOT NULL,
    expires_at bigint NOT NULL,
    rule_kind smallint NOT NULL,
    rule_ms bigint NOT NULL,
    data jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS {table}_expires_at ON {table} (expires_at);";

/// Changes under the default policy that bind the session to `user`, with `label` if given,
/// and write one value, so that a create makes a session of them.
fn binding(user: &str, label: Option<&str>) -> Changes {
    let owner = SessionOwner::new(user);
    let mut changes = writing(&["k"], "1");
    changes.bind(match label {
        Some(label) => owner.with_label(label),
        None => owner,
    });
    changes
}

/// The handles `store` lists for `user`, sorted.
async fn handles(store: &PostgresStore, user: &str) -> Vec<SessionDigest> {
    let listed = store.sessions_of(user).await.expect("list");
    let mut handles: Vec<SessionDigest> = listed.iter().map(UserSession::handle).collect();
    handles.sort_by_key(SessionDigest::to_string);
    handles
}

/// The digests of `ids`, sorted as [`handles`] sorts them.
fn digests(ids: &[SessionId]) -> Vec<SessionDigest> {
    let mut digests: Vec<SessionDigest> = ids.iter().map(SessionId::digest).collect();
    digests.sort_by_key(SessionDigest::to_string);
    digests
}

#[test]
fn a_bound_session_is_loaded_and_listed_with_its_owner_label_and_times() {
    let Some(scratch) = Scratch::new("a_bound_session_is_loaded_and_listed") else {
        return;
    };
    let (id, now) = (SessionId::generate(), SystemTime::now());
    let store = &scratch.store;
    scratch.run(async {
        let changes = binding("user-1", Some("Firefox on a \"laptop\", é"));
        let created = stored(store.create_at(&id, &changes, now).await.expect("create"));
        let owner = created.owner().expect("bound");
        assert_eq!(
            (owner.user(), owner.label()),
            ("user-1", Some("Firefox on a \"laptop\", é"))
        );
        let loaded = store.load_at(&id, now).await.expect("load");
        assert_eq!(loaded.as_ref(), Some(&created));
        let listed = store.sessions_of_at("user-1", now).await.expect("list");
        let expected = UserSession::new(
            id.digest(),
            created.created_at(),
            created.saved_at().expect("bound"),
            created.expires_at(),
            owner.label(),
        );
        assert_eq!(listed, [expected]);
        assert_eq!(store.sessions_of("user-2").await.expect("list"), []);
    });
}

#[test]
fn the_listing_follows_bind_unbind_renew_and_delete() {
    let Some(scratch) = Scratch::new("the_listing_follows_bind_unbind_renew_and_delete") else {
        return;
    };
    let store = &scratch.store;
    let (first, second, renewed) = (
        SessionId::generate(),
        SessionId::generate(),
        SessionId::generate(),
    );
    scratch.run(async {
        stored(
            store
                .create(&first, &binding("u", None))
                .await
                .expect("create"),
        );
        stored(
            store
                .create(&second, &writing(&["a"], "1"))
                .await
                .expect("create"),
        );
        assert_eq!(handles(store, "u").await, digests(&[first]));

        stored(
            store
                .update(&second, &binding("u", None))
                .await
                .expect("bind"),
        );
        assert_eq!(handles(store, "u").await, digests(&[first, second]));

        let saved = stored(
            store
                .update(&second, &writing(&["b"], "2"))
                .await
                .expect("save"),
        );
        assert_eq!(
            saved.owner().map(SessionOwner::user),
            Some("u"),
            "a save keeps it"
        );
        stored(
            store
                .update(&second, &binding("v", None))
                .await
                .expect("rebind"),
        );
        assert_eq!(handles(store, "u").await, digests(&[first]));
        assert_eq!(handles(store, "v").await, digests(&[second]));

        let mut unbind = writing(&[], "");
        unbind.unbind();
        let unbound = stored(store.update(&second, &unbind).await.expect("unbind"));
        assert_eq!((unbound.owner(), unbound.saved_at()), (None, None));
        assert_eq!(handles(store, "v").await, []);

        let moved = stored(
            store
                .renew(&first, &renewed, &writing(&["c"], "3"))
                .await
                .expect("renew"),
        );
        assert_eq!(moved.owner().map(SessionOwner::user), Some("u"));
        assert_eq!(handles(store, "u").await, digests(&[renewed]));

        store
            .delete(&renewed)
            .await
            .expect("delete")
            .expect("was live");
        assert_eq!(handles(store, "u").await, []);
    });
}

#[test]
fn expired_sessions_are_neither_listed_nor_revoked() {
    let Some(scratch) = Scratch::new("expired_sessions_are_neither_listed_nor_revoked") else {
        return;
    };
    let store = &scratch.store;
    let (id, now) = (SessionId::generate(), SystemTime::now());
    let later = now + Duration::from_secs(2);
    scratch.run(async {
        let mut changes = binding("u", None);
        changes.set_expiry(Some(Expiry::OnInactivity(Duration::from_secs(1))));
        stored(store.create_at(&id, &changes, now).await.expect("create"));
        assert_eq!(store.sessions_of_at("u", now).await.expect("list").len(), 1);
        assert_eq!(store.sessions_of_at("u", later).await.expect("list"), []);
        let revoked = store
            .revoke_at("u", id.digest(), later)
            .await
            .expect("revoke");
        assert!(!revoked, "an expired session is not revoked");
    });
    assert_eq!(scratch.rows(), 1, "the sweeper removes it, not revoke");
}

#[test]
fn revoke_deletes_a_live_session_only_for_the_user_it_is_bound_to() {
    let Some(scratch) = Scratch::new("revoke_deletes_a_live_session_only_for_its_user") else {
        return;
    };
    let store = &scratch.store;
    let (mine, unbound) = (SessionId::generate(), SessionId::generate());
    scratch.run(async {
        stored(
            store
                .create(&mine, &binding("me", None))
                .await
                .expect("create"),
        );
        stored(
            store
                .create(&unbound, &writing(&["a"], "1"))
                .await
                .expect("create"),
        );

        assert!(
            !store
                .revoke("someone-else", mine.digest())
                .await
                .expect("revoke")
        );
        assert!(
            store.load(&mine).await.expect("load").is_some(),
            "still live"
        );
        assert!(!store.revoke("me", unbound.digest()).await.expect("revoke"));
        assert!(
            store.load(&unbound).await.expect("load").is_some(),
            "still live"
        );

        assert!(store.revoke("me", mine.digest()).await.expect("revoke"));
        assert_eq!(store.load(&mine).await.expect("load"), None);
        assert!(
            !store
                .revoke("me", mine.digest())
                .await
                .expect("revoke again")
        );
    });
}

#[test]
fn revoke_all_revokes_every_session_of_the_user_but_the_one_spared() {
    let Some(scratch) = Scratch::new("revoke_all_revokes_every_session_of_the_user") else {
        return;
    };
    let store = &scratch.store;
    let ids: Vec<SessionId> = (0..4).map(|_| SessionId::generate()).collect();
    let other = SessionId::generate();
    scratch.run(async {
        for id in &ids {
            stored(store.create(id, &binding("u", None)).await.expect("create"));
        }
        stored(
            store
                .create(&other, &binding("v", None))
                .await
                .expect("create"),
        );
        let mut revoked = store
            .revoke_all("u", Some(ids[0].digest()))
            .await
            .expect("revoke all");
        revoked.sort_by_key(SessionDigest::to_string);
        assert_eq!(revoked, digests(&ids[1..]));
        assert_eq!(handles(store, "u").await, digests(&ids[..1]));
        assert_eq!(handles(store, "v").await, digests(&[other]));
    });
}

#[test]
fn a_bound_row_without_a_saved_time_is_corrupt_and_left_out_of_listings() {
    let Some(scratch) = Scratch::new("a_bound_row_without_a_saved_time_is_corrupt") else {
        return;
    };
    let id = SessionId::generate();
    scratch.insert_raw(&id, "1, 0, 9223372036854775807, 0, 0, '{}'");
    let sql = format!(
        "UPDATE {} SET owner_user = 'u'",
        scratch.store.table.name.quoted()
    );
    scratch
        .run(scratch.store.table.batch(&sql))
        .expect("bind by hand");
    let sound = SessionId::generate();
    let mut bind = Changes::new(SessionPolicy::default());
    bind.bind(SessionOwner::new("u"));
    scratch
        .run(scratch.store.create(&sound, &bind))
        .expect("create");
    let loaded = scratch.run(scratch.store.load(&id));
    assert!(matches!(loaded, Err(StoreError::Corrupt(_))), "{loaded:?}");
    let listed = scratch
        .run(scratch.store.sessions_of("u"))
        .expect("a listing");
    let handles: Vec<_> = listed.iter().map(UserSession::handle).collect();
    assert_eq!(
        handles,
        [sound.digest()],
        "the corrupt row is left out, the rest listed"
    );
    let revoked = scratch.run(scratch.store.revoke_all("u", None));
    assert_eq!(revoked.expect("revoke all"), [sound.digest()]);
}

#[test]
fn migrate_up_gives_a_table_of_the_previous_release_the_binding_and_keeps_its_rows() {
    let Some(scratch) = Scratch::new("migrate_up_on_a_table_of_the_previous_release") else {
        return;
    };
    let table = format!("kv_test_{}", &SessionId::generate().to_string()[..16]);
    let settings = PostgresStore::builder(&scratch.url)
        .table(table.as_str())
        .sweep_every(None);
    let id = SessionId::generate();
    let row = format!(
        "INSERT INTO {table} (id, version, created_at, expires_at, rule_kind, rule_ms, data) \
         VALUES ('\\x{}', 3, 0, 9223372036854775807, 0, 0, '{{\"a\": \"1\"}}')",
        id.digest()
    );
    scratch.run(async {
        let previous = PREVIOUS_RELEASE.replace("{table}", &table);
        scratch
            .store
            .table
            .batch(&previous)
            .await
            .expect("previous release");
        scratch.store.table.batch(&row).await.expect("a session");

        let Err(StoreError::Open(cause)) = settings.clone().build().await else {
            panic!("a table without the binding's columns must be refused");
        };
        let message = cause.to_string();
        for expected in [table.as_str(), "migrate_up", "keeps every session"] {
            assert!(message.contains(expected), "{expected} in {message}");
        }

        settings.migrate_up().await.expect("migrate up");
        settings.migrate_up().await.expect("migrate up again");
        let store = settings.build().await.expect("build");
        let kept = store.load(&id).await.expect("load").expect("kept");
        assert_eq!(
            (kept.version(), kept.get("a"), kept.owner()),
            (3, Some("1"), None)
        );

        stored(store.update(&id, &binding("u", None)).await.expect("bind"));
        assert_eq!(handles(&store, "u").await, digests(&[id]));
        store.migrate_down().await.expect("migrate down");
    });
}

#[test]
fn the_listing_goes_through_the_index_on_the_user_alone_before_and_after_analyze() {
    let Some(scratch) = Scratch::new("the_listing_goes_through_the_index_on_the_user") else {
        return;
    };
    let table = scratch.store.table.name.quoted();
    let rows = format!(
        "INSERT INTO {table} \
         (id, version, created_at, expires_at, rule_kind, rule_ms, data, owner_user, saved_at) \
         SELECT sha224(n::text::bytea), 1, 0, 9223372036854775807, 0, 0, '{{}}', \
             CASE WHEN n % 2 = 0 THEN 'u' || (n % 5000) END, 0 \
         FROM generate_series(1, 50000) AS n"
    );
    scratch.run(scratch.store.table.batch(&rows)).expect("fill");
    let explain = format!("EXPLAIN {}", scratch.store.table.statements.sessions_of);
    let (user, now) = ("u42", i64::MAX / 2);
    let params: [super::Param<'_>; 2] = [
        (&user, tokio_postgres::types::Type::TEXT),
        (&now, tokio_postgres::types::Type::INT8),
    ];
    for analyzed in [false, true] {
        if analyzed {
            let analyze = format!("ANALYZE {table}");
            scratch
                .run(scratch.store.table.batch(&analyze))
                .expect("analyze");
        }
        let plan = scratch.run(scratch.store.table.query(&explain, &params));
        let plan: Vec<String> = plan
            .expect("explain")
            .iter()
            .map(|row| row.get(0))
            .collect();
        let plan = plan.join("\n");
        assert!(plan.contains("_owner_user"), "analyzed {analyzed}: {plan}");
        assert!(!plan.contains("_expires_at"), "analyzed {analyzed}: {plan}");
        assert!(!plan.contains("Seq Scan"), "analyzed {analyzed}: {plan}");
    }
}

/// Saves `ids` through `store`, each `saves` times after loading it once, one at a time; how
/// long the saves took.
async fn saves(store: &PostgresStore, ids: &[SessionId], saves: usize) -> Duration {
    let mut took = Duration::ZERO;
    for id in ids {
        let mut latest = store.load(id).await.expect("load").expect("live");
        let start = std::time::Instant::now();
        for n in 0..saves {
            let changes = writing(&["n"], &n.to_string());
            latest = stored(store.update_from(&latest, &changes).await.expect("save"));
        }
        took += start.elapsed();
    }
    took
}

#[test]
#[ignore = "a measurement, not a check: run with --ignored --nocapture"]
fn what_a_binding_costs_a_save_that_leaves_it_alone() {
    const SESSIONS: usize = 50;
    const SAVES: usize = 20;
    const ROUNDS: usize = 9;
    let Some(scratch) = Scratch::new("what_a_binding_costs_a_save") else {
        return;
    };
    let (store, table) = (&scratch.store, scratch.store.table.name.quoted());
    let index = format!("'{}'", scratch.store.table.name.owner_index_quoted());
    let no_vacuum = format!("ALTER TABLE {table} SET (autovacuum_enabled = false)");
    scratch.run(store.table.batch(&no_vacuum)).expect("alter");
    let ids = |_| {
        (0..SESSIONS)
            .map(|_| SessionId::generate())
            .collect::<Vec<_>>()
    };
    let (unbound, bound) = (ids(()), ids(()));
    let index_bytes = || {
        let sql = format!("SELECT pg_relation_size({index}::regclass) AS bytes");
        let rows = scratch.run(store.table.query(&sql, &[])).expect("size");
        rows[0].get::<_, i64>("bytes")
    };
    scratch.run(async {
        for (n, (plain, owned)) in unbound.iter().zip(&bound).enumerate() {
            let owner = format!("user-{n}");
            stored(
                store
                    .create(plain, &writing(&["n"], "0"))
                    .await
                    .expect("create"),
            );
            let changes = binding(&owner, Some("Firefox on Linux"));
            stored(store.create(owned, &changes).await.expect("create"));
        }
    });
    let sizes = format!(
        "SELECT owner_user IS NOT NULL AS bound, avg(pg_column_size(t.*))::float8 AS now, \
         avg(pg_column_size(ROW(id, version, created_at, expires_at, rule_kind, rule_ms, \
         data)))::float8 AS before FROM {table} AS t GROUP BY 1 ORDER BY 1"
    );
    for row in scratch.run(store.table.query(&sizes, &[])).expect("sizes") {
        let (bound, now, before): (bool, f64, f64) = (row.get(0), row.get(1), row.get(2));
        eprintln!("row of a session bound: {bound}: {now} bytes, {before} without the columns");
    }
    let writes = (SESSIONS * SAVES) as f64;
    let mut ratios = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        let before = index_bytes();
        let plain = scratch.run(saves(store, &unbound, SAVES));
        let between = index_bytes();
        let owned = scratch.run(saves(store, &bound, SAVES));
        let after = index_bytes();
        eprintln!(
            "round {round}: unbound {:.0} µs/save, user index +{} bytes; bound {:.0} µs/save, \
             user index +{} bytes",
            plain.as_secs_f64() * 1e6 / writes,
            between - before,
            owned.as_secs_f64() * 1e6 / writes,
            after - between,
        );
        ratios.push(owned.as_secs_f64() / plain.as_secs_f64());
    }
    ratios.sort_by(f64::total_cmp);
    eprintln!(
        "median time of a save, bound / unbound: {:.3}",
        ratios[ROUNDS / 2]
    );
}
