//! What a binding costs: nothing on a request that leaves it alone (issue 20, point 6).
//!
//! - On every backend, such a request on a bound session makes the same store calls as on an
//!   unbound one ([`ProbeStore`](kv_sessions_tests::ProbeStore) counts them beneath any cache).
//! - On sled, it rewrites the session's record with the same bytes as the unbound session's,
//!   plus only the owner section already there, and leaves the `owners` tree as it was.
//! - On Redis, it rewrites the session's hash with the same bytes as the unbound session's, plus
//!   only the binding's fields already there, and leaves the members of the user's set as they
//!   were. The same script pushes the set's expiry out to the session's new deadline, so that
//!   the set outlives its sessions: that touches the set's key, but adds no round trip.
//! - Listing is proportional to the user's sessions, not to every session: an ignored test
//!   times it on sled, Redis and PostgreSQL with 1 000 and 100 000 other sessions. Run it with
//!   `cargo test -p kv-sessions-tests --test binding_cost -- --ignored --nocapture`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ::redis::Commands;
use actix_web::cookie::Key;
use kv_sessions::{
    Changes, Expiry, PostgresStore, RedisStore, SessionId, SessionOwner, SessionPolicy,
    SessionStore, SledStore,
};
use kv_sessions_tests::shared::{RedisScratch, postgres_url, redis_url, unique_name};
use kv_sessions_tests::{AnyStore, Backend, Browser, Delays, Harness, Probe, engine};

kv_sessions_tests::for_every_backend!(
    a_request_that_leaves_the_binding_alone_makes_the_store_calls_of_an_unbound_one
);

/// Requests that leave the binding alone: a read, writes, a removal and a counter.
const UNBINDING_REQUESTS: [&str; 5] = [
    "/get/user",
    "/put/cart/1",
    "/count",
    "/remove/cart",
    "/put/theme/dark",
];

/// The store calls one request made, beneath any cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Calls {
    loads: usize,
    saves: usize,
    deletes: usize,
    listings: usize,
}

impl Calls {
    fn now(probe: &Probe) -> Self {
        Self {
            loads: probe.loads(),
            saves: probe.saves(),
            deletes: probe.deletes(),
            listings: probe.listings(),
        }
    }

    fn since(self, before: Self) -> Self {
        Self {
            loads: self.loads - before.loads,
            saves: self.saves - before.saves,
            deletes: self.deletes - before.deletes,
            listings: self.listings - before.listings,
        }
    }
}

/// The calls `browser`'s `GET path` made.
async fn counted(harness: &Harness, browser: &mut Browser<'_>, path: &str) -> Calls {
    let before = Calls::now(&harness.probe);
    let page = browser.get(path).await;
    assert!(!page.status.is_server_error(), "{path}: {}", page.body);
    Calls::now(&harness.probe).since(before)
}

/// Two clients with the same data, one signed in (a renewal and a bind), the other through the
/// same renewal without the bind.
async fn bound_and_unbound(harness: &Harness) -> (Browser<'_>, SessionId, Browser<'_>, SessionId) {
    let mut bound = harness.browser();
    let bound_id = bound.log_in("alice", "laptop").await;
    let mut unbound = harness.browser();
    unbound.get("/renew?then=put:user:alice").await;
    let unbound_id = unbound.get("/id").await.body.parse().expect("an id");
    (bound, bound_id, unbound, unbound_id)
}

async fn a_request_that_leaves_the_binding_alone_makes_the_store_calls_of_an_unbound_one(
    backend: Backend,
) {
    let harness = backend.start().await;
    let (mut bound, _, mut unbound, _) = bound_and_unbound(&harness).await;

    for path in UNBINDING_REQUESTS {
        let on_bound = counted(&harness, &mut bound, path).await;
        let on_unbound = counted(&harness, &mut unbound, path).await;
        assert_eq!(on_bound, on_unbound, "{path}");
    }
    assert_eq!(bound.get("/get/theme").await.body, "dark");
    assert_eq!(harness.sessions.list("alice").await.expect("list").len(), 1);
}

