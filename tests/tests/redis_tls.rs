//! `RedisStore` over TLS (`rediss://`), against `redis-server`s that speak TLS only, started by
//! each test with certificates it makes (see `src/redis_tls.rs`): the store contract with the CA
//! given to the builder, by the environment, or through the app's own client or connection
//! manager; the invalidation feed over TLS; and the refusals, at build, of a certificate from an
//! unknown CA, of one for another host, and of plaintext on the TLS port. A Redis Cluster whose
//! nodes speak TLS only (`TlsRedisCluster`) carries the contract, the feed and the refusal of an
//! unknown CA too.

use std::process::Command;
use std::time::{Duration, Instant};

use kv_sessions::{
    Changes, Expiry, MokaStore, RedisStore, RedisStoreBuilder, Saved, SessionId, SessionPolicy,
    SessionStore, StoreError,
};
use kv_sessions_tests::{ClientCertificates, TestCa, TlsRedis, TlsRedisCluster, check_store};
use redis::TlsCertificates;

/// The name every server's certificate holds, and the one the tests reach it under.
const HOST: &str = "localhost";

/// A password in the URLs of the refusal tests, which no message may show.
const PASSWORD: &str = "hunter2-in-the-url";

/// How long a build may take here: the servers are local, and a refusal comes at once.
const TIMEOUT: Duration = Duration::from_secs(5);

/// How long an operation on a TLS cluster may take here. The contract's 32 threads each open a
/// cluster connection of their own at once, three TLS handshakes each, which on the shared
/// two-core machine, unoptimised, take longer than [`TIMEOUT`]; the bound only keeps a hung test
/// from waiting forever.
const CLUSTER_TIMEOUT: Duration = Duration::from_secs(30);

/// A server whose certificate `ca` signs for [`HOST`], which asks clients for none.
fn server(test: &str, ca: &TestCa) -> Option<TlsRedis> {
    TlsRedis::start(test, ca, &[HOST], ClientCertificates::NotAsked)
}

/// A store on `server`, trusting `ca` alone.
async fn store_trusting(server: &TlsRedis, ca: &TestCa) -> RedisStore {
    RedisStore::builder(server.url(HOST))
        .tls_ca_certificates(ca.pem())
        .operation_timeout(TIMEOUT)
        .build()
        .await
        .expect("a store over TLS")
}

/// A client of the app's own for `server`, trusting `ca`, set up in code.
fn apps_client(server: &TlsRedis, ca: &TestCa) -> redis::Client {
    let certificates = TlsCertificates {
        client_tls: None,
        root_cert: Some(ca.pem().as_bytes().to_vec()),
    };
    redis::Client::build_with_tls(server.url(HOST), certificates).expect("a client")
}

/// A store on the TLS cluster `cluster`, its seed nodes reached under [`HOST`], trusting `ca`
/// alone. The nodes announce themselves as `127.0.0.1`, which their certificates name too.
fn cluster_store_trusting(cluster: &TlsRedisCluster, ca: &TestCa) -> RedisStoreBuilder {
    RedisStore::cluster_builder(cluster.seeds(HOST))
        .tls_ca_certificates(ca.pem())
        .operation_timeout(CLUSTER_TIMEOUT)
}

/// Checks that `built` failed as [`refusal`] says, because the server's certificate was refused
/// for `reason`, as rustls names it.
fn assert_certificate_refused(built: Result<RedisStore, StoreError>, port: u16, reason: &str) {
    let message = refusal(built, port);
    assert!(
        message.contains("TLS certificate that was refused"),
        "{message}"
    );
    assert!(message.contains(reason), "{message}");
}

/// The message of a build that must fail, checked to be a `StoreError::Open` that names the
/// server on `port` and shows no password.
fn refusal(built: Result<RedisStore, StoreError>, port: u16) -> String {
    let error = built.expect_err("the build must fail");
    assert!(matches!(error, StoreError::Open(_)), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains(&format!("{HOST}:{port}")),
        "the server is named: {message}"
    );
    assert!(!message.contains(PASSWORD), "no password: {message}");
    message
}

#[actix_rt::test]
async fn the_store_contract_holds_over_tls_with_the_ca_given_to_the_builder() {
    let ca = TestCa::new("contract CA");
    let Some(server) = server("the_store_contract_holds_over_tls", &ca) else {
        return;
    };
    check_store(store_trusting(&server, &ca).await).await;
}

#[actix_rt::test]
async fn the_store_contract_holds_on_the_apps_own_tls_client() {
    let ca = TestCa::new("client CA");
    let Some(server) = server("the_store_contract_holds_on_the_apps_own_tls_client", &ca) else {
        return;
    };
    let client = apps_client(&server, &ca);
    let store = RedisStore::builder_from_client(client)
        .operation_timeout(TIMEOUT)
        .build()
        .await
        .expect("a store on the app's client");
    assert!(store.invalidations().is_some(), "the feed stays on");
    check_store(store).await;
}

