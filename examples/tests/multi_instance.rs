//! Runs two instances of the `multi_instance` example over one shared store, and hops a client
//! between them: what one instance writes or purges, the other sees at once.

mod common;

use std::time::{Duration, Instant};

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

/// Starts two instances on the store at `url`, named by `variable`, in `namespace`, each with
/// its moka cache, and hops a client between them across a write, a renewal and a logout: each
/// instance sees at once what the client did through the other, and refuses the cookies that
/// the other renewed or purged once its invalidation arrives. `scratch` is emptied at the end.
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
    let set = first.get("/set", None).session_cookie().expect("a cookie");
    assert_eq!(
        second.get("/", Some(&set)).body,
        "something",
        "now cached there"
    );

    let visited = first.get("/visit", Some(&set));
    assert_eq!(visited.body, "1");
    let visited = visited.session_cookie().expect("a write sets the cookie");
    let again = second.get("/visit", Some(&visited));
    assert_eq!(
        again.body, "2",
        "the other instance reads past its cached copy at once"
    );
    let cookie = again.session_cookie().expect("a write sets the cookie");
    let third = first.get("/visit", Some(&cookie));
    assert_eq!(third.body, "3");
    let cookie = third.session_cookie().expect("a write sets the cookie");

    let renewed = second.post("/renew", Some(&cookie), "");
    assert_eq!(renewed.status, 303);
    let renewed = renewed.session_cookie().expect("a renewal sets the cookie");
    assert_ne!(renewed, cookie);
    until_refused(&first, &cookie, "the renewed-away id");
    assert_eq!(first.get("/", Some(&renewed)).body, "something");

    let link = second.get("/logout", Some(&renewed));
    assert_eq!(
        link.status, 404,
        "a GET, as a link on another site makes, signs no one out"
    );
    let logout = second.post("/logout", Some(&renewed), "");
    assert_eq!(logout.status, 303);
    assert!(
        logout
            .header("set-cookie")
            .is_some_and(|c| c.contains("Max-Age=0")),
        "the cookie is removed"
    );
    until_refused(&first, &renewed, "the purged session");

    let again = second.get("/set", None).session_cookie().expect("a cookie");
    assert_eq!(first.get("/", Some(&again)).body, "something");
    first.stop();
    second.stop();
    scratch.clear();
}

/// Replays `cookie` against `instance` until it is refused, which must happen within the
/// invalidation feed's delay, far below a second.
fn until_refused(instance: &Instance, cookie: &str, what: &str) {
    let started = Instant::now();
    while instance.get("/", Some(cookie)).body != NO_VALUE {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{what} was still served two seconds after it ended elsewhere"
        );
    }
}
