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
use crate::owner::SessionOwner;

const MINUTE: Duration = Duration::from_secs(60);
const DAY_MS: i64 = 86_400_000;

/// The clock now, in whole milliseconds, so that times a test adds to it stay whole too.
fn now() -> SystemTime {
    hash::from_millis(hash::millis(SystemTime::now()))
}

/// A store under a key prefix of its own, with a plain connection to look beneath it. Dropping
/// it deletes every key under the prefix.
pub(super) struct Scratch {
    pub(super) store: RedisStore,
    pub(super) raw: redis::aio::MultiplexedConnection,
    pub(super) url: String,
    pub(super) prefix: String,
}

impl Scratch {
    /// The scratch store of `test`, or `None` after saying on stderr that it is skipped.
    pub(super) async fn open(test: &str) -> Option<Self> {
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

    pub(super) fn key(&self, id: &SessionId) -> String {
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

    /// Every key under the prefix, with the fields of its hash.
    async fn everything(&mut self) -> Vec<(String, Vec<hash::RawField>)> {
        let keys: Vec<String> = self
            .raw
            .keys(format!("{}*", self.prefix))
            .await
            .expect("KEYS");
        let mut everything = Vec::new();
        for key in keys {
            let fields = self.raw.hgetall(&key).await.expect("HGETALL");
            everything.push((key, fields));
        }
        everything
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

pub(super) fn stored(saved: Saved) -> Record {
    match saved {
        Saved::Stored(record) => record,
        other => panic!("expected a stored record, got {other:?}"),
    }
}

pub(super) fn setting(pairs: &[(&str, &str)]) -> Changes {
    let mut changes = Changes::new(SessionPolicy::new(Expiry::OnInactivity(MINUTE)));
    for (key, json) in pairs {
        changes.set(*key, *json);
    }
    changes
}

/// Creates a session holding `pairs`.
pub(super) async fn created(store: &RedisStore, pairs: &[(&str, &str)]) -> (SessionId, Record) {
    let id = SessionId::generate();
    let record = stored(store.create(&id, &setting(pairs)).await.expect("create"));
    (id, record)
}

/// The fields of the hash that stores `record`, sorted, as Redis returns them.
fn hash_of(record: &Record) -> Vec<hash::RawField> {
    let mut fields: Vec<hash::RawField> = hash::fields(record)
        .into_iter()
        .map(|(name, value)| (name.into_bytes(), value.into_bytes()))
        .collect();
    fields.sort();
    fields
}

/// A rule of a generated case, relative to the case's start.
#[derive(Debug, Clone, Copy)]
enum Rule {
    Idle(Duration),
    SessionEnd(Duration),
    /// This many milliseconds after the start, or before it.
    At(i64),
}

impl Rule {
    fn at(self, start: SystemTime) -> Expiry {
        match self {
            Self::Idle(idle) => Expiry::OnInactivity(idle),
            Self::SessionEnd(idle) => Expiry::OnSessionEnd(idle),
            Self::At(ms) => match u64::try_from(ms) {
                Ok(after) => Expiry::AtDateTime(start + Duration::from_millis(after)),
                Err(_) => Expiry::AtDateTime(start - Duration::from_millis(ms.unsigned_abs())),
            },
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
    stored_rule: Option<Rule>,
    stored: Vec<(String, String)>,
    default: Rule,
    lifetime: Option<Duration>,
    max_size: usize,
    clear: bool,
    writes: Vec<(String, Option<String>)>,
    sets_rule: Option<Option<Rule>>,
    /// Whom the stored session is bound to, as an index into [`OWNERS`].
    stored_owner: Option<usize>,
    /// Whom the changes bind the session to (`Some(None)` unbinds).
    binds: Option<Option<usize>>,
}

/// The owners a generated case binds its sessions to: two users, one with and one without a
/// label.
const OWNERS: [(&str, Option<&str>); 3] = [("ana", None), ("ana", Some("phone")), ("bob", None)];

/// The owner `OWNERS[index]`.
fn owner(index: usize) -> SessionOwner {
    let (user, label) = OWNERS[index];
    let owner = SessionOwner::new(user);
    match label {
        Some(label) => owner.with_label(label),
        None => owner,
    }
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
        (-2 * DAY_MS..DAY_MS * 500).prop_map(Rule::At),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "b", "c", "version", "k:x", "é", "rule", "meta"])
        .prop_map(String::from)
}

fn value() -> impl Strategy<Value = String> {
    "[a-z\"0-9é ]{0,12}"
}

fn case() -> impl Strategy<Value = Case> {
    let times = (
        1_000..DAY_MS as u64 * 10,
        prop_oneof![0..120_000_u64, 0..DAY_MS as u64 * 500],
    );
    let stored = (
        prop::option::of(rule()),
        prop::collection::vec((key(), value()), 0..6),
    );
    let policy = (
        rule(),
        prop::option::of(duration()),
        prop_oneof![0..80_usize, Just(SessionPolicy::DEFAULT_MAX_SIZE)],
    );
    let changes = (
        any::<bool>(),
        prop::collection::vec((key(), prop::option::of(value())), 0..5),
        prop::option::of(prop::option::of(rule())),
    );
    let owners = (
        prop::option::of(0..OWNERS.len()),
        prop::option::of(prop::option::of(0..OWNERS.len())),
    );
    (times, stored, policy, changes, owners).prop_map(
        |(
            (start_ms, elapsed_ms),
            (stored_rule, stored),
            (default, lifetime, max_size),
            (clear, writes, sets_rule),
            (stored_owner, binds),
        )| Case {
            start_ms,
            elapsed_ms,
            stored_rule,
            stored,
            default,
            lifetime,
            max_size,
            clear,
            writes,
            sets_rule,
            stored_owner,
            binds,
        },
    )
}

/// A case made concrete against the real clock.
struct Concrete {
    start: SystemTime,
    later: SystemTime,
    /// Creates the stored session, with its rule.
    seed: Changes,
    /// Another request's write, between the load and the save of `changes`.
    meanwhile: Changes,
    changes: Changes,
}

impl Case {
    fn concrete(&self, real_now: SystemTime) -> Concrete {
        let start = real_now + Duration::from_millis(self.start_ms);
        let later = start + Duration::from_millis(self.elapsed_ms);
        let policy = |max_size| {
            SessionPolicy::new(self.default.at(start))
                .with_absolute_lifetime(self.lifetime)
                .with_max_size(max_size)
        };
        let mut seed = Changes::new(policy(usize::MAX));
        for (key, json) in &self.stored {
            seed.set(key.as_str(), json.as_str());
        }
        seed.set_expiry(self.stored_rule.map(|rule| rule.at(start)));
        if let Some(index) = self.stored_owner {
            seed.bind(owner(index));
        }
        let mut meanwhile = Changes::new(policy(usize::MAX));
        meanwhile.set("meanwhile", "1").remove("a");
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
        match self.binds {
            Some(Some(index)) => changes.bind(owner(index)),
            Some(None) => changes.unbind(),
            None => &mut changes,
        };
        Concrete {
            start,
            later,
            seed,
            meanwhile,
            changes,
        }
    }
}

/// What a save of `changes` at `now` to the session whose latest copy is `latest` must answer:
/// [`Changes::apply_to`] of that copy, or gone where it is not live.
fn expected(id: SessionId, latest: Option<&Record>, changes: &Changes, now: SystemTime) -> Saved {
    match latest.filter(|copy| !copy.is_expired_at(now)) {
        Some(copy) => Saved::from(changes.apply_to(id, Some(copy), now)),
        None => Saved::Gone,
    }
}

/// Checks that the index agrees with the hashes of `ids` as Redis holds them: each hash bound to
/// a user is in that user's set, which expires no sooner than the hash; and each of them that a
/// user's set holds either is gone or is bound to that user.
async fn index_agrees(scratch: &mut Scratch, ids: &[SessionId], case: &Case) {
    for id in ids {
        let fields = scratch.raw(id).await;
        let user = fields
            .iter()
            .find(|(name, _)| name == hash::USER.as_bytes());
        let user = user.map(|(_, value)| String::from_utf8(value.clone()).expect("UTF-8"));
        let user = user.as_deref().and_then(index::parse_user_field);
        let digest = id.digest().to_string();
        for (candidate, _) in OWNERS {
            let held = scratch.members(candidate).await.contains(&digest);
            let bound_here = user == Some(candidate);
            assert!(
                held == bound_here || (held && fields.is_empty()),
                "{candidate}'s set and the hash {fields:?} disagree after {case:?}"
            );
        }
        if let Some(user) = user {
            let session = scratch.expire_time(&scratch.key(id)).await;
            let set = scratch.expire_time(&scratch.set(user)).await;
            assert!(
                set >= session,
                "the set expires before its session after {case:?}"
            );
        }
    }
}

/// Checks that the hash of `id` holds exactly `saved` where it is a live record.
async fn holds(scratch: &mut Scratch, id: &SessionId, saved: &Saved, now: SystemTime, case: &Case) {
    if let Saved::Stored(record) = saved
        && !record.is_expired_at(now)
    {
        assert_eq!(
            scratch.raw(id).await,
            hash_of(record),
            "hash after {case:?}"
        );
    }
}

#[actix_rt::test]
async fn every_write_stores_what_apply_to_gives_against_the_latest_copy() {
    let test = "every_write_stores_what_apply_to_gives_against_the_latest_copy";
    let Some(mut scratch) = Scratch::open(test).await else {
        return;
    };
    let store = scratch.store.clone();
    let mut runner = TestRunner::deterministic();
    for _ in 0..300 {
        let case = case().new_tree(&mut runner).expect("case").current();
        let Concrete {
            start,
            later,
            seed,
            meanwhile,
            changes,
        } = case.concrete(now());
        let ids = [(); 5].map(|()| SessionId::generate());
        let [fresh, stale, read, old, new] = ids;
        let mut copies = Vec::new();
        for id in &ids[..4] {
            let created = store.create_at(id, &seed, start).await.expect("create");
            assert_eq!(
                created,
                Saved::from(seed.apply_to(*id, None, start)),
                "{case:?}"
            );
            copies.push(stored(created));
        }

        let saved = store
            .update_at(&fresh, Some(&copies[0]), &changes, later)
            .await
            .expect("update");
        let latest = Some(&copies[0]);
        assert_eq!(
            saved,
            expected(fresh, latest, &changes, later),
            "fresh copy, {case:?}"
        );
        holds(&mut scratch, &fresh, &saved, later, &case).await;

        let between = store.update_at(&stale, None, &meanwhile, start).await;
        let between = match between.expect("update") {
            Saved::Stored(record) => Some(record),
            _ => None,
        };
        let saved = store
            .update_at(&stale, Some(&copies[1]), &changes, later)
            .await
            .expect("update");
        let latest = between.as_ref();
        assert_eq!(
            saved,
            expected(stale, latest, &changes, later),
            "stale copy, {case:?}"
        );
        holds(&mut scratch, &stale, &saved, later, &case).await;

        let saved = store
            .update_at(&read, None, &changes, later)
            .await
            .expect("update");
        let latest = Some(&copies[2]);
        assert_eq!(
            saved,
            expected(read, latest, &changes, later),
            "update, {case:?}"
        );
        holds(&mut scratch, &read, &saved, later, &case).await;

        let renewed = store
            .renew_at(&old, &new, &changes, later)
            .await
            .expect("renew");
        let moved = match Some(&copies[3]).filter(|copy| !copy.is_expired_at(later)) {
            Some(copy) => Saved::from(changes.apply_to(new, Some(copy), later)),
            None if changes.writes_a_value() => Saved::from(changes.apply_to(new, None, later)),
            None => Saved::Gone,
        };
        assert_eq!(renewed, moved, "renewal of {case:?}");
        holds(&mut scratch, &new, &renewed, later, &case).await;
        if let Saved::Stored(_) = renewed {
            assert!(scratch.raw(&old).await.is_empty(), "old id of {case:?}");
        }
        index_agrees(&mut scratch, &ids, &case).await;
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
async fn an_update_made_against_a_stale_copy_keeps_both_writes() {
    let Some(mut scratch) =
        Scratch::open("an_update_made_against_a_stale_copy_keeps_both_writes").await
    else {
        return;
    };
    let store = scratch.store.clone();
    let (id, loaded) = created(&store, &[("a", "1"), ("gone", "0")]).await;
    let mut first = setting(&[("b", "2")]);
    first.remove("gone");
    let first = stored(store.update(&id, &first).await.expect("update"));
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
    assert_eq!(store.load(&id).await.expect("load"), Some(latest.clone()));
    assert_eq!(scratch.raw(&id).await, hash_of(&latest));
}

#[actix_rt::test]
async fn a_clear_made_against_a_stale_copy_clears_the_latest() {
    let Some(mut scratch) =
        Scratch::open("a_clear_made_against_a_stale_copy_clears_the_latest").await
    else {
        return;
    };
    let store = scratch.store.clone();
    let (id, loaded) = created(&store, &[("a", "1")]).await;
    stored(
        store
            .update(&id, &setting(&[("b", "2")]))
            .await
            .expect("update"),
    );
    let mut late = setting(&[]);
    late.clear().set("c", "3");
    let latest = stored(store.update_from(&loaded, &late).await.expect("update"));
    assert_eq!(latest.entries().collect::<Vec<_>>(), [("c", "3")]);
    assert_eq!(latest.version(), 3);
    assert_eq!(
        scratch.raw(&id).await,
        hash_of(&latest),
        "the entry written in between is deleted too"
    );
}

#[actix_rt::test]
async fn updates_made_against_one_copy_at_once_all_survive() {
    let Some(scratch) = Scratch::open("updates_made_against_one_copy_at_once_all_survive").await
    else {
        return;
    };
    let store = &scratch.store;
    let (id, loaded) = created(store, &[("a", "1")]).await;
    let writers: Vec<_> = (0..8)
        .map(|n| {
            let (store, loaded) = (store.clone(), loaded.clone());
            actix_rt::spawn(async move {
                let changes = setting(&[(format!("writer{n}").as_str(), "1")]);
                store.update_from(&loaded, &changes).await.expect("update")
            })
        })
        .collect();
    let mut versions = Vec::new();
    for writer in writers {
        versions.push(stored(writer.await.expect("the writer ends")).version());
    }
    let mut sorted = versions.clone();
    sorted.sort();
    assert_eq!(sorted, (2..=9).collect::<Vec<_>>(), "{versions:?}");
    let latest = store.load(&id).await.expect("load").expect("live");
    assert_eq!(latest.len(), 9);
    assert_eq!(latest.version(), 9);
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
async fn an_update_past_the_cap_against_a_stale_copy_is_decided_on_the_latest() {
    let Some(scratch) =
        Scratch::open("an_update_past_the_cap_against_a_stale_copy_is_decided_on_the_latest").await
    else {
        return;
    };
    let store = &scratch.store;
    let (id, loaded) = created(store, &[("big", "1234567890")]).await;
    let mut shrink = setting(&[]);
    shrink.remove("big");
    stored(store.update(&id, &shrink).await.expect("update"));
    let policy = SessionPolicy::new(Expiry::OnInactivity(MINUTE)).with_max_size(12);
    let mut late = Changes::new(policy);
    late.set("small", "1234567");
    let saved = stored(store.update_from(&loaded, &late).await.expect("update"));
    assert_eq!(saved.entries().collect::<Vec<_>>(), [("small", "1234567")]);
}

#[actix_rt::test]
async fn a_renewal_merged_against_a_stale_copy_moves_the_latest() {
    let Some(mut scratch) =
        Scratch::open("a_renewal_merged_against_a_stale_copy_moves_the_latest").await
    else {
        return;
    };
    let store = scratch.store.clone();
    let (old, loaded) = created(&store, &[("a", "1")]).await;
    stored(
        store
            .update(&old, &setting(&[("b", "2")]))
            .await
            .expect("update"),
    );
    let (new, at) = (SessionId::generate(), now());
    let changes = setting(&[("c", "3")]);
    let moved = cas::until_done(Snapshot::loaded(&loaded), |copy| {
        store.try_renew(&old, &new, copy, &changes, at)
    })
    .await;
    let moved = stored(moved.expect("renew"));
    let entries: Vec<_> = moved.entries().collect();
    assert_eq!(entries, [("a", "1"), ("b", "2"), ("c", "3")]);
    assert_eq!(moved.version(), 3);
    assert_eq!(scratch.raw(&new).await, hash_of(&moved));
    assert!(scratch.raw(&old).await.is_empty(), "the old id is deleted");

    let (gone, loaded) = created(&store, &[("a", "1")]).await;
    store.delete(&gone).await.expect("delete");
    let newer = SessionId::generate();
    let moved = cas::until_done(Snapshot::loaded(&loaded), |copy| {
        store.try_renew(&gone, &newer, copy, &changes, at)
    })
    .await;
    let moved = stored(moved.expect("renew"));
    let entries: Vec<_> = moved.entries().collect();
    assert_eq!(entries, [("c", "3")], "none of the deleted session moves");
    assert_eq!(moved.version(), 1);
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
    assert_eq!(scratch.raw(&id).await, hash_of(&merged));

    // The version is all the script compares: a field that the copy does not hold, slipped in
    // under the same version, shows that only the changed fields were written.
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
        ("rule", "1:300000"),
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
    assert_eq!(key, format!("{}{}", scratch.prefix, id.digest()));
}

#[actix_rt::test]
async fn redis_holds_the_digest_of_each_id_and_never_the_id() {
    let Some(mut scratch) =
        Scratch::open("redis_holds_the_digest_of_each_id_and_never_the_id").await
    else {
        return;
    };
    let store = scratch.store.clone();
    let (old, loaded) = created(&store, &[("a", "1")]).await;
    let mut changes = setting(&[("b", "2")]);
    changes.set_expiry(Some(Expiry::OnSessionEnd(MINUTE)));
    stored(store.update_from(&loaded, &changes).await.expect("update"));
    let new = SessionId::generate();
    stored(
        store
            .renew(&old, &new, &setting(&[("c", "3")]))
            .await
            .expect("renew"),
    );
    let (kept, _) = created(&store, &[("d", "4")]).await;

    let everything = scratch.everything().await;
    let keys: Vec<&str> = everything.iter().map(|(key, _)| key.as_str()).collect();
    let mut expected = [new, kept].map(|id| format!("{}{}", scratch.prefix, id.digest()));
    expected.sort();
    let mut found = keys.clone();
    found.sort();
    assert_eq!(found, expected);
    let mut bytes = Vec::new();
    for (key, fields) in &everything {
        bytes.extend_from_slice(key.as_bytes());
        for (name, value) in fields {
            bytes.extend_from_slice(name);
            bytes.extend_from_slice(value);
        }
    }
    for id in [old, new, kept] {
        let hyphenated = uuid::Uuid::from_bytes(*id.as_bytes())
            .hyphenated()
            .to_string();
        let forms = [
            id.to_string().into_bytes(),
            id.to_string().to_uppercase().into_bytes(),
            hyphenated.into_bytes(),
            id.as_bytes().to_vec(),
        ];
        for form in forms {
            assert!(
                !bytes.windows(form.len()).any(|window| window == form),
                "Redis holds a form of an id: {:?}",
                String::from_utf8_lossy(&form)
            );
        }
    }
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

/// Changes that bind a session to `user`, labelled `label` where one is given.
pub(super) fn binding(user: &str, label: Option<&str>) -> Changes {
    let mut changes = setting(&[]);
    let owner = SessionOwner::new(user);
    changes.bind(match label {
        Some(label) => owner.with_label(label),
        None => owner,
    });
    changes
}

/// Creates a session bound to `user`.
pub(super) async fn bound(store: &RedisStore, user: &str) -> (SessionId, Record) {
    let id = SessionId::generate();
    let record = stored(
        store
            .create(&id, &binding(user, None))
            .await
            .expect("create"),
    );
    (id, record)
}

/// The digests of `ids`, as text, sorted.
fn digests(ids: &[&SessionId]) -> Vec<String> {
    let mut digests: Vec<String> = ids.iter().map(|id| id.digest().to_string()).collect();
    digests.sort();
    digests
}

/// The handles of the sessions `store` lists for `user`, as text, sorted.
async fn listed(store: &RedisStore, user: &str) -> Vec<String> {
    let sessions = store.sessions_of(user).await.expect("sessions_of");
    let mut handles: Vec<String> = sessions.iter().map(|s| s.handle().to_string()).collect();
    handles.sort();
    handles
}

impl Scratch {
    /// The key of the set of `user`'s sessions.
    fn set(&self, user: &str) -> String {
        let keys = KeyLayout::single(self.prefix.as_str());
        keys.user_set_in(user, SlotTag::default())
    }

    /// The members of the set of `user`'s sessions, sorted.
    async fn members(&mut self, user: &str) -> Vec<String> {
        let mut members: Vec<String> = self.raw.smembers(self.set(user)).await.expect("SMEMBERS");
        members.sort();
        members
    }

    /// The moment Redis deletes `key`, in milliseconds since the Unix epoch: -1 where it has no
    /// expiry, -2 where there is no such key.
    async fn expire_time(&mut self, key: &str) -> i64 {
        redis::cmd("PEXPIRETIME")
            .arg(key)
            .query_async(&mut self.raw)
            .await
            .expect("PEXPIRETIME")
    }

    /// The keys of every set of the index under the prefix.
    async fn sets(&mut self) -> Vec<String> {
        let pattern = format!("{}*", KeyLayout::single(self.prefix.as_str()).sets_prefix());
        self.raw.keys(pattern).await.expect("KEYS")
    }
}

#[actix_rt::test]
async fn a_binding_is_stored_in_the_hash_and_loads_back() {
    let Some(mut scratch) = Scratch::open("a_binding_is_stored_in_the_hash_and_loads_back").await
    else {
        return;
    };
    let store = scratch.store.clone();
    let id = SessionId::generate();
    let start = now();
    let changes = binding("ana@example.com", Some("Firefox on Linux"));
    let created = stored(store.create_at(&id, &changes, start).await.expect("create"));
    let owner = created.owner().expect("bound");
    assert_eq!(
        (owner.user(), owner.label(), created.saved_at()),
        ("ana@example.com", Some("Firefox on Linux"), Some(start))
    );
    let loaded = store.load(&id).await.expect("load").expect("a session");
    assert_eq!(loaded, created);
    let user = format!("{}:ana@example.com", index::UserTag::of("ana@example.com"));
    let fields = scratch.raw(&id).await;
    assert!(fields.contains(&(b"user".to_vec(), user.into_bytes())));
    assert!(fields.contains(&(b"label".to_vec(), b"Firefox on Linux".to_vec())));

    let later = start + Duration::from_secs(5);
    let saved = stored(
        store
            .update_at(&id, None, &setting(&[("a", "1")]), later)
            .await
            .expect("update"),
    );
    assert_eq!(saved.owner(), created.owner(), "a save keeps the binding");
    assert_eq!(saved.saved_at(), Some(later));
    let loaded = store.load(&id).await.expect("load").expect("a session");
    assert_eq!(loaded, saved);
}

#[actix_rt::test]
async fn a_hash_written_before_bindings_loads_unbound_and_stays_out_of_the_index() {
    let Some(mut scratch) = Scratch::open("a_hash_written_before_bindings_loads_unbound").await
    else {
        return;
    };
    let id = SessionId::generate();
    let deadline = hash::millis(now() + MINUTE).to_string();
    let meta = format!("1:1000:{deadline}");
    scratch
        .put_raw(&id, &[(b"meta", meta.as_bytes()), (b"k:a", b"1")])
        .await;
    let loaded = scratch.store.load(&id).await.expect("load").expect("live");
    assert_eq!((loaded.owner(), loaded.saved_at()), (None, None));
    stored(
        scratch
            .store
            .update(&id, &setting(&[("b", "2")]))
            .await
            .expect("update"),
    );
    let names: Vec<Vec<u8>> = scratch.raw(&id).await.into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, [&b"k:a"[..], b"k:b", b"meta"]);
    assert_eq!(scratch.sets().await, Vec::<String>::new());
}

#[actix_rt::test]
async fn sessions_that_are_never_bound_never_touch_the_index() {
    let Some(mut scratch) =
        Scratch::open("sessions_that_are_never_bound_never_touch_the_index").await
    else {
        return;
    };
    let store = scratch.store.clone();
    let (id, loaded) = created(&store, &[("a", "1")]).await;
    let saved = stored(
        store
            .update_from(&loaded, &setting(&[("a", "2")]))
            .await
            .expect("update"),
    );
    assert_eq!(saved.owner(), None);
    let new = SessionId::generate();
    stored(store.renew(&id, &new, &setting(&[])).await.expect("renew"));
    store.delete(&new).await.expect("delete");
    assert_eq!(scratch.sets().await, Vec::<String>::new());
}

#[actix_rt::test]
async fn the_index_follows_bind_unbind_rebind_renew_and_delete() {
    let Some(mut scratch) = Scratch::open("the_index_follows_bind_unbind_rebind").await else {
        return;
    };
    let store = scratch.store.clone();
    let none: Vec<String> = Vec::new();
    let (id, _) = created(&store, &[("a", "1")]).await;
    assert_eq!(scratch.members("ana").await, none);

    stored(
        store
            .update(&id, &binding("ana", None))
            .await
            .expect("bind"),
    );
    assert_eq!(scratch.members("ana").await, digests(&[&id]));
    assert_eq!(listed(&store, "ana").await, digests(&[&id]));

    stored(
        store
            .update(&id, &binding("ana", Some("phone")))
            .await
            .expect("relabel"),
    );
    let sessions = store.sessions_of("ana").await.expect("sessions_of");
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].label(), Some("phone"));

    stored(
        store
            .update(&id, &binding("bob", None))
            .await
            .expect("rebind"),
    );
    assert_eq!(scratch.members("ana").await, none);
    assert_eq!(scratch.members("bob").await, digests(&[&id]));
    assert_eq!(listed(&store, "ana").await, none);

    let mut unbind = setting(&[]);
    unbind.unbind();
    stored(store.update(&id, &unbind).await.expect("unbind"));
    assert_eq!(scratch.members("bob").await, none);
    let loaded = store.load(&id).await.expect("load").expect("a session");
    assert_eq!(loaded.owner(), None);
    assert!(
        !scratch
            .raw(&id)
            .await
            .iter()
            .any(|(name, _)| name == b"saved")
    );

    let (other, _) = bound(&store, "ana").await;
    let renewed = SessionId::generate();
    stored(
        store
            .renew(&other, &renewed, &setting(&[]))
            .await
            .expect("renew"),
    );
    assert_eq!(scratch.members("ana").await, digests(&[&renewed]));
    let login = SessionId::generate();
    stored(
        store
            .renew(&id, &login, &binding("ana", None))
            .await
            .expect("login"),
    );
    assert_eq!(scratch.members("ana").await, digests(&[&renewed, &login]));
    assert_eq!(listed(&store, "ana").await, digests(&[&renewed, &login]));

    store.delete(&renewed).await.expect("delete");
    assert_eq!(scratch.members("ana").await, digests(&[&login]));
    store.delete(&login).await.expect("delete");
    assert_eq!(scratch.members("ana").await, none);
    assert_eq!(
        scratch.sets().await,
        Vec::<String>::new(),
        "an empty set is gone"
    );
}

#[actix_rt::test]
async fn an_expired_member_is_not_listed_and_the_listing_trims_it() {
    let Some(mut scratch) = Scratch::open("an_expired_member_is_not_listed").await else {
        return;
    };
    let store = scratch.store.clone();
    let (live, _) = bound(&store, "ana").await;
    let short = SessionId::generate();
    let almost_over = now() - MINUTE + Duration::from_millis(300);
    stored(
        store
            .create_at(&short, &binding("ana", None), almost_over)
            .await
            .expect("create"),
    );
    let (outside, _) = bound(&store, "ana").await;
    let () = scratch.raw.del(scratch.key(&outside)).await.expect("DEL");
    assert_eq!(
        scratch.members("ana").await,
        digests(&[&live, &short, &outside])
    );
    assert_eq!(
        listed(&store, "ana").await,
        digests(&[&live, &short]),
        "a member whose hash is gone is not listed"
    );
    assert_eq!(scratch.members("ana").await, digests(&[&live, &short]));

    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(listed(&store, "ana").await, digests(&[&live]));
    assert_eq!(scratch.members("ana").await, digests(&[&live]));
}

#[actix_rt::test]
async fn a_users_set_outlives_a_session_whose_deadline_keeps_moving() {
    let Some(mut scratch) = Scratch::open("a_users_set_outlives_a_session").await else {
        return;
    };
    let store = scratch.store.clone();
    let set = scratch.set("ana");
    let start = now();
    let id = SessionId::generate();
    let created = stored(
        store
            .create_at(&id, &binding("ana", None), start)
            .await
            .expect("create"),
    );
    let deadline = |record: &Record| i64::try_from(hash::millis(record.expires_at())).unwrap();
    assert_eq!(scratch.expire_time(&set).await, deadline(&created));

    let short = SessionId::generate();
    let mut brief = binding("ana", None);
    brief.set_expiry(Some(Expiry::OnInactivity(Duration::from_secs(10))));
    stored(
        store
            .create_at(&short, &brief, start)
            .await
            .expect("create"),
    );
    assert_eq!(
        scratch.expire_time(&set).await,
        deadline(&created),
        "a shorter session does not bring the set's expiry forward"
    );

    let mut latest = created;
    for step in 1..=3 {
        let at = start + Duration::from_secs(20 * step);
        latest = stored(
            store
                .update_at(&id, Some(&latest), &setting(&[("n", "1")]), at)
                .await
                .expect("update"),
        );
        let session = scratch.expire_time(&scratch.key(&id)).await;
        assert_eq!(session, deadline(&latest));
        assert_eq!(scratch.expire_time(&set).await, session, "step {step}");
    }
    let renewed = SessionId::generate();
    let later = start + Duration::from_secs(100);
    let moved = stored(
        store
            .renew_at(&id, &renewed, &setting(&[]), later)
            .await
            .expect("renew"),
    );
    assert_eq!(scratch.expire_time(&set).await, deadline(&moved));
}

#[actix_rt::test]
async fn a_save_of_a_bound_session_puts_it_back_in_a_set_that_is_gone() {
    let Some(mut scratch) = Scratch::open("a_save_of_a_bound_session_puts_it_back").await else {
        return;
    };
    let store = scratch.store.clone();
    let (id, loaded) = bound(&store, "ana").await;
    let () = scratch.raw.del(scratch.set("ana")).await.expect("DEL");
    assert_eq!(listed(&store, "ana").await, Vec::<String>::new());
    let saved = stored(
        store
            .update_from(&loaded, &setting(&[("a", "1")]))
            .await
            .expect("update"),
    );
    assert_eq!(scratch.members("ana").await, digests(&[&id]));
    let deadline = i64::try_from(hash::millis(saved.expires_at())).expect("fits");
    assert_eq!(scratch.expire_time(&scratch.set("ana")).await, deadline);
}

#[actix_rt::test]
async fn revoking_another_users_session_does_nothing() {
    let Some(mut scratch) = Scratch::open("revoking_another_users_session_does_nothing").await
    else {
        return;
    };
    let store = scratch.store.clone();
    let (bobs, record) = bound(&store, "bob").await;
    let (unbound, _) = created(&store, &[("a", "1")]).await;
    for target in [&bobs, &unbound] {
        assert!(!store.revoke("ana", target.digest()).await.expect("revoke"));
    }
    let gone = SessionId::generate();
    assert!(!store.revoke("ana", gone.digest()).await.expect("revoke"));
    assert_eq!(store.load(&bobs).await.expect("load"), Some(record));
    assert!(store.load(&unbound).await.expect("load").is_some());
    assert_eq!(scratch.members("bob").await, digests(&[&bobs]));

    assert!(store.revoke("bob", bobs.digest()).await.expect("revoke"));
    assert_eq!(store.load(&bobs).await.expect("load"), None);
    assert_eq!(scratch.members("bob").await, Vec::<String>::new());
    assert!(!store.revoke("bob", bobs.digest()).await.expect("revoke"));
}

#[actix_rt::test]
async fn revoke_all_deletes_every_session_of_the_user_but_the_one_spared() {
    let Some(mut scratch) = Scratch::open("revoke_all_deletes_every_session_of_the_user").await
    else {
        return;
    };
    let store = scratch.store.clone();
    let [(one, _), (two, _), (kept, _)] = [
        bound(&store, "ana").await,
        bound(&store, "ana").await,
        bound(&store, "ana").await,
    ];
    let (bobs, _) = bound(&store, "bob").await;
    let mut revoked: Vec<String> = store
        .revoke_all("ana", Some(kept.digest()))
        .await
        .expect("revoke_all")
        .iter()
        .map(ToString::to_string)
        .collect();
    revoked.sort();
    assert_eq!(revoked, digests(&[&one, &two]));
    for id in [&one, &two] {
        assert_eq!(store.load(id).await.expect("load"), None);
    }
    assert_eq!(scratch.members("ana").await, digests(&[&kept]));
    assert_eq!(listed(&store, "bob").await, digests(&[&bobs]));

    let all = store.revoke_all("ana", None).await.expect("revoke_all");
    assert_eq!(all, [kept.digest()]);
    assert_eq!(scratch.sets().await, [scratch.set("bob")]);
    assert_eq!(store.revoke_all("ana", None).await.expect("revoke_all"), []);
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
