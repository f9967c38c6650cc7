//! The store against a real Redis, where `KV_SESSIONS_REDIS_URL` names one (the variable of
//! `kv_sessions_tests::shared`), and its failures to connect, which need no server.
//!
//! Each test that uses Redis keeps its keys under a prefix of its own and deletes them when it
//! ends, even when it fails.

use std::net::TcpListener;
use std::time::Instant;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use redis::{AsyncCommands, Commands};

use super::*;
use crate::changes::SessionPolicy;
use crate::expiry::Expiry;

const MINUTE: Duration = Duration::from_secs(60);
const DAY_MS: i64 = 86_400_000;

/// A store under a key prefix of its own, with a plain connection to look beneath it. Dropping
/// it deletes every key under the prefix.
struct Scratch {
    store: RedisStore,
    raw: redis::aio::MultiplexedConnection,
    url: String,
    prefix: String,
}

impl Scratch {
    /// The scratch store of `test`, or `None` after saying on stderr that it is skipped.
    async fn open(test: &str) -> Option<Self> {
        let Some(url) = std::env::var("KV_SESSIONS_REDIS_URL")
            .ok()
            .filter(|url| !url.is_empty())
        else {
            eprintln!("skipping {test}: KV_SESSIONS_REDIS_URL is not set");
            return None;
        };
        let prefix = format!("kv_test_{}:", &SessionId::generate().to_string()[..16]);
        let store = RedisStore::builder(url.as_str())
            .key_prefix(prefix.as_str())
            .build()
            .await
            .expect("connect");
        let client = redis::Client::open(url.as_str()).expect("URL");
        let raw = client
            .get_multiplexed_async_connection()
            .await
            .expect("connect");
        Some(Self {
            store,
            raw,
            url,
            prefix,
        })
    }

    fn key(&self, id: &SessionId) -> String {
        self.store.key(id)
    }

    /// Writes `fields` as the hash of `id`, bypassing the store.
    async fn put_raw(&mut self, id: &SessionId, fields: &[(&[u8], &[u8])]) {
        let key = self.key(id);
        let () = self.raw.del(&key).await.expect("DEL");
        let () = self.raw.hset_multiple(&key, fields).await.expect("HSET");
    }

    /// The hash of `id` as Redis holds it, sorted.
    async fn raw(&mut self, id: &SessionId) -> Vec<hash::RawField> {
        let mut fields: Vec<hash::RawField> =
            self.raw.hgetall(self.key(id)).await.expect("HGETALL");
        fields.sort();
        fields
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let deleted = redis::Client::open(self.url.as_str())
            .and_then(|client| client.get_connection())
            .and_then(|mut connection| {
                let keys = connection
                    .scan_match(format!("{}*", self.prefix))?
                    .collect::<Result<Vec<String>, _>>()?;
                keys.iter()
                    .try_for_each(|key| redis::cmd("DEL").arg(key).exec(&mut connection))
            });
        if let Err(error) = deleted {
            eprintln!("could not delete the keys under {}: {error}", self.prefix);
        }
    }
}

fn stored(saved: Saved) -> Record {
    match saved {
        Saved::Stored(record) => record,
        other => panic!("expected a stored record, got {other:?}"),
    }
}

fn setting(pairs: &[(&str, &str)]) -> Changes {
    let mut changes = Changes::new(SessionPolicy::new(Expiry::OnInactivity(MINUTE)));
    for (key, json) in pairs {
        changes.set(*key, *json);
    }
    changes
}

/// A rule of a generated case, relative to the case's start.
#[derive(Debug, Clone, Copy)]
enum Rule {
    Idle(Duration),
    SessionEnd(Duration),
    /// This many milliseconds and nanoseconds after the start, or before it.
    At(i64, u32),
}