/// A Redis store of the test's own, so that the test can read its keys.
async fn redis_harness(url: &str) -> (Harness, RedisScratch) {
    let scratch = RedisScratch::new(url);
    let store = RedisStore::builder(url)
        .key_prefix(scratch.prefix())
        .build()
        .await
        .expect("connect to Redis");
    let dir = tempfile::tempdir().expect("temp dir");
    let harness = Harness::start(dir, AnyStore::plain(store), Key::generate(), |builder| {
        builder
    });
    (harness, scratch)
}

/// Every key under `prefix` but `sessions`: the index, whatever its layout.
fn index_keys(
    connection: &mut ::redis::Connection,
    prefix: &str,
    sessions: &[String],
) -> Vec<String> {
    let mut keys: Vec<String> = connection
        .scan_match(format!("{prefix}*"))
        .expect("scan")
        .collect::<Result<_, _>>()
        .expect("scan");
    keys.retain(|key| !sessions.contains(key));
    keys.sort();
    keys
}

/// The fields of the hash at `key`.
fn hash(connection: &mut ::redis::Connection, key: &str) -> BTreeMap<String, Vec<u8>> {
    ::redis::cmd("HGETALL")
        .arg(key)
        .query(connection)
        .expect("HGETALL")
}

fn bytes(fields: &BTreeMap<String, Vec<u8>>) -> usize {
    fields
        .iter()
        .map(|(name, value)| name.len() + value.len())
        .sum()
}

fn members(connection: &mut ::redis::Connection, key: &str) -> Vec<Vec<u8>> {
    let mut members: Vec<Vec<u8>> = ::redis::cmd("SMEMBERS")
        .arg(key)
        .query(connection)
        .expect("SMEMBERS");
    members.sort();
    members
}

/// When `key` expires, in milliseconds since the Unix epoch.
fn expire_time(connection: &mut ::redis::Connection, key: &str) -> i64 {
    ::redis::cmd("PEXPIRETIME")
        .arg(key)
        .query(connection)
        .expect("PEXPIRETIME")
}

#[actix_rt::test]
async fn on_redis_a_request_that_leaves_the_binding_alone_writes_only_the_binding_extra_and_no_member()
 {
    let Some(url) = redis_url(
        "on_redis_a_request_that_leaves_the_binding_alone_writes_only_the_binding_extra_and_no_member",
    ) else {
        return;
    };
    let (harness, scratch) = redis_harness(&url).await;
    let (mut bound, bound_id, mut unbound, unbound_id) = bound_and_unbound(&harness).await;
    let sessions = [bound_id, unbound_id].map(|id| format!("{}{}", scratch.prefix(), id.digest()));
    let mut connection = ::redis::Client::open(url.as_str())
        .and_then(|client| client.get_connection())
        .expect("connect to Redis");
    let index = index_keys(&mut connection, scratch.prefix(), &sessions);
    assert!(!index.is_empty(), "the login wrote an index entry");
    let members_before: Vec<_> = index
        .iter()
        .map(|key| members(&mut connection, key))
        .collect();
    let unbound_before = hash(&mut connection, &sessions[1]);
    let binding_bytes = bytes(&hash(&mut connection, &sessions[0])) - bytes(&unbound_before);

    for path in UNBINDING_REQUESTS {
        for browser in [&mut bound, &mut unbound] {
            let page = browser.get(path).await;
            assert!(!page.status.is_server_error(), "{path}: {}", page.body);
        }
    }

    let (on_bound, on_unbound) = (
        hash(&mut connection, &sessions[0]),
        hash(&mut connection, &sessions[1]),
    );
    assert_ne!(on_unbound, unbound_before, "the requests wrote");
    assert_eq!(
        bytes(&on_bound) - bytes(&on_unbound),
        binding_bytes,
        "the bound hash is the unbound one plus the binding it already had"
    );
    assert_eq!(
        index_keys(&mut connection, scratch.prefix(), &sessions),
        index
    );
    let session_deadline = expire_time(&mut connection, &sessions[0]);
    for key in &index {
        assert!(
            expire_time(&mut connection, key) >= session_deadline,
            "{key}: the set outlives the session, whose write pushed its expiry out"
        );
    }
    for (key, before) in index.iter().zip(&members_before) {
        assert_eq!(
            &members(&mut connection, key),
            before,
            "{key}: members unchanged"
        );
    }
    eprintln!(
        "Redis: the bound session's hash is {binding_bytes} bytes larger (its binding); \
         members of {index:?} unchanged"
    );
}