#[actix_rt::test]
async fn the_store_contract_holds_on_the_apps_own_connection_manager() {
    let ca = TestCa::new("manager CA");
    let Some(server) = server("the_store_contract_holds_on_the_apps_own_manager", &ca) else {
        return;
    };
    let client = apps_client(&server, &ca);
    let manager = redis::aio::ConnectionManager::new(client)
        .await
        .expect("the app's manager");
    let store = RedisStore::builder_from_connection_manager(manager)
        .key_prefix("app:")
        .operation_timeout(TIMEOUT)
        .build()
        .await
        .expect("a store on the app's manager");
    assert!(store.invalidations().is_none(), "no feed without a client");
    check_store(store.clone()).await;
    stored(
        store
            .create(&SessionId::generate(), &setting("a", "1"))
            .await
            .expect("create"),
    );
    let mut connection = apps_client(&server, &ca)
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("app:*")
        .query_async(&mut connection)
        .await
        .expect("KEYS");
    assert!(!keys.is_empty(), "the store's key prefix applies: {keys:?}");
}

#[actix_rt::test]
async fn the_store_contract_holds_on_a_tls_cluster_with_the_ca_given_to_the_builder() {
    let ca = TestCa::new("cluster contract CA");
    let Some(cluster) = TlsRedisCluster::start("the_store_contract_holds_on_a_tls_cluster", &ca)
    else {
        return;
    };
    let store = cluster_store_trusting(&cluster, &ca).build().await;
    check_store(store.expect("a store on the TLS cluster")).await;
}

#[test]
fn the_ca_in_ssl_cert_file_is_trusted_and_no_other() {
    let ca = TestCa::new("environment CA");
    let Some(server) = server("the_ca_in_ssl_cert_file_is_trusted", &ca) else {
        return;
    };
    let trusted = server.scratch_file("trusted.pem");
    std::fs::write(&trusted, ca.pem()).expect("write the CA");
    let other = server.scratch_file("other.pem");
    std::fs::write(&other, TestCa::new("another CA").pem()).expect("write the other CA");

    let opened = start_up_with_roots(&server, &trusted);
    assert!(opened.status.success(), "{}", stderr(&opened));
    let refused = start_up_with_roots(&server, &other);
    assert!(!refused.status.success(), "a CA the file does not hold");
    assert!(
        stderr(&refused).contains("TLS certificate that was refused"),
        "{}",
        stderr(&refused)
    );
}