impl Rule {
    fn at(self, start: SystemTime) -> Expiry {
        match self {
            Self::Idle(idle) => Expiry::OnInactivity(idle),
            Self::SessionEnd(idle) => Expiry::OnSessionEnd(idle),
            Self::At(ms, nanos) => {
                let base = match u64::try_from(ms) {
                    Ok(after) => start + Duration::from_millis(after),
                    Err(_) => start - Duration::from_millis(ms.unsigned_abs()),
                };
                Expiry::AtDateTime(base + Duration::from_nanos(nanos.into()))
            }
        }
    }
}

/// An absolute lifetime of a generated case.
#[derive(Debug, Clone, Copy)]
enum Lifetime {
    None,
    Span(Duration),
    /// Close to where `created_at + lifetime` overflows `SystemTime`: so many seconds from it, and
    /// nanoseconds.
    NearOverflow(i64, u32),
    Longest,
}

impl Lifetime {
    fn for_creation(self, created_at: SystemTime) -> Option<Duration> {
        let created_secs = hash::millis(created_at) / 1000;
        match self {
            Self::None => None,
            Self::Span(span) => Some(span),
            Self::NearOverflow(from, nanos) => {
                let secs = (i64::MAX as u64 - created_secs).saturating_add_signed(from);
                Some(Duration::new(secs, nanos))
            }
            Self::Longest => Some(Duration::MAX),
        }
    }
}

/// One generated case: a stored session and changes saved to it later.
#[derive(Debug, Clone)]
struct Case {
    /// When the session is created, after the real now.
    start_ms: u64,
    /// How much later the changes are saved.
    elapsed_ms: u64,
    /// When the session was first created, relative to `start_ms`.
    created_ms: i64,
    stored_rule: Option<Rule>,
    stored: Vec<(String, String)>,
    default: Rule,
    lifetime: Lifetime,
    max_size: usize,
    clear: bool,
    writes: Vec<(String, Option<String>)>,
    sets_rule: Option<Option<Rule>>,
}

fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        6 => (0..DAY_MS as u64 * 500, 0..1_000_000_u64)
            .prop_map(|(ms, ns)| Duration::from_millis(ms) + Duration::from_nanos(ns)),
        1 => Just(Duration::ZERO),
        1 => Just(Duration::MAX),
    ]
}

fn rule() -> impl Strategy<Value = Rule> {
    prop_oneof![
        duration().prop_map(Rule::Idle),
        duration().prop_map(Rule::SessionEnd),
        (-2 * DAY_MS..DAY_MS * 500, 0..1_000_000_000_u32).prop_map(|(ms, ns)| Rule::At(ms, ns)),
        Just(Rule::At(-4_000_000_000_000, 5)),
        Just(Rule::At(i64::MAX / 4, 0)),
    ]
}

fn lifetime() -> impl Strategy<Value = Lifetime> {
    prop_oneof![
        Just(Lifetime::None),
        duration().prop_map(Lifetime::Span),
        (-1_i64..=1, 0..1_000_000_000_u32).prop_map(|(from, ns)| Lifetime::NearOverflow(from, ns)),
        Just(Lifetime::Longest),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "b", "c", "version", "k:x", "é", "rule_ms"])
        .prop_map(String::from)
}

fn value() -> impl Strategy<Value = String> {
    "[a-z\"0-9é ]{0,12}"
}

fn case() -> impl Strategy<Value = Case> {
    let times = (
        1_000..DAY_MS as u64 * 10,
        prop_oneof![0..120_000_u64, 0..DAY_MS as u64 * 500],
        -600 * DAY_MS..DAY_MS,
    );
    let stored = (
        prop::option::of(rule()),
        prop::collection::vec((key(), value()), 0..6),
    );
    let policy = (
        rule(),
        lifetime(),
        prop_oneof![0..80_usize, Just(SessionPolicy::DEFAULT_MAX_SIZE)],
    );
    let changes = (
        any::<bool>(),
        prop::collection::vec((key(), prop::option::of(value())), 0..5),
        prop::option::of(prop::option::of(rule())),
    );
    (times, stored, policy, changes).prop_map(
        |(
            (start_ms, elapsed_ms, created_ms),
            (stored_rule, stored),
            (default, lifetime, max_size),
            (clear, writes, sets_rule),
        )| Case {
            start_ms,
            elapsed_ms,
            created_ms,
            stored_rule,
            stored,
            default,
            lifetime,
            max_size,
            clear,
            writes,
            sets_rule,
        },
    )
}

