//! Every store keeps the `SessionStore` contract, checked directly against the store.

use kv_sessions_tests::{Backend, check_store};

kv_sessions_tests::for_every_backend!(keeps_the_store_contract);

async fn keeps_the_store_contract(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    check_store(backend.open(dir.path()).await).await;
}
