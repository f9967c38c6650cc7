//! Where the shared stores under test live: the URLs of the Redis and PostgreSQL servers, from
//! the environment, and names that keep each test's data apart.
//!
//! A test that needs a server it cannot find skips, and says so on stderr. Under CI,
//! `.ci/run` sets both variables and checks that the servers answer, so nothing is skipped.

use redis::Commands;

/// The environment variable that holds the Redis URL, such as `redis://127.0.0.1:6379`.
pub const REDIS_URL: &str = "KV_SESSIONS_REDIS_URL";

/// The environment variable that holds the PostgreSQL URL, such as
/// `postgres://postgres@127.0.0.1:5432/test`.
pub const POSTGRES_URL: &str = "KV_SESSIONS_POSTGRES_URL";

/// The Redis URL, or `None` after telling stderr that `test` is skipped.
pub fn redis_url(test: &str) -> Option<String> {
    url(REDIS_URL, test)
}

/// The PostgreSQL URL, or `None` after telling stderr that `test` is skipped.
pub fn postgres_url(test: &str) -> Option<String> {
    url(POSTGRES_URL, test)
}

fn url(variable: &str, test: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("skipping {test}: {variable} is not set");
            None
        }
    }
}

/// A name no other test run uses, for a Redis key prefix or a PostgreSQL table: `kv_test_`
/// followed by 16 random hex digits.
pub fn unique_name() -> String {
    let id = kv_sessions::SessionId::generate().to_string();
    format!("kv_test_{}", &id[..16])
}

/// A key prefix of one test's own on the shared Redis. Every key under it is deleted when the
/// scratch space is dropped, whether the test passed or not.
#[derive(Debug)]
pub struct RedisScratch {
    url: String,
    prefix: String,
}

impl RedisScratch {
    /// A fresh prefix on the Redis at `url`.
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            prefix: unique_name() + ":",
        }
    }

    /// The prefix, for [`RedisStoreBuilder::key_prefix`](kv_sessions::RedisStoreBuilder::key_prefix).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn delete_all(&self) -> redis::RedisResult<()> {
        let mut connection = redis::Client::open(self.url.as_str())?.get_connection()?;
        let keys = connection
            .scan_match(format!("{}*", self.prefix))?
            .collect::<Result<Vec<String>, _>>()?;
        keys.iter()
            .try_for_each(|key| redis::cmd("DEL").arg(key).exec(&mut connection))
    }
}

impl Drop for RedisScratch {
    fn drop(&mut self) {
        if let Err(error) = self.delete_all() {
            eprintln!("could not delete the keys under {}: {error}", self.prefix);
        }
    }
}