/// A case made concrete against the real clock.
struct Concrete {
    start: SystemTime,
    later: SystemTime,
    /// Recreates the stored session whole, as a renewal moves one, with its creation time.
    seed: Changes,
    changes: Changes,
}

impl Case {
    fn concrete(&self, real_now: SystemTime) -> Concrete {
        let start = now_plus(real_now, self.start_ms);
        let later = now_plus(start, self.elapsed_ms);
        let created_at = match u64::try_from(self.created_ms) {
            Ok(after) => start + Duration::from_millis(after),
            Err(_) => start - Duration::from_millis(self.created_ms.unsigned_abs()),
        };
        let policy = |max_size| {
            SessionPolicy::new(self.default.at(start))
                .with_absolute_lifetime(self.lifetime.for_creation(created_at))
                .with_max_size(max_size)
        };
        let template = Record::new(
            SessionId::generate(),
            1,
            created_at,
            created_at,
            self.stored.iter().cloned(),
        )
        .with_expiry(self.stored_rule.map(|rule| rule.at(start)));
        let seed = Changes::moving(&template, &Changes::new(policy(usize::MAX)));
        let mut changes = Changes::new(policy(self.max_size));
        if self.clear {
            changes.clear();
        }
        for (key, write) in &self.writes {
            match write {
                Some(json) => changes.set(key.as_str(), json.as_str()),
                None => changes.remove(key.as_str()),
            };
        }
        if let Some(rule) = self.sets_rule {
            changes.set_expiry(rule.map(|rule| rule.at(start)));
        }
        Concrete {
            start,
            later,
            seed,
            changes,
        }
    }
}

fn now_plus(time: SystemTime, ms: u64) -> SystemTime {
    time + Duration::from_millis(ms)
}

#[actix_rt::test]
async fn every_write_merges_exactly_as_apply_to_does() {
    let Some(scratch) = Scratch::open("every_write_merges_exactly_as_apply_to_does").await else {
        return;
    };
    let store = &scratch.store;
    let mut runner = TestRunner::deterministic();
    for _ in 0..300 {
        let case = case().new_tree(&mut runner).expect("case").current();
        let Concrete {
            start,
            later,
            seed,
            changes,
        } = case.concrete(now());

        let (id, quick, old, new) = (
            SessionId::generate(),
            SessionId::generate(),
            SessionId::generate(),
            SessionId::generate(),
        );
        let created = store.create_at(&id, &seed, start).await.expect("create");
        assert_eq!(
            created,
            Saved::from(seed.apply_to(id, None, start)),
            "{case:?}"
        );
        let base = stored(created);
        let quick_base = stored(store.create_at(&quick, &seed, start).await.expect("create"));
        store.create_at(&old, &seed, start).await.expect("create");
        let live = (!base.is_expired_at(later)).then_some(&base);

        let updated = store
            .update_at(&quick, Some(&quick_base), &changes, later)
            .await
            .expect("update");
        let expected = match live {
            Some(_) => Saved::from(changes.apply_to(quick, Some(&quick_base), later)),
            None => Saved::Gone,
        };
        assert_eq!(
            updated, expected,
            "update made against the copy of {case:?}"
        );
        if let Saved::Stored(record) = &updated
            && !record.is_expired_at(later)
        {
            let loaded = store.load(&quick).await.expect("load");
            assert_eq!(loaded.as_ref(), Some(record), "load after {case:?}");
        }

        let updated = store
            .update_at(&id, None, &changes, later)
            .await
            .expect("update");
        let expected = match live {
            Some(base) => Saved::from(changes.apply_to(id, Some(base), later)),
            None => Saved::Gone,
        };
        assert_eq!(updated, expected, "update of {case:?}");
        if let Saved::Stored(record) = &updated
            && !record.is_expired_at(later)
        {
            let loaded = store.load(&id).await.expect("load");
            assert_eq!(loaded.as_ref(), Some(record), "load after {case:?}");
        }

        let renewed = store
            .renew_at(&old, &new, &changes, later)
            .await
            .expect("renew");
        let expected = match live {
            Some(base) => Saved::from(changes.apply_to(new, Some(base), later)),
            None if changes.writes_a_value() => Saved::from(changes.apply_to(new, None, later)),
            None => Saved::Gone,
        };
        assert_eq!(renewed, expected, "renewal of {case:?}");
    }
}