#[actix_rt::test]
async fn on_sled_a_request_that_leaves_the_binding_alone_writes_only_the_binding_extra_and_no_owner_entry()
 {
    let harness = Backend::Sled.start().await;
    let (bound, bound_id, unbound, unbound_id) = bound_and_unbound(&harness).await;
    let cookies = [&bound, &unbound].map(|browser| browser.cookie_value().map(str::to_owned));
    drop((bound, unbound));
    let (dir, key) = stop_sled(harness).await;
    let before = SledTrees::read(dir.path());
    let binding_bytes = before.record_len(&bound_id) - before.record_len(&unbound_id);
    assert_eq!(before.owners.len(), 1, "the login wrote one owner entry");

    let sled = reopen(dir.path());
    let harness = Harness::start(
        dir,
        AnyStore::plain(sled.clone()).on_sled(sled),
        key,
        |builder| builder,
    );
    for cookie in &cookies {
        let mut browser = harness.browser();
        browser.set_cookie_value(cookie.clone());
        for path in UNBINDING_REQUESTS {
            let page = browser.get(path).await;
            assert!(!page.status.is_server_error(), "{path}: {}", page.body);
        }
    }
    let (dir, _) = stop_sled(harness).await;
    let after = SledTrees::read(dir.path());

    assert_ne!(
        after.sessions, before.sessions,
        "the requests wrote the records"
    );
    assert_eq!(
        after.record_len(&bound_id) - after.record_len(&unbound_id),
        binding_bytes,
        "the bound record is the unbound one plus the owner section it already had"
    );
    assert_eq!(after.owners, before.owners, "the owners tree is as it was");
    eprintln!(
        "sled: the bound session's record is {binding_bytes} bytes larger (its owner section); \
         the owners tree held the same {} entry",
        after.owners.len()
    );
}

/// Stops `harness` on sled, and flushes and closes its database.
async fn stop_sled(harness: Harness) -> (tempfile::TempDir, Key) {
    let (dir, store, key) = harness.stop().await;
    store.sled().expect("sled").flush().await.expect("flush");
    drop(store);
    (dir, key)
}

/// Reopens the sled directory of a stopped harness.
fn reopen(dir: &std::path::Path) -> SledStore {
    engine::once_released(|| SledStore::open(engine::sled_path(dir)))
}

