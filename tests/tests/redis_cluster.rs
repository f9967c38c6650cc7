//! `RedisStore` on Redis Cluster, beyond the suites that every backend runs: a slot migrating
//! between masters while requests run, the invalidation feed across nodes in both modes, and the
//! listener moving to another node when its node goes.
//!
//! Each test needs `KV_SESSIONS_REDIS_CLUSTER_URL` (it skips, saying so, where it is unset, and
//! fails under `CI=true`). The feed tests use that cluster under a key prefix of their own; the
//! tests that move slots or stop a node start a cluster of their own with `.ci/redis-cluster`, on
//! ports of their own, so that the shared one is undisturbed.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kv_sessions::{
    CachedStore, Changes, InvalidationMode, MokaStore, RedisStore, Saved, SessionId, SessionPolicy,
    SessionStore,
};
use kv_sessions_tests::shared::{self, RedisScratch};

/// How many sessions the migrating slot holds.
const SESSIONS: usize = 24;
/// How long a test waits for a notice, or for the listener to come back, before it fails.
const PATIENCE: Duration = Duration::from_secs(10);

/// A Redis Cluster of three masters that a test starts on ports of its own, from `first` on,
/// and shuts down when it is dropped.
struct PrivateCluster {
    first: u16,
    seeds: String,
}

impl PrivateCluster {
    fn start(first: u16) -> Self {
        let seeds = cluster_script("start", first);
        Self { first, seeds }
    }

    fn port(&self, index: u16) -> u16 {
        self.first + index
    }

    fn seeds(&self) -> impl Iterator<Item = &str> {
        shared::seeds(&self.seeds)
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        cluster_script("stop", self.first);
    }
}

/// Runs `.ci/redis-cluster COMMAND FIRST`, and returns what it printed.
fn cluster_script(command: &str, first: u16) -> String {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.ci/redis-cluster");
    let output = Command::new(script)
        .arg(command)
        .arg(first.to_string())
        .output()
        .expect("run .ci/redis-cluster");
    assert!(
        output.status.success(),
        ".ci/redis-cluster {command} {first} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("UTF-8")
        .trim()
        .to_owned()
}

/// A plain connection to the node on `port`, as an operator's `redis-cli` has.
fn node(port: u16) -> redis::Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}"))
        .expect("URL")
        .get_connection()
        .expect("connect to the node")
}

/// Runs `args` on the node on `port`.
fn on_node<T: redis::FromRedisValue>(port: u16, args: &[&str]) -> T {
    let mut command = redis::cmd(args[0]);
    for arg in &args[1..] {
        command.arg(*arg);
    }
    command
        .query(&mut node(port))
        .unwrap_or_else(|error| panic!("{args:?} on {port}: {error}"))
}

/// Whether the node on `port` serves `key` itself, rather than redirecting to another node.
fn serves(port: u16, key: &str) -> bool {
    redis::cmd("TYPE")
        .arg(key)
        .query::<String>(&mut node(port))
        .is_ok()
}

/// Changes that set `n` to `value`.
fn counter(value: u64) -> Changes {
    let mut changes = Changes::new(SessionPolicy::default());
    changes.insert("n", value).expect("a number serializes");
    changes
}

/// The value of `n` in the session `id` as `store` loads it.
async fn count(store: &impl SessionStore, id: &SessionId) -> Option<u64> {
    let record = store.load(id).await.expect("load")?;
    record.get("n").map(|json| json.parse().expect("a number"))
}

/// `count` sessions created in `store` whose ids' digests share their first byte, so that on a
/// cluster all their keys lie in one hash slot.
async fn sessions_in_one_slot(store: &RedisStore, count: usize) -> Vec<SessionId> {
    let first = SessionId::generate();
    let mut ids = vec![first];
    ids.extend((1..count).map(|_| SessionId::generate_successor(&first)));
    for id in &ids {
        let created = store.create(id, &counter(0)).await.expect("create");
        assert!(matches!(created, Saved::Stored(_)));
    }
    ids
}

/// The id of the node on `port`.
fn node_id(port: u16) -> String {
    on_node(port, &["CLUSTER", "MYID"])
}