#[actix_rt::test]
async fn a_session_is_gone_from_its_deadline_to_the_millisecond() {
    let Some(scratch) =
        Scratch::open("a_session_is_gone_from_its_deadline_to_the_millisecond").await
    else {
        return;
    };
    let store = &scratch.store;
    let start = now() + MINUTE;
    let deadline = start + MINUTE;
    let (id, old) = (SessionId::generate(), SessionId::generate());
    for session in [&id, &old] {
        stored(
            store
                .create_at(session, &setting(&[("a", "1")]), start)
                .await
                .expect("create"),
        );
    }
    let just_before = deadline - Duration::from_millis(1);
    let update = store.update_at(&id, None, &setting(&[]), just_before).await;
    assert_eq!(
        stored(update.expect("update")).expires_at(),
        just_before + MINUTE
    );
    let at_deadline = just_before + MINUTE;
    assert_eq!(
        store
            .update_at(&id, None, &setting(&[]), at_deadline)
            .await
            .expect("update"),
        Saved::Gone
    );
    let (new, taken) = (SessionId::generate(), SessionId::generate());
    let renew = store.renew_at(&old, &new, &setting(&[]), deadline).await;
    assert_eq!(renew.expect("renew"), Saved::Gone, "nothing moves");
    stored(
        store
            .create_at(&taken, &setting(&[("b", "2")]), start)
            .await
            .expect("create"),
    );
    let create = store
        .create_at(&taken, &setting(&[("c", "3")]), deadline)
        .await;
    assert!(
        create.is_err(),
        "an id stays taken until Redis expires its hash: {create:?}"
    );
}

#[actix_rt::test]
async fn a_hash_without_metadata_or_with_bytes_that_are_not_utf8_loads_as_corrupt() {
    let Some(mut scratch) = Scratch::open("a_hash_without_metadata_loads_as_corrupt").await else {
        return;
    };
    let bare = SessionId::generate();
    scratch.put_raw(&bare, &[(b"k:a", b"1")]).await;
    let loaded = scratch.store.load(&bare).await;
    assert!(matches!(loaded, Err(StoreError::Corrupt(_))), "{loaded:?}");

    let (binary, _) = created(&scratch.store, &[("a", "1")]).await;
    let key = scratch.key(&binary);
    let () = scratch
        .raw
        .hset(&key, "k:b", &[0xff_u8, 0xfe][..])
        .await
        .expect("HSET");
    let loaded = scratch.store.load(&binary).await;
    assert!(matches!(loaded, Err(StoreError::Corrupt(_))), "{loaded:?}");
}

#[actix_rt::test]
async fn writes_treat_a_hash_whose_metadata_does_not_read_as_no_session() {
    let Some(mut scratch) =
        Scratch::open("writes_treat_a_hash_whose_metadata_does_not_read_as_no_session").await
    else {
        return;
    };
    let id = SessionId::generate();
    let corrupt: &[(&[u8], &[u8])] = &[(b"meta", b"x:1:99999999999999"), (b"k:a", b"1")];
    scratch.put_raw(&id, corrupt).await;
    let before = scratch.raw(&id).await;
    let update = scratch.store.update(&id, &setting(&[("b", "2")])).await;
    assert_eq!(update.expect("update"), Saved::Gone);
    let new = SessionId::generate();
    let renew = scratch
        .store
        .renew(&id, &new, &Changes::new(SessionPolicy::default()))
        .await;
    assert_eq!(renew.expect("renew"), Saved::Gone);
    assert_eq!(scratch.raw(&id).await, before, "nothing was written");

    let create = scratch.store.create(&id, &setting(&[("c", "3")])).await;
    assert!(create.is_err(), "a create never overwrites: {create:?}");
    assert_eq!(scratch.raw(&id).await, before, "nothing was written");

    scratch.put_raw(&id, corrupt).await;
    assert_eq!(scratch.store.delete(&id).await.expect("delete"), None);
    assert!(
        scratch.raw(&id).await.is_empty(),
        "the corrupt hash is gone"
    );
}

