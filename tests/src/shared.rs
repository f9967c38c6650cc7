//! Where the shared stores under test live: the URLs of the Redis and PostgreSQL servers, from
//! the environment, and names that keep each test's data apart.
//!
//! A test of this crate that needs a server is ignored where its URL is unset, saying why (see
//! `build.rs`), and fails where it runs without one. A test elsewhere that asks
//! [`redis_url`] or [`postgres_url`] skips, saying so on stderr, except under `CI=true`, where
//! `.ci/run` sets both variables and checks that the servers answer, so a missing URL fails.

use std::sync::atomic::{AtomicBool, Ordering};

use kv_sessions::{PostgresStore, PostgresStoreBuilder, StoreError};
use redis::Commands;

/// The environment variable that holds the Redis URL, such as `redis://127.0.0.1:6379`.
pub const REDIS_URL: &str = "KV_SESSIONS_REDIS_URL";

/// The environment variable that holds the URLs of a Redis Cluster's seed nodes, comma-separated,
/// such as `redis://127.0.0.1:7101,redis://127.0.0.1:7102,redis://127.0.0.1:7103`, as
/// `.ci/redis-cluster start` prints them.
pub const REDIS_CLUSTER_URL: &str = "KV_SESSIONS_REDIS_CLUSTER_URL";

/// The environment variable that holds the PostgreSQL URL, such as
/// `postgres://postgres@127.0.0.1:5432/test`.
pub const POSTGRES_URL: &str = "KV_SESSIONS_POSTGRES_URL";

/// The Redis URL, or `None` after telling stderr that `test` is skipped; under `CI=true`, a
/// missing URL fails the test instead.
pub fn redis_url(test: &str) -> Option<String> {
    url(REDIS_URL, test)
}

/// The seed node URLs of the Redis Cluster, comma-separated, or `None` after telling stderr that
/// `test` is skipped; under `CI=true`, a missing URL fails the test instead.
pub fn redis_cluster_url(test: &str) -> Option<String> {
    url(REDIS_CLUSTER_URL, test)
}

/// The URLs of a Redis Cluster's seed nodes in `urls`, comma-separated.
pub fn seeds(urls: &str) -> impl Iterator<Item = &str> {
    urls.split(',').map(str::trim).filter(|url| !url.is_empty())
}

/// The PostgreSQL URL, or `None` after telling stderr that `test` is skipped; under `CI=true`, a
/// missing URL fails the test instead.
pub fn postgres_url(test: &str) -> Option<String> {
    url(POSTGRES_URL, test)
}

fn url(variable: &str, test: &str) -> Option<String> {
    let url = std::env::var(variable).ok().filter(|url| !url.is_empty());
    if url.is_none() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "{variable} is unset, and CI must run {test}"
        );
        eprintln!("skipping {test}: {variable} is not set");
    }
    url
}

/// The URL in `variable`, for a test that is ignored where it is unset: such a test runs without
/// it only under `CI=true` or when asked with `--include-ignored`, and must then fail.
pub fn required_url(variable: &str) -> String {
    match std::env::var(variable) {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "{variable} is unset; without it, a fresh build lists this test as ignored, \
             and CI must set it"
        ),
    }
}

/// A name no other test run uses, for a Redis key prefix or a PostgreSQL table: `kv_test_`
/// followed by 16 random hex digits.
pub fn unique_name() -> String {
    let id = kv_sessions::SessionId::generate().to_string();
    format!("kv_test_{}", &id[..16])
}

/// A test's own space on a shared server, emptied by [`clear`](Scratch::clear) or on drop,
/// whether the test passed or not.
pub trait Scratch: std::fmt::Debug + Send + Sync {
    /// Deletes everything the test put there. Later calls do nothing.
    fn clear(&self);
}

/// A key prefix of one test's own on the shared Redis, or on a Redis Cluster.
#[derive(Debug)]
pub struct RedisScratch {
    url: String,
    prefix: String,
    cleared: AtomicBool,
}

