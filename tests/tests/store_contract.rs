//! Every store keeps the `SessionStore` contract, checked directly against the store: each rule
//! a test of its own on each backend, so that one broken rule does not hide the others.

use kv_sessions_tests::{Backend, rules};

/// For each rule, a scenario that runs its check on a backend's store, and a test of it per
/// backend.
macro_rules! on_every_backend {
    ($($rule:ident),* $(,)?) => {
        $(
            async fn $rule(backend: Backend) {
                let dir = tempfile::tempdir().expect("temp dir");
                rules::$rule(backend.open(dir.path()).await).await;
            }
        )*
        kv_sessions_tests::for_every_backend!($($rule),*);
    };
}

kv_sessions_tests::__every_store_rule!([on_every_backend]);