#[actix_rt::test]
async fn an_update_made_against_a_stale_copy_merges_into_the_latest() {
    let Some(scratch) =
        Scratch::open("an_update_made_against_a_stale_copy_merges_into_the_latest").await
    else {
        return;
    };
    let store = &scratch.store;
    let (id, loaded) = created(store, &[("a", "1"), ("gone", "0")]).await;
    let mut first = setting(&[("b", "2")]);
    first.remove("gone");
    let first = stored(store.update_from(&loaded, &first).await.expect("update"));
    assert_eq!(first.version(), 2);
    let late = setting(&[("c", "3")]);
    let latest = stored(store.update_from(&loaded, &late).await.expect("update"));
    let entries: Vec<_> = latest.entries().collect();
    assert_eq!(entries, [("a", "1"), ("b", "2"), ("c", "3")]);
    assert_eq!(
        latest.version(),
        3,
        "merged into version 2, not the loaded 1"
    );
    assert_eq!(store.load(&id).await.expect("load"), Some(latest));
}

#[actix_rt::test]
async fn an_update_made_against_a_deleted_copy_creates_nothing() {
    let Some(mut scratch) =
        Scratch::open("an_update_made_against_a_deleted_copy_creates_nothing").await
    else {
        return;
    };
    let (id, loaded) = created(&scratch.store, &[("a", "1")]).await;
    scratch.store.delete(&id).await.expect("delete");
    let late = setting(&[("b", "2")]);
    let update = scratch
        .store
        .update_from(&loaded, &late)
        .await
        .expect("update");
    assert_eq!(update, Saved::Gone);
    assert!(scratch.raw(&id).await.is_empty(), "nothing was created");
}

#[actix_rt::test]
async fn an_update_made_against_the_latest_copy_writes_only_what_changed() {
    let Some(mut scratch) =
        Scratch::open("an_update_made_against_the_latest_copy_writes_only_what_changed").await
    else {
        return;
    };
    let mut seed = setting(&[("a", "1"), ("b", "2")]);
    seed.set_expiry(Some(Expiry::OnInactivity(MINUTE * 5)));
    let id = SessionId::generate();
    let loaded = stored(scratch.store.create(&id, &seed).await.expect("create"));
    let mut changes = setting(&[("c", "3")]);
    changes.remove("a").set_expiry(None);
    let merged = stored(
        scratch
            .store
            .update_from(&loaded, &changes)
            .await
            .expect("update"),
    );
    assert_eq!(merged.expiry(), None, "the rule is back to the default");
    let expected = hash::fields(&merged)
        .into_iter()
        .map(|(name, value)| (name.into_bytes(), value.into_bytes()));
    let mut expected: Vec<hash::RawField> = expected.collect();
    expected.sort();
    assert_eq!(scratch.raw(&id).await, expected);

    // The version is all the script compares: a field that the copy does not hold, slipped in
    // under the same version, shows that only the changes were written.
    let key = scratch.key(&id);
    let () = scratch.raw.hset(&key, "k:x", "0").await.expect("HSET");
    let again = setting(&[("c", "4")]);
    let saved = stored(
        scratch
            .store
            .update_from(&merged, &again)
            .await
            .expect("update"),
    );
    assert_eq!(saved.get("x"), None, "the record merged in Rust");
    let loaded = scratch.store.load(&id).await.expect("load");
    assert_eq!(
        loaded.as_ref().and_then(|record| record.get("x")),
        Some("0")
    );
}