/// The raw contents of a closed SledStore's `sessions` and `owners` trees.
struct SledTrees {
    sessions: BTreeMap<Vec<u8>, Vec<u8>>,
    owners: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl SledTrees {
    /// Opens the database under `dir` with sled itself, once the store has let go of it.
    fn read(dir: &std::path::Path) -> Self {
        let db = engine::once_released(|| ::sled::open(engine::sled_path(dir)));
        let tree = |name: &str| -> BTreeMap<Vec<u8>, Vec<u8>> {
            db.open_tree(name)
                .expect("open a tree")
                .iter()
                .map(|entry| {
                    let (key, value) = entry.expect("read an entry");
                    (key.to_vec(), value.to_vec())
                })
                .collect()
        };
        Self {
            sessions: tree("sessions"),
            owners: tree("owners"),
        }
    }

    fn record_len(&self, id: &SessionId) -> usize {
        self.sessions
            .get(id.digest().as_bytes().as_slice())
            .expect("a stored record")
            .len()
    }
}

/// The policy of the sessions the measurement creates.
fn policy() -> SessionPolicy {
    SessionPolicy::new(Expiry::OnInactivity(Duration::from_secs(3600)))
}

/// Creates `count` sessions bound to `user`, each with a small value.
async fn create_bound<S: SessionStore>(store: &S, user: &str, count: usize) {
    let mut changes = Changes::new(policy());
    changes.insert("user", user).expect("serialize");
    changes.bind(SessionOwner::new(user).with_label("device"));
    for _ in 0..count {
        store
            .create(&SessionId::generate(), &changes)
            .await
            .expect("create");
    }
}

/// Creates `count` sessions of other users, one each, `PARALLEL` creations at a time.
async fn create_others<S: SessionStore + Clone>(store: &S, count: usize) {
    const PARALLEL: usize = 64;
    let mut next = 0;
    while next < count {
        let batch: Vec<_> = (next..count.min(next + PARALLEL))
            .map(|n| {
                let store = store.clone();
                actix_rt::spawn(async move { create_bound(&store, &format!("other-{n}"), 1).await })
            })
            .collect();
        for task in batch {
            task.await.expect("join");
        }
        next += PARALLEL;
    }
}

/// How many times each listing is timed.
const LISTINGS: usize = 500;

/// The sizes of store compared: a user's 5 sessions among this many sessions of other users.
const OTHERS: [usize; 2] = [1_000, 100_000];

/// Fills `store` with `others` sessions of other users and 5 of `alice`'s.
async fn populate<S: SessionStore + Clone>(store: &S, others: usize) {
    create_others(store, others).await;
    create_bound(store, "alice", 5).await;
}

/// Times alice's listing on each of `stores` (one per entry of [`OTHERS`]), taking turns, so
/// that the machine's load weighs on both alike.
async fn time_listings<S: SessionStore>(stores: &[S; 2], label: &str) -> [Delays; 2] {
    let mut delays =
        OTHERS.map(|others| Delays::new(format!("{label}: list 5 sessions among {others} others")));
    for _ in 0..LISTINGS {
        for (store, delays) in stores.iter().zip(&mut delays) {
            let started = Instant::now();
            let listed = store.sessions_of("alice").await.expect("list");
            delays.record(started.elapsed());
            assert_eq!(listed.len(), 5);
        }
    }
    delays
}

#[actix_rt::test]
#[ignore = "a measurement: creates 101 000 sessions on sled, Redis and PostgreSQL"]
async fn listing_time_follows_the_users_sessions_not_all_sessions() {
    let dirs = OTHERS.map(|_| tempfile::tempdir().expect("temp dir"));
    let sled = dirs
        .each_ref()
        .map(|dir| SledStore::open(dir.path().join("sessions.sled")).expect("open sled"));
    for (store, others) in sled.iter().zip(OTHERS) {
        populate(store, others).await;
    }
    let mut measured = time_listings(&sled, "sled").await.to_vec();
    if let Some(url) = redis_url("listing_time_follows_the_users_sessions_not_all_sessions") {
        let scratches = OTHERS.map(|_| RedisScratch::new(&url));
        let mut redis = Vec::new();
        for (scratch, others) in scratches.iter().zip(OTHERS) {
            let store = RedisStore::builder(url.as_str())
                .key_prefix(scratch.prefix())
                .build()
                .await
                .expect("connect to Redis");
            populate(&store, others).await;
            redis.push(store);
        }
        let redis: [RedisStore; 2] = redis.try_into().expect("two stores");
        measured.extend(time_listings(&redis, "Redis").await);
    }
    if let Some(url) = postgres_url("listing_time_follows_the_users_sessions_not_all_sessions") {
        let mut postgres = Vec::new();
        for others in OTHERS {
            let settings = PostgresStore::builder(url.as_str())
                .table(unique_name())
                .sweep_every(None);
            settings.migrate_up().await.expect("migrate up");
            let store = settings.build().await.expect("connect to PostgreSQL");
            populate(&store, others).await;
            postgres.push(store);
        }
        let postgres: [PostgresStore; 2] = postgres.try_into().expect("two stores");
        measured.extend(time_listings(&postgres, "PostgreSQL").await);
        for store in &postgres {
            store.migrate_down().await.expect("migrate down");
        }
    }
    for delays in &measured {
        delays.report("listing");
    }
}
