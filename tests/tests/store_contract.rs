//! Every store keeps the `SessionStore` contract, checked directly against the store.

use kv_sessions::{CachedStore, MokaStore, RedisStore};
use kv_sessions_tests::{Backend, check_store, shared};
use redis::Commands;

kv_sessions_tests::for_every_backend!(keeps_the_store_contract);

async fn keeps_the_store_contract(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    check_store(backend.open(dir.path()).await).await;
}

#[actix_rt::test]
async fn redis_keeps_the_store_contract() {
    let Some(url) = shared::redis_url("redis_keeps_the_store_contract") else {
        return;
    };
    let keys = ScratchKeys::new(url);
    check_store(keys.store().await).await;
}

#[actix_rt::test]
async fn moka_over_redis_keeps_the_store_contract() {
    let Some(url) = shared::redis_url("moka_over_redis_keeps_the_store_contract") else {
        return;
    };
    let keys = ScratchKeys::new(url);
    check_store(CachedStore::new(MokaStore::new(10_000), keys.store().await)).await;
}

/// A key prefix of one test's own on the shared Redis. Every key under it is deleted when the
/// test ends, whether it passed or not.
struct ScratchKeys {
    url: String,
    prefix: String,
}

impl ScratchKeys {
    fn new(url: String) -> Self {
        let prefix = shared::unique_name() + ":";
        Self { url, prefix }
    }

    /// A store that keeps its sessions under the prefix.
    async fn store(&self) -> RedisStore {
        RedisStore::builder(self.url.as_str())
            .key_prefix(self.prefix.as_str())
            .build()
            .await
            .expect("connect to Redis")
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

impl Drop for ScratchKeys {
    fn drop(&mut self) {
        if let Err(error) = self.delete_all() {
            eprintln!("could not delete the keys under {}: {error}", self.prefix);
        }
    }
}