impl RedisScratch {
    /// A fresh prefix on the Redis at `url`, or on the Redis Cluster whose seed nodes `url`
    /// lists, comma-separated.
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            prefix: unique_name() + ":",
            cleared: AtomicBool::new(false),
        }
    }

    /// The prefix, for [`RedisStoreBuilder::key_prefix`](kv_sessions::RedisStoreBuilder::key_prefix).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn delete_all(&self) -> redis::RedisResult<()> {
        masters(&self.url)?
            .iter()
            .try_for_each(|server| self.delete_on(server))
    }

    /// Deletes the keys under the prefix that the server at `url` holds (`SCAN` sees only the
    /// keys of the node it runs on).
    fn delete_on(&self, url: &str) -> redis::RedisResult<()> {
        let mut connection = redis::Client::open(url)?.get_connection()?;
        let keys = connection
            .scan_match(format!("{}*", self.prefix))?
            .collect::<Result<Vec<String>, _>>()?;
        keys.iter()
            .try_for_each(|key| redis::cmd("DEL").arg(key).exec(&mut connection))
    }
}

/// The URLs of the servers that hold keys: the server at `urls`, or, where `urls` lists the seed
/// nodes of a Redis Cluster, every master that the first seed knows of.
pub fn masters(urls: &str) -> redis::RedisResult<Vec<String>> {
    let first = seeds(urls).next().unwrap_or(urls);
    let mut connection = redis::Client::open(first)?.get_connection()?;
    let info: String = redis::cmd("INFO").arg("cluster").query(&mut connection)?;
    if !info.contains("cluster_enabled:1") {
        return Ok(vec![first.to_owned()]);
    }
    let nodes: String = redis::cmd("CLUSTER").arg("NODES").query(&mut connection)?;
    Ok(nodes.lines().filter_map(master_url).collect())
}

/// The URL of the node on one line of `CLUSTER NODES` (`<id> <host:port@bus port> <flags> …`),
/// where it is a master that has not failed.
fn master_url(line: &str) -> Option<String> {
    let mut fields = line.split(' ');
    let address = fields.nth(1)?.split('@').next()?;
    let flags = fields.next()?;
    let is_master = flags.split(',').any(|flag| flag == "master");
    (is_master && !flags.contains("fail")).then(|| format!("redis://{address}"))
}

impl Scratch for RedisScratch {
    fn clear(&self) {
        if self.cleared.swap(true, Ordering::SeqCst) {
            return;
        }
        if let Err(error) = self.delete_all() {
            eprintln!("could not delete the keys under {}: {error}", self.prefix);
        }
    }
}

impl Drop for RedisScratch {
    fn drop(&mut self) {
        self.clear();
    }
}

/// A table of one test's own in the shared PostgreSQL database, migrated up on creation and
/// dropped when the scratch space is dropped, whether the test passed or not.
#[derive(Debug)]
pub struct PostgresScratch {
    url: String,
    table: String,
    cleared: AtomicBool,
}

impl PostgresScratch {
    /// A fresh table in the database at `url`, and a store on it.
    pub async fn new(url: &str) -> (PostgresStore, Self) {
        let scratch = Self {
            url: url.to_owned(),
            table: unique_name(),
            cleared: AtomicBool::new(false),
        };
        let settings = scratch.settings();
        settings.migrate_up().await.expect("create the table");
        let store = settings.build().await.expect("connect to PostgreSQL");
        (store, scratch)
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    fn settings(&self) -> PostgresStoreBuilder {
        PostgresStore::builder(self.url.as_str()).table(self.table.as_str())
    }
}

impl Scratch for PostgresScratch {
    /// Drops the table on a runtime of its own: the caller may be the test's runtime, which
    /// cannot wait on itself.
    fn clear(&self) {
        if self.cleared.swap(true, Ordering::SeqCst) {
            return;
        }
        let dropped = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(StoreError::backend)?;
                    runtime.block_on(self.settings().migrate_down())
                })
                .join()
        });
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("could not drop the table {}: {error}", self.table),
            Err(_) => eprintln!("dropping the table {} panicked", self.table),
        }
    }
}

impl Drop for PostgresScratch {
    fn drop(&mut self) {
        self.clear();
    }
}
