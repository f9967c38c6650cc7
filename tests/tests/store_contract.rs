//! Every store that ships with kv-sessions keeps the `SessionStore` contract.

use kv_sessions_tests::{Backend, check_store};

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