/// Creates a session holding `pairs`.
async fn created(store: &RedisStore, pairs: &[(&str, &str)]) -> (SessionId, Record) {
    let id = SessionId::generate();
    let record = stored(store.create(&id, &setting(pairs)).await.expect("create"));
    (id, record)
}

#[actix_rt::test]
async fn the_hash_follows_the_documented_layout_and_expires_at_the_deadline() {
    let Some(mut scratch) =
        Scratch::open("the_hash_follows_the_documented_layout_and_expires_at_the_deadline").await
    else {
        return;
    };
    let id = SessionId::generate();
    let mut changes = setting(&[("version", "\"mine\"")]);
    changes.set_expiry(Some(Expiry::OnInactivity(MINUTE * 5)));
    let record = stored(scratch.store.create(&id, &changes).await.expect("create"));
    let expires_at = hash::millis(record.expires_at()).to_string();
    let created_at = hash::millis(record.created_at()).to_string();
    let meta = format!("1:{created_at}:{expires_at}");
    let expected: Vec<hash::RawField> = vec![
        ("k:version", "\"mine\""),
        ("meta", meta.as_str()),
        ("rule", "on_inactivity:300.000000000"),
        ("rule_ms", "idle:300000"),
    ]
    .into_iter()
    .map(|(name, value)| (name.as_bytes().to_vec(), value.as_bytes().to_vec()))
    .collect();
    assert_eq!(scratch.raw(&id).await, expected);
    let key = scratch.key(&id);
    let expire_time: u64 = redis::cmd("PEXPIRETIME")
        .arg(&key)
        .query_async(&mut scratch.raw)
        .await
        .expect("PEXPIRETIME");
    assert_eq!(expire_time.to_string(), expires_at);
    assert!(key.starts_with(&scratch.prefix) && key.ends_with(&id.to_string()));
}

#[actix_rt::test]
async fn values_are_kept_byte_for_byte_and_large_sessions_in_full() {
    let Some(scratch) =
        Scratch::open("values_are_kept_byte_for_byte_and_large_sessions_in_full").await
    else {
        return;
    };
    let odd = " { \"a\" :\t1 }\n\u{0}é\u{1F600}";
    let (id, _) = created(&scratch.store, &[("odd", odd)]).await;
    let mut many = setting(&[]);
    for i in 0..3_000 {
        many.set(format!("key{i}"), i.to_string());
    }
    let merged = stored(scratch.store.update(&id, &many).await.expect("update"));
    assert_eq!(merged.len(), 3_001);
    let loaded = scratch
        .store
        .load(&id)
        .await
        .expect("load")
        .expect("stored");
    assert_eq!(loaded, merged);
    assert_eq!(loaded.get("odd"), Some(odd));
    assert_eq!(loaded.get("key2999"), Some("2999"));
    let moved = stored(
        scratch
            .store
            .renew(&id, &SessionId::generate(), &setting(&[]))
            .await
            .expect("renew"),
    );
    assert_eq!(moved.len(), 3_001);
}

#[actix_rt::test]
async fn a_fresh_id_already_in_use_fails_and_changes_nothing() {
    let Some(mut scratch) =
        Scratch::open("a_fresh_id_already_in_use_fails_and_changes_nothing").await
    else {
        return;
    };
    let (taken, _) = created(&scratch.store, &[("a", "1")]).await;
    let before = scratch.raw(&taken).await;
    let create = scratch.store.create(&taken, &setting(&[("b", "2")])).await;
    assert!(matches!(create, Err(StoreError::Backend(_))), "{create:?}");
    let (old, _) = created(&scratch.store, &[("c", "3")]).await;
    let old_before = scratch.raw(&old).await;
    let renew = scratch.store.renew(&old, &taken, &setting(&[])).await;
    assert!(matches!(renew, Err(StoreError::Backend(_))), "{renew:?}");
    assert_eq!(scratch.raw(&taken).await, before);
    assert_eq!(scratch.raw(&old).await, old_before);
}

