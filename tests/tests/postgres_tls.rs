//! PostgresStore over TLS, against real servers: the shared one (`ssl = on` with Debian's
//! self-signed snakeoil certificate) and [`TlsPostgres`], a server of this binary's own that
//! speaks TLS only, with a certificate for `localhost` from a CA the tests generate. Also the
//! stores built from an app's own `tokio_postgres::Config` and `deadpool_postgres::Pool`.
//!
//! Every test needs `KV_SESSIONS_POSTGRES_URL`, and skips, saying so, where it is unset.

use std::process::Command;
use std::time::{Duration, Instant};

use deadpool_postgres::{Manager, Pool};
use kv_sessions::{
    CachedStore, Changes, Expiry, MokaStore, PostgresSslMode, PostgresStore, Saved, SessionId,
    SessionPolicy, SessionStore, StoreError,
};
use kv_sessions_tests::shared::{PostgresScratch, postgres_url};
use kv_sessions_tests::{TestCa, TlsPostgres, check_store};

/// A password that must never reach an error message.
const PASSWORD: &str = "hunter2-in-the-url";

/// The test's own TLS server, and a note of how long it took to start, once the shared server's
/// URL says the PostgreSQL tests run at all.
fn tls_server(test: &str) -> Option<&'static TlsPostgres> {
    postgres_url(test)?;
    let server = TlsPostgres::shared();
    eprintln!(
        "the TLS PostgreSQL of this binary started in {:?}",
        server.started_in()
    );
    Some(server)
}

/// `url` with `pairs` added to its query.
fn with_query(url: &str, pairs: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{pairs}")
}

/// `sslmode=verify-full`, trusting the test server's CA through `sslrootcert`.
fn verify_full(server: &TlsPostgres) -> String {
    format!(
        "sslmode=verify-full&sslrootcert={}",
        server.ca_file().display()
    )
}

/// The error `build` fails with, which must be [`StoreError::Open`], as its message.
fn open_error(built: Result<PostgresStore, StoreError>) -> String {
    match built {
        Err(StoreError::Open(cause)) => cause.to_string(),
        Err(other) => panic!("expected an Open error, got {other:?}"),
        Ok(store) => panic!("expected the start to fail, got {store:?}"),
    }
}

#[actix_rt::test]
async fn the_store_contract_holds_over_verify_full_with_a_generated_ca() {
    let Some(server) = tls_server("the_store_contract_holds_over_verify_full") else {
        return;
    };
    let (store, _scratch) =
        PostgresScratch::new(&server.url("localhost", &verify_full(server))).await;
    check_store(store).await;
}

#[actix_rt::test]
async fn the_store_contract_holds_under_sslmode_require_on_the_shared_server() {
    let Some(url) = postgres_url("the_store_contract_holds_under_sslmode_require") else {
        return;
    };
    let application = kv_sessions_tests::shared::unique_name();
    let url = with_query(
        &url,
        &format!("sslmode=require&application_name={application}"),
    );
    let (store, _scratch) = PostgresScratch::new(&url).await;
    check_store(store.clone()).await;
    let (connections, encrypted) = encrypted_connections(&application).await;
    assert!(
        connections > 0,
        "the store's connections are not in pg_stat_ssl"
    );
    assert_eq!(
        encrypted, connections,
        "every connection of the store uses TLS"
    );
}

/// How many connections named `application` the shared server has, and how many of them use TLS.
async fn encrypted_connections(application: &str) -> (i64, i64) {
    let url = postgres_url("encrypted_connections").expect("the shared server");
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connect to look");
    actix_rt::spawn(connection);
    let sql = "SELECT count(*), count(*) FILTER (WHERE ssl) FROM pg_stat_activity \
               JOIN pg_stat_ssl USING (pid) WHERE application_name LIKE $1 || '%'";
    let row = client.query_one(sql, &[&application]).await.expect("look");
    (row.get(0), row.get(1))
}

