//! Runs two instances of the `multi_instance` example over one shared store, and hops a client
//! between them: what one instance writes or purges, the other sees at once.

mod common;

use common::{Instance, KEY, NO_VALUE};
use kv_sessions_tests::shared::{self, PostgresScratch, RedisScratch, Scratch};

#[actix_rt::test]
async fn a_client_hops_between_two_instances_over_redis() {
    let Some(url) = shared::redis_url("a_client_hops_between_two_instances_over_redis") else {
        return;
    };
    let scratch = RedisScratch::new(&url);
    let namespace = scratch.prefix().trim_end_matches(':').to_owned();
    hop_between_two_instances("KV_SESSIONS_REDIS_URL", &url, &namespace, &scratch);
}

#[actix_rt::test]
async fn a_client_hops_between_two_instances_over_postgres() {
    let Some(url) = shared::postgres_url("a_client_hops_between_two_instances_over_postgres")
    else {
        return;
    };
    let (_, scratch) = PostgresScratch::new(&url).await;
    let namespace = scratch.table().to_owned();
    hop_between_two_instances("KV_SESSIONS_POSTGRES_URL", &url, &namespace, &scratch);
}

/// Starts two instances on the store at `url`, named by `variable`, in `namespace`, and checks
/// that a session made on one is read, changed and purged on the other. `scratch` is emptied at
/// the end.
fn hop_between_two_instances(variable: &str, url: &str, namespace: &str, scratch: &dyn Scratch) {
    let settings = [
        (variable, url),
        ("KV_SESSIONS_NAMESPACE", namespace),
        ("SESSION_KEY", KEY),
    ];
    let binary = env!("CARGO_BIN_EXE_multi_instance");
    let (first, second) = (
        Instance::start(binary, &settings),
        Instance::start(binary, &settings),
    );

    assert_eq!(first.get("/", None).body, NO_VALUE);
    let cookie = first.get("/set", None).session_cookie().expect("a cookie");
    assert_eq!(second.get("/", Some(&cookie)).body, "something");
    let link = second.get("/logout", Some(&cookie));
    assert_eq!(
        link.status, 404,
        "a GET, as a link on another site makes, signs no one out"
    );
    assert_eq!(first.get("/", Some(&cookie)).body, "something");
    let logout = second.post("/logout", Some(&cookie), "");
    assert_eq!(logout.status, 303);
    assert!(
        logout
            .header("set-cookie")
            .is_some_and(|c| c.contains("Max-Age=0")),
        "the cookie is removed"
    );
    assert_eq!(
        first.get("/", Some(&cookie)).body,
        NO_VALUE,
        "a logout on one instance holds on the other"
    );

    let again = second.get("/set", None).session_cookie().expect("a cookie");
    assert_eq!(first.get("/", Some(&again)).body, "something");
    first.stop();
    second.stop();
    scratch.clear();
}