#[test]
fn a_store_serves_threads_whose_runtimes_outlive_the_one_that_built_it() {
    let test = "a_store_serves_threads_whose_runtimes_outlive_the_one_that_built_it";
    let built = actix_rt::System::new().block_on(Scratch::open(test));
    let Some(scratch) = built else {
        return;
    };
    let store = scratch.store.clone();
    let workers: Vec<_> = (0..2)
        .map(|n| {
            let store = store.clone();
            std::thread::spawn(move || {
                actix_rt::System::new().block_on(async move {
                    let (id, record) = created(&store, &[("worker", &n.to_string())]).await;
                    let loaded = store.load(&id).await.expect("load");
                    assert_eq!(loaded, Some(record), "worker {n}");
                })
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("the worker's operations succeed");
    }
}

#[actix_rt::test]
async fn scripts_the_server_lost_are_sent_again() {
    let Some(mut scratch) = Scratch::open("scripts_the_server_lost_are_sent_again").await else {
        return;
    };
    let (id, _) = created(&scratch.store, &[("a", "1")]).await;
    let () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut scratch.raw)
        .await
        .expect("SCRIPT FLUSH");
    let merged = stored(
        scratch
            .store
            .update(&id, &setting(&[("b", "2")]))
            .await
            .expect("update"),
    );
    assert_eq!(merged.version(), 2);
}

#[actix_rt::test]
async fn the_store_names_its_server_but_never_the_password() {
    let Some(scratch) = Scratch::open("the_store_names_its_server_but_never_the_password").await
    else {
        return;
    };
    let shown = format!("{:?}", scratch.store);
    assert!(shown.contains(&scratch.prefix), "{shown}");
    assert!(shown.contains("pool_size: 1"), "{shown}");
    let builder = RedisStore::builder("redis://alice:hunter2@cache.internal:6380/3");
    let shown = format!("{builder:?}");
    assert!(shown.contains("cache.internal:6380/3"), "{shown}");
    assert!(
        !shown.contains("hunter2") && !shown.contains("alice"),
        "{shown}"
    );
}

/// A loopback port on which nothing listens.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

#[actix_rt::test]
async fn a_closed_port_fails_to_connect_within_the_timeout() {
    let timeout = Duration::from_secs(2);
    let started = Instant::now();
    let built = RedisStore::builder(format!("redis://127.0.0.1:{}", closed_port()))
        .operation_timeout(timeout)
        .build()
        .await;
    let elapsed = started.elapsed();
    assert!(
        elapsed <= timeout + Duration::from_millis(200),
        "took {elapsed:?}"
    );
    let port = closed_port();
    let connected = RedisStore::connect(&format!("redis://:hunter2@127.0.0.1:{port}")).await;
    let message = connected.expect_err("a closed port").to_string();
    assert!(
        message.starts_with(&format!("could not reach Redis at 127.0.0.1:{port}/0: ")),
        "{message}"
    );
    assert!(!message.contains("hunter2"), "{message}");
    assert!(matches!(built, Err(StoreError::Open(_))), "{built:?}");
    let garbled = RedisStore::connect("redis//127.0.0.1").await;
    let message = garbled.expect_err("not a URL").to_string();
    assert!(
        message.starts_with("the Redis URL does not parse"),
        "{message}"
    );
}

#[actix_rt::test]
async fn a_server_that_never_answers_fails_the_build_at_the_timeout() {
    // The kernel accepts connections into the backlog, but nothing ever answers them.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("address").port();
    let timeout = Duration::from_millis(300);
    let started = Instant::now();
    let built = RedisStore::builder(format!("redis://127.0.0.1:{port}"))
        .operation_timeout(timeout)
        .build()
        .await;
    let elapsed = started.elapsed();
    let error = built.expect_err("nothing answers");
    assert!(matches!(error, StoreError::Open(_)), "{error:?}");
    assert!(
        elapsed < timeout + Duration::from_millis(200),
        "took {elapsed:?}"
    );
    assert!(elapsed >= timeout, "gave up after {elapsed:?}");
}