#[actix_rt::test]
async fn a_ca_bundle_from_the_builder_is_trusted_as_pem_text_or_as_a_file() {
    let Some(server) = tls_server("a_ca_bundle_from_the_builder_is_trusted") else {
        return;
    };
    let (_, scratch) = PostgresScratch::new(&server.url("localhost", &verify_full(server))).await;
    let url = server.url("localhost", "sslmode=verify-full");
    let from_text = PostgresStore::builder(url.as_str())
        .table(scratch.table())
        .tls_ca_certificates(server.ca().pem())
        .build()
        .await;
    assert!(from_text.is_ok(), "{from_text:?}");
    let from_file = PostgresStore::builder(url.as_str())
        .table(scratch.table())
        .tls_ca_certificates_file(server.ca_file())
        .build()
        .await;
    assert!(from_file.is_ok(), "{from_file:?}");
}

#[actix_rt::test]
async fn pgsslrootcert_brings_the_ca_and_a_wrong_one_is_refused() {
    let Some(server) = tls_server("pgsslrootcert_brings_the_ca") else {
        return;
    };
    let (_, scratch) = PostgresScratch::new(&server.url("localhost", &verify_full(server))).await;
    let url = server.url("localhost", "sslmode=verify-full");
    let dir = tempfile::tempdir().expect("temp dir");
    let wrong_ca = TestCa::new("a CA nobody asked for").write_to(dir.path(), "wrong.pem");
    let start = |ca: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_start_up_failure"))
            .args(["store-error", "postgres", &url, scratch.table()])
            .env("PGSSLROOTCERT", ca)
            .output()
            .expect("run start_up_failure")
    };
    let trusted = start(server.ca_file());
    let stderr = String::from_utf8_lossy(&trusted.stderr);
    assert!(
        trusted.status.success(),
        "the right CA was refused: {stderr}"
    );
    let refused = start(&wrong_ca);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "a wrong CA was trusted");
    assert!(
        stderr.contains("certificate") && stderr.contains("refused"),
        "{stderr}"
    );
}

#[actix_rt::test]
async fn a_wrong_ca_is_refused_naming_the_host_and_never_the_password() {
    let Some(shared) = postgres_url("a_wrong_ca_is_refused") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let wrong_ca = TestCa::new("not the snakeoil's").write_to(dir.path(), "wrong.pem");
    let config: tokio_postgres::Config = shared.parse().expect("the shared URL");
    let host = match &config.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(host) => host.clone(),
        other => panic!("the shared server is reached over TCP, not {other:?}"),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let url = format!(
        "postgres://postgres:{PASSWORD}@{host}:{port}/test?sslmode=verify-full&sslrootcert={}",
        wrong_ca.display()
    );
    let message = open_error(PostgresStore::builder(url).build().await);
    assert!(message.contains(&format!("{host}:{port}")), "{message}");
    assert!(
        message.contains("certificate") && message.contains("refused"),
        "{message}"
    );
    assert!(!message.contains(PASSWORD), "{message}");
}

#[actix_rt::test]
async fn a_wrong_host_name_is_refused_under_verify_full_and_accepted_under_verify_ca() {
    let Some(server) = tls_server("a_wrong_host_name_is_refused") else {
        return;
    };
    let (_, scratch) = PostgresScratch::new(&server.url("localhost", &verify_full(server))).await;
    let by_address = server.url("127.0.0.1", &verify_full(server));
    let refused = PostgresStore::builder(by_address.as_str())
        .table(scratch.table())
        .build()
        .await;
    let message = open_error(refused);
    assert!(message.contains("127.0.0.1"), "{message}");
    assert!(message.contains("not valid for name"), "{message}");
    let chain_only = by_address.replace("verify-full", "verify-ca");
    let accepted = PostgresStore::builder(chain_only)
        .table(scratch.table())
        .build()
        .await;
    assert!(accepted.is_ok(), "{accepted:?}");
}

#[actix_rt::test]
async fn plaintext_is_refused_where_the_server_requires_tls() {
    let Some(server) = tls_server("plaintext_is_refused") else {
        return;
    };
    let plaintext = server.url("localhost", "sslmode=disable");
    let message = open_error(PostgresStore::builder(plaintext).build().await);
    assert!(message.contains("no encryption"), "{message}");
    assert!(message.contains("refused the session store"), "{message}");
}