/// Moves hash slot `slot` from the node on `from` to the node on `to`, as `redis-cli --cluster
/// reshard` does, a few keys at a time with a pause between batches so that requests run
/// meanwhile; `others` hear of the new owner last.
fn migrate(slot: &str, from: u16, to: u16, others: &[u16]) {
    let (from_id, to_id) = (node_id(from), node_id(to));
    let () = on_node(to, &["CLUSTER", "SETSLOT", slot, "IMPORTING", &from_id]);
    let () = on_node(from, &["CLUSTER", "SETSLOT", slot, "MIGRATING", &to_id]);
    loop {
        let keys: Vec<String> = on_node(from, &["CLUSTER", "GETKEYSINSLOT", slot, "4"]);
        if keys.is_empty() {
            break;
        }
        let port = to.to_string();
        let mut migrate = vec!["MIGRATE", "127.0.0.1", &port, "", "0", "5000", "KEYS"];
        migrate.extend(keys.iter().map(String::as_str));
        let () = on_node(from, &migrate);
        std::thread::sleep(Duration::from_millis(20));
    }
    for port in [to, from].iter().chain(others) {
        let () = on_node(*port, &["CLUSTER", "SETSLOT", slot, "NODE", &to_id]);
    }
}

/// Loads and updates `id` in turn until `stop`, and returns how many updates it stored; panics
/// at the first request that fails or finds the session gone or behind.
async fn keep_updating(store: RedisStore, id: SessionId, stop: Arc<AtomicBool>) -> u64 {
    let mut stored = 0;
    while !stop.load(Ordering::SeqCst) {
        assert_eq!(
            count(&store, &id).await,
            Some(stored),
            "the session reads back"
        );
        match store
            .update(&id, &counter(stored + 1))
            .await
            .expect("update")
        {
            Saved::Stored(_) => stored += 1,
            other => panic!("an update of a live session answered {other:?}"),
        }
    }
    stored
}

#[actix_rt::test]
async fn a_slot_moving_to_another_master_while_requests_run_fails_none_and_keeps_every_session() {
    let test =
        "a_slot_moving_to_another_master_while_requests_run_fails_none_and_keeps_every_session";
    if shared::redis_cluster_url(test).is_none() {
        return;
    }
    let cluster = PrivateCluster::start(7201);
    let store = RedisStore::cluster_builder(cluster.seeds())
        .key_prefix(shared::unique_name() + ":")
        .invalidation_feed(false)
        .build()
        .await
        .expect("connect to the cluster");
    let ids = sessions_in_one_slot(&store, SESSIONS).await;
    let probe = format!("{}", ids[0].digest());
    let slot: i64 = on_node(
        cluster.port(0),
        &["CLUSTER", "KEYSLOT", &format!("{{{}}}", &probe[..2])],
    );
    let slot = slot.to_string();
    let ports = [cluster.port(0), cluster.port(1), cluster.port(2)];
    let owner = *ports
        .iter()
        .find(|port| on_node::<i64>(**port, &["CLUSTER", "COUNTKEYSINSLOT", &slot]) > 0)
        .expect("a master holds the sessions");
    let others: Vec<u16> = ports.into_iter().filter(|port| *port != owner).collect();

    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = ids
        .iter()
        .map(|id| tokio::spawn(keep_updating(store.clone(), *id, stop.clone())))
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (new_owner, slot_name) = (others[0], slot.clone());
    let moving = std::thread::spawn(move || migrate(&slot, owner, others[0], &others[1..]));
    while !moving.is_finished() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    moving.join().expect("the slot moved");
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.store(true, Ordering::SeqCst);

    for (id, worker) in ids.iter().zip(workers) {
        let updates = worker.await.expect("no request failed");
        assert!(updates > 0, "requests ran");
        assert_eq!(
            count(&store, id).await,
            Some(updates),
            "every write survived"
        );
    }
    assert_eq!(
        on_node::<i64>(owner, &["DBSIZE"]),
        0,
        "every session left the slot's first master"
    );
    let count_there: i64 = on_node(new_owner, &["CLUSTER", "COUNTKEYSINSLOT", &slot_name]);
    assert_eq!(count_there, SESSIONS as i64, "and reached the new one");
}