/// Opens a store on `server` in a process of its own whose only roots are the PEM file
/// `roots`, named by `SSL_CERT_FILE`, as an app's `main` does.
fn start_up_with_roots(server: &TlsRedis, roots: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_start_up_failure"))
        .args(["store-error", "redis", &server.url(HOST)])
        .env("SSL_CERT_FILE", roots)
        .env_remove("SSL_CERT_DIR")
        .output()
        .expect("run start_up_failure")
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[actix_rt::test]
async fn a_write_over_tls_reaches_another_stores_feed() {
    let ca = TestCa::new("feed CA");
    let Some(server) = server("a_write_over_tls_reaches_another_stores_feed", &ca) else {
        return;
    };
    let writer = store_trusting(&server, &ca).await;
    let reader = RedisStore::builder(server.url(HOST))
        .tls_ca_certificates(ca.pem())
        .max_staleness(Duration::from_secs(60))
        .build()
        .await
        .expect("a second store");
    check_a_write_reaches_the_cache_of(writer, reader).await;
}

#[actix_rt::test]
async fn a_write_on_a_tls_cluster_reaches_another_stores_feed() {
    let ca = TestCa::new("cluster feed CA");
    let Some(cluster) = TlsRedisCluster::start("a_write_on_a_tls_cluster_reaches_the_feed", &ca)
    else {
        return;
    };
    let writer = cluster_store_trusting(&cluster, &ca).build().await;
    let reader = cluster_store_trusting(&cluster, &ca)
        .max_staleness(Duration::from_secs(60))
        .build()
        .await;
    check_a_write_reaches_the_cache_of(
        writer.expect("a store on the cluster"),
        reader.expect("a second store on the cluster"),
    )
    .await;
}

/// Checks that an update through `writer` reaches a cache in front of `reader`, which must have
/// a long staleness bound: a cache that serves the new version within the test's patience heard
/// the notice, since without it the old copy would be served for a minute.
async fn check_a_write_reaches_the_cache_of(writer: RedisStore, reader: RedisStore) {
    let cached = kv_sessions::CachedStore::new(MokaStore::new(100), reader);
    let id = SessionId::generate();
    stored(
        writer
            .create(&id, &setting("a", "1"))
            .await
            .expect("create"),
    );
    let first = cached.load(&id).await.expect("load").expect("the session");
    let updated = stored(
        writer
            .update(&id, &setting("a", "2"))
            .await
            .expect("update"),
    );
    assert!(updated.version() > first.version());

    let started = Instant::now();
    loop {
        let seen = cached.load(&id).await.expect("load").expect("the session");
        if seen.version() == updated.version() {
            break;
        }
        assert!(
            started.elapsed() < TIMEOUT,
            "the cache still serves version {} after the update",
            seen.version()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[actix_rt::test]
async fn a_certificate_from_an_unknown_ca_is_refused_at_build() {
    let ca = TestCa::new("server's CA");
    let Some(server) = server("a_certificate_from_an_unknown_ca_is_refused_at_build", &ca) else {
        return;
    };
    let built = RedisStore::builder(format!("rediss://:{PASSWORD}@{HOST}:{}", server.port()))
        .tls_ca_certificates(TestCa::new("another CA").pem())
        .operation_timeout(TIMEOUT)
        .build()
        .await;
    assert_certificate_refused(built, server.port(), "UnknownIssuer");
}

#[actix_rt::test]
async fn a_tls_clusters_certificate_from_an_unknown_ca_is_refused_at_build() {
    let ca = TestCa::new("cluster's CA");
    let Some(cluster) = TlsRedisCluster::start("a_tls_clusters_unknown_ca_is_refused", &ca) else {
        return;
    };
    let ports = cluster.ports();
    let seeds = ports
        .iter()
        .map(|port| format!("rediss://:{PASSWORD}@{HOST}:{port}"));
    let built = RedisStore::cluster_builder(seeds)
        .tls_ca_certificates(TestCa::new("another CA").pem())
        .operation_timeout(TIMEOUT)
        .build()
        .await;
    assert_certificate_refused(built, ports[0], "UnknownIssuer");
}

#[actix_rt::test]
async fn a_certificate_for_another_host_is_refused_at_build() {
    let ca = TestCa::new("server's CA");
    let Some(server) = TlsRedis::start(
        "a_certificate_for_another_host_is_refused_at_build",
        &ca,
        &["cache.elsewhere.example"],
        ClientCertificates::NotAsked,
    ) else {
        return;
    };
    let built = RedisStore::builder(format!("rediss://:{PASSWORD}@{HOST}:{}", server.port()))
        .tls_ca_certificates(ca.pem())
        .operation_timeout(TIMEOUT)
        .build()
        .await;
    assert_certificate_refused(built, server.port(), "not valid for name");
}

#[actix_rt::test]
async fn plaintext_to_the_tls_port_is_refused_at_build() {
    let ca = TestCa::new("server's CA");
    let Some(server) = server("plaintext_to_the_tls_port_is_refused_at_build", &ca) else {
        return;
    };
    let built = RedisStore::builder(format!("redis://:{PASSWORD}@{HOST}:{}", server.port()))
        .operation_timeout(TIMEOUT)
        .build()
        .await;
    let message = refusal(built, server.port());
    assert!(message.contains("could not reach Redis"), "{message}");
}

#[actix_rt::test]
async fn a_server_that_asks_for_a_client_certificate_takes_the_builders() {
    let ca = TestCa::new("mutual CA");
    let Some(server) = TlsRedis::start(
        "a_server_that_asks_for_a_client_certificate_takes_the_builders",
        &ca,
        &[HOST],
        ClientCertificates::Required,
    ) else {
        return;
    };
    let without = RedisStore::builder(server.url(HOST))
        .tls_ca_certificates(ca.pem())
        .operation_timeout(TIMEOUT)
        .build()
        .await;
    refusal(without, server.port());

    let client = ca.issue(&[]);
    let store = RedisStore::builder(server.url(HOST))
        .tls_ca_certificates(ca.pem())
        .tls_client_certificate(client.certificate, client.key)
        .operation_timeout(TIMEOUT)
        .build()
        .await
        .expect("a store with a client certificate");
    let id = SessionId::generate();
    stored(store.create(&id, &setting("a", "1")).await.expect("create"));
    assert!(store.load(&id).await.expect("load").is_some());
}

fn setting(key: &str, value: &str) -> Changes {
    let mut changes = Changes::new(SessionPolicy::new(Expiry::OnInactivity(
        Duration::from_secs(60),
    )));
    changes.insert(key, value).expect("a string serializes");
    changes
}

fn stored(saved: Saved) -> kv_sessions::Record {
    match saved {
        Saved::Stored(record) => record,
        other => panic!("expected a stored record, got {other:?}"),
    }
}
