//! Every store that ships with kv-sessions keeps the `SessionStore` contract.

use kv_sessions::{CachedStore, MokaStore, PostgresStore};
use kv_sessions_tests::{Backend, check_store, shared};

#[actix_rt::test]
async fn sled_keeps_the_store_contract() {
    let dir = tempfile::tempdir().expect("temp dir");
    check_store(Backend::Sled.open(dir.path())).await;
}

#[actix_rt::test]
async fn moka_keeps_the_store_contract() {
    let dir = tempfile::tempdir().expect("temp dir");
    check_store(Backend::Moka.open(dir.path())).await;
}

#[actix_rt::test]
async fn moka_over_sled_keeps_the_store_contract() {
    let dir = tempfile::tempdir().expect("temp dir");
    check_store(Backend::MokaOverSled.open(dir.path())).await;
}

/// A PostgreSQL store on a table of its own, migrated up; `None` where no server is configured.
async fn postgres_store(test: &str) -> Option<PostgresStore> {
    let url = shared::postgres_url(test)?;
    let store = PostgresStore::builder(url)
        .table(shared::unique_name())
        .build()
        .await
        .expect("connect");
    store.migrate_up().await.expect("migrate up");
    Some(store)
}

#[actix_rt::test]
async fn postgres_keeps_the_store_contract() {
    let Some(store) = postgres_store("postgres_keeps_the_store_contract").await else {
        return;
    };
    check_store(store.clone()).await;
    store.migrate_down().await.expect("migrate down");
}

#[actix_rt::test]
async fn moka_over_postgres_keeps_the_store_contract() {
    let Some(store) = postgres_store("moka_over_postgres_keeps_the_store_contract").await else {
        return;
    };
    check_store(CachedStore::new(MokaStore::new(10_000), store.clone())).await;
    store.migrate_down().await.expect("migrate down");
}