/// The port of the node at `url`, such as `redis://127.0.0.1:7101`.
fn port_of(url: &str) -> u16 {
    let port = url.rsplit(':').next().expect("a port");
    port.trim_end_matches('/').parse().expect("a port number")
}

/// The names of the connections on the node on `port` that listen for the invalidations of the
/// stores under `prefix`.
fn listeners_on(port: u16, prefix: &str) -> Vec<String> {
    let clients: String = on_node(port, &["CLIENT", "LIST", "TYPE", "pubsub"]);
    let named = clients.lines().filter_map(|line| {
        let name = line
            .split(' ')
            .find_map(|field| field.strip_prefix("name="))?;
        Some(name.to_owned())
    });
    named.filter(|name| name.contains(prefix)).collect()
}

/// A write on one instance reaches the cache of another through the feed, in `mode`, where the
/// session lives on another node than the one the listeners subscribed through.
async fn a_write_reaches_another_instance_through_another_node(mode: InvalidationMode, test: &str) {
    let Some(urls) = shared::redis_cluster_url(test) else {
        return;
    };
    let scratch = RedisScratch::new(&urls);
    let instance = || async {
        let store = RedisStore::cluster_builder(shared::seeds(&urls))
            .key_prefix(scratch.prefix())
            .invalidation_mode(mode)
            .max_staleness(Duration::from_secs(600))
            .build()
            .await
            .expect("connect to the cluster");
        CachedStore::new(MokaStore::new(100), store)
    };
    let (writer, reader) = (instance().await, instance().await);
    let first_seed = port_of(shared::seeds(&urls).next().expect("a seed"));
    assert_eq!(
        listeners_on(first_seed, scratch.prefix()).len(),
        2,
        "both listen through the first seed"
    );
    let id = std::iter::repeat_with(SessionId::generate)
        .find(|id| {
            let digest = id.digest().to_string();
            let key = format!("{}{{{}}}{digest}", scratch.prefix(), &digest[..2]);
            !serves(first_seed, &key)
        })
        .expect("ids are endless");

    stored(writer.create(&id, &counter(1)).await.expect("create"));
    assert_eq!(count(&reader, &id).await, Some(1));
    stored(writer.update(&id, &counter(2)).await.expect("update"));
    let started = Instant::now();
    while count(&reader, &id).await != Some(2) {
        assert!(
            started.elapsed() < PATIENCE,
            "the reader's cache heard of the write within {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Asserts that `saved` stored the session.
fn stored(saved: Saved) {
    assert!(matches!(saved, Saved::Stored(_)), "{saved:?}");
}

#[actix_rt::test]
async fn a_broadcast_write_reaches_another_instance_through_another_node() {
    a_write_reaches_another_instance_through_another_node(
        InvalidationMode::Broadcast,
        "a_broadcast_write_reaches_another_instance_through_another_node",
    )
    .await;
}

#[actix_rt::test]
async fn a_targeted_write_reaches_another_instance_through_another_node() {
    a_write_reaches_another_instance_through_another_node(
        InvalidationMode::Targeted,
        "a_targeted_write_reaches_another_instance_through_another_node",
    )
    .await;
}

#[actix_rt::test]
async fn the_listener_moves_to_another_node_when_its_node_goes() {
    if shared::redis_cluster_url("the_listener_moves_to_another_node_when_its_node_goes").is_none()
    {
        return;
    }
    let cluster = PrivateCluster::start(7211);
    let prefix = shared::unique_name() + ":";
    let store = RedisStore::cluster_builder(cluster.seeds())
        .key_prefix(prefix.as_str())
        .build()
        .await
        .expect("connect to the cluster");
    let feed = store.invalidations().expect("the feed is on by default");
    assert_eq!(listeners_on(cluster.port(0), &prefix).len(), 1);

    let _gone: redis::RedisResult<()> = redis::cmd("SHUTDOWN")
        .arg("NOSAVE")
        .query(&mut node(cluster.port(0)));
    let started = Instant::now();
    let moved = || {
        let elsewhere = [cluster.port(1), cluster.port(2)];
        elsewhere
            .iter()
            .any(|port| !listeners_on(*port, &prefix).is_empty())
    };
    while !(moved() && feed.is_listening()) {
        assert!(
            started.elapsed() < PATIENCE,
            "the listener subscribed through another node within {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