#[actix_rt::test]
async fn the_feed_carries_a_write_on_one_store_to_another_s_cache_over_tls() {
    let Some(server) = tls_server("the_feed_carries_a_write_over_tls") else {
        return;
    };
    let (writer, scratch) =
        PostgresScratch::new(&server.url("localhost", &verify_full(server))).await;
    // A copy is served for an hour unless the feed says otherwise: only the feed can make the
    // reader see the write below in time.
    let reader = PostgresStore::builder(server.url("localhost", &verify_full(server)))
        .table(scratch.table())
        .max_staleness(Duration::from_secs(3600))
        .build()
        .await
        .expect("a second store on the table");
    let cached = CachedStore::new(MokaStore::new(100), reader);
    let id = SessionId::generate();
    let first = writer.create(&id, &setting("first")).await.expect("create");
    assert!(matches!(first, Saved::Stored(_)), "{first:?}");
    assert_eq!(value_in(&cached, &id).await.as_deref(), Some("\"first\""));
    writer
        .update(&id, &setting("second"))
        .await
        .expect("update");
    let deadline = Instant::now() + Duration::from_secs(10);
    while value_in(&cached, &id).await.as_deref() != Some("\"second\"") {
        assert!(
            Instant::now() < deadline,
            "the reader's cache never heard the write"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn setting(value: &str) -> Changes {
    let mut changes = Changes::new(SessionPolicy::new(Expiry::OnInactivity(
        Duration::from_secs(60),
    )));
    changes.insert("value", value).expect("a string serializes");
    changes
}

async fn value_in(store: &impl SessionStore, id: &SessionId) -> Option<String> {
    let record = store.load(id).await.expect("load")?;
    record.get("value").map(str::to_owned)
}

#[actix_rt::test]
async fn a_store_from_the_app_s_config_keeps_the_contract_over_tls() {
    let Some(server) = tls_server("a_store_from_the_app_s_config") else {
        return;
    };
    let (_, scratch) = PostgresScratch::new(&server.url("localhost", &verify_full(server))).await;
    let config: tokio_postgres::Config = server.url("localhost", "").parse().expect("a config");
    let store = PostgresStore::builder_from_config(config)
        .ssl_mode(PostgresSslMode::VerifyFull)
        .tls_ca_certificates_file(server.ca_file())
        .table(scratch.table())
        .build()
        .await
        .expect("a store from the app's Config");
    assert!(
        store.invalidations().is_some(),
        "its feed listens with the Config"
    );
    check_store(store).await;
}

#[actix_rt::test]
async fn a_store_from_the_app_s_pool_keeps_the_contract_with_its_feed_on_a_config() {
    let Some(url) = postgres_url("a_store_from_the_app_s_pool") else {
        return;
    };
    let (_, scratch) = PostgresScratch::new(&url).await;
    let config: tokio_postgres::Config = url.parse().expect("the shared URL");
    let store = PostgresStore::builder_from_pool(app_pool(&config))
        .listener_config(config)
        .table(scratch.table())
        .build()
        .await
        .expect("a store from the app's pool");
    assert!(
        store.invalidations().is_some(),
        "its feed listens on the config given"
    );
    check_store(store).await;
}

#[actix_rt::test]
async fn a_store_from_the_app_s_pool_alone_has_no_feed_unless_asked_and_then_fails_saying_why() {
    let Some(url) = postgres_url("a_store_from_the_app_s_pool_alone") else {
        return;
    };
    let (_, scratch) = PostgresScratch::new(&url).await;
    let pool = app_pool(&url.parse().expect("the shared URL"));
    let quiet = PostgresStore::builder_from_pool(pool.clone())
        .table(scratch.table())
        .build()
        .await
        .expect("a store without a feed");
    assert!(quiet.invalidations().is_none());
    let asked = PostgresStore::builder_from_pool(pool)
        .table(scratch.table())
        .invalidation_feed(true)
        .build()
        .await;
    let message = open_error(asked);
    assert!(message.contains("listener_config"), "{message}");
}

/// A pool as an app builds one, without TLS, as large as the store's own by default: the
/// contract runs its checks on many threads at once, and with fewer connections they queue past
/// the operation timeout on a loaded machine.
fn app_pool(config: &tokio_postgres::Config) -> Pool {
    Pool::builder(Manager::new(config.clone(), tokio_postgres::NoTls))
        .max_size(16)
        .build()
        .expect("the app's pool")
}
