//! What only the PostgreSQL store has: migrations and the table check at start-up, the sweep of
//! expired rows, its table name, and a server that is not there. The background sweeper is tested inside the crate, where the
//! table's rows can be counted.

use std::error::Error as _;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use kv_sessions::{
    Changes, Expiry, PostgresStore, PostgresStoreBuilder, Saved, SessionId, SessionPolicy,
    SessionStore, StoreError,
};
use kv_sessions_tests::shared;

/// The settings of a store on a fresh table of its own, not migrated yet, with no sweeper.
fn unmigrated(url: &str) -> PostgresStoreBuilder {
    PostgresStore::builder(url)
        .table(shared::unique_name())
        .sweep_every(None)
}

/// A store on a fresh table of its own, migrated, with no sweeper.
async fn migrated(url: &str) -> PostgresStore {
    let settings = unmigrated(url);
    settings.migrate_up().await.expect("migrate up");
    settings.build().await.expect("connect")
}

/// Changes that write one value under an idle window of `ttl`.
fn lasting(ttl: Duration) -> Changes {
    let mut changes = Changes::new(SessionPolicy::new(Expiry::OnInactivity(ttl)));
    changes.insert("k", "v").expect("a string serializes");
    changes
}

async fn create<S: SessionStore>(store: &S, ttl: Duration) -> SessionId {
    let id = SessionId::generate();
    let saved = store.create(&id, &lasting(ttl)).await.expect("create");
    assert!(matches!(saved, Saved::Stored(_)), "{saved:?}");
    id
}

/// `error` and each of its sources, as the log shows them.
fn chain(error: &StoreError) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

/// A loopback port with nothing listening on it.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

#[actix_rt::test]
#[cfg_attr(
    not(KV_SESSIONS_POSTGRES_URL),
    ignore = "KV_SESSIONS_POSTGRES_URL is unset"
)]
async fn migrations_run_twice_in_a_row_change_nothing() {
    let url = shared::required_url(shared::POSTGRES_URL);
    let settings = unmigrated(&url);
    settings.migrate_up().await.expect("migrate up");
    let store = settings.clone().build().await.expect("connect");
    let id = create(&store, Duration::from_secs(60)).await;
    settings.migrate_up().await.expect("migrate up again");
    assert!(
        store.load(&id).await.expect("load").is_some(),
        "a second migrate_up keeps the sessions"
    );
    store.migrate_down().await.expect("migrate down");
    store
        .migrate_down()
        .await
        .expect("migrate down again is fine");
    let gone = store.load(&id).await;
    assert!(
        matches!(gone, Err(StoreError::Backend(_))),
        "the table is gone: {gone:?}"
    );
}

#[actix_rt::test]
#[cfg_attr(
    not(KV_SESSIONS_POSTGRES_URL),
    ignore = "KV_SESSIONS_POSTGRES_URL is unset"
)]
async fn migrating_down_leaves_other_tables_alone() {
    let url = shared::required_url(shared::POSTGRES_URL);
    let (mine, other) = (migrated(&url).await, migrated(&url).await);
    let kept = create(&other, Duration::from_secs(60)).await;
    mine.migrate_down().await.expect("migrate down");
    assert!(other.load(&kept).await.expect("load").is_some());
    other.migrate_down().await.expect("migrate down");
}

#[actix_rt::test]
#[cfg_attr(
    not(KV_SESSIONS_POSTGRES_URL),
    ignore = "KV_SESSIONS_POSTGRES_URL is unset"
)]
async fn a_schema_qualified_table_holds_sessions_like_any_other() {
    let url = shared::required_url(shared::POSTGRES_URL);
    let settings = PostgresStore::builder(url)
        .table(format!("public.{}", shared::unique_name()))
        .sweep_every(None);
    settings.migrate_up().await.expect("migrate up");
    let store = settings.build().await.expect("connect");
    let id = create(&store, Duration::from_secs(60)).await;
    let loaded = store.load(&id).await.expect("load").expect("stored");
    assert_eq!(loaded.get("k"), Some("\"v\""));
    store.migrate_down().await.expect("migrate down");
}

#[actix_rt::test]
#[cfg_attr(
    not(KV_SESSIONS_POSTGRES_URL),
    ignore = "KV_SESSIONS_POSTGRES_URL is unset"
)]
async fn sweeping_deletes_only_expired_sessions_in_as_many_batches_as_it_takes() {
    let url = shared::required_url(shared::POSTGRES_URL);
    let store = migrated(&url).await;
    let live = create(&store, Duration::from_secs(600)).await;
    let short = Duration::from_millis(50);
    let saves: Vec<_> = (0..1001)
        .map(|_| {
            let store = store.clone();
            actix_rt::spawn(async move { create(&store, short).await })
        })
        .collect();
    for save in saves {
        save.await.expect("join");
    }
    actix_rt::time::sleep(short * 2).await;
    assert_eq!(store.sweep_expired().await.expect("sweep"), 1001);
    assert_eq!(store.sweep_expired().await.expect("sweep"), 0);
    assert!(store.load(&live).await.expect("load").is_some());
    store.migrate_down().await.expect("migrate down");
}

#[actix_rt::test]
#[cfg_attr(
    not(KV_SESSIONS_POSTGRES_URL),
    ignore = "KV_SESSIONS_POSTGRES_URL is unset"
)]
async fn a_table_never_migrated_fails_the_build_with_a_message_naming_migrate_up() {
    let url = shared::required_url(shared::POSTGRES_URL);
    let table = shared::unique_name();
    let built = PostgresStore::builder(url)
        .table(table.as_str())
        .build()
        .await;
    let error = built.expect_err("no table");
    assert!(matches!(error, StoreError::Open(_)), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(&table), "{message}");
    assert!(message.contains("migrate_up"), "{message}");
}

#[actix_rt::test]
async fn a_table_name_that_is_not_a_plain_identifier_fails_the_build() {
    for name in [
        "sessions; DROP TABLE users",
        "Sessions",
        "a.b.c",
        "",
        "x\"y",
    ] {
        // The name is checked before anything is sent, so no server is needed.
        let url = format!("postgres://postgres@127.0.0.1:{}/test", closed_port());
        let built = PostgresStore::builder(url).table(name).build().await;
        let error = built.expect_err("an invalid name is refused");
        assert!(
            chain(&error).contains("table name"),
            "{name:?}: {}",
            chain(&error)
        );
    }
}

#[actix_rt::test]
async fn a_closed_port_fails_the_build_at_once() {
    let port = closed_port();
    let url = format!("postgres://postgres:hunter2@127.0.0.1:{port}/test");
    let started = Instant::now();
    let built = PostgresStore::builder(url)
        .operation_timeout(Duration::from_secs(2))
        .build()
        .await;
    assert!(started.elapsed() < Duration::from_secs(2));
    let error = built.expect_err("a closed port");
    assert!(matches!(error, StoreError::Open(_)), "{error:?}");
    let message = error.to_string();
    assert!(
        message.starts_with(&format!(
            "could not reach PostgreSQL at 127.0.0.1:{port}/test: "
        )),
        "{message}"
    );
    assert!(!message.contains("hunter2"), "{message}");
    let garbled = PostgresStore::connect("postgres://127.0.0.1:port/test").await;
    let message = garbled.expect_err("not a URL").to_string();
    assert!(
        message.starts_with("the PostgreSQL URL does not parse"),
        "{message}"
    );
}

#[actix_rt::test]
async fn a_server_that_never_answers_fails_the_build_within_the_timeout() {
    // The kernel accepts connections into the backlog, and nobody ever reads them.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("address").port();
    let url = format!("postgres://postgres@127.0.0.1:{port}/test");
    let timeout = Duration::from_millis(300);
    let started = Instant::now();
    let built = PostgresStore::builder(url)
        .operation_timeout(timeout)
        .build()
        .await;
    let elapsed = started.elapsed();
    let error = built.expect_err("no answer");
    assert!(
        chain(&error).contains("did not answer within"),
        "{}",
        chain(&error)
    );
    assert!(elapsed >= timeout && elapsed < timeout * 5, "{elapsed:?}");
}

#[actix_rt::test]
#[cfg_attr(
    not(KV_SESSIONS_POSTGRES_URL),
    ignore = "KV_SESSIONS_POSTGRES_URL is unset"
)]
async fn debug_output_never_shows_the_password() {
    let url = shared::required_url(shared::POSTGRES_URL);
    // The test server trusts local connections, so any password is accepted and ignored.
    let with_password = url.replacen("postgres@", "postgres:hunter2@", 1);
    assert!(with_password.contains("hunter2"), "{with_password}");
    let table = shared::unique_name();
    let builder = PostgresStore::builder(with_password)
        .table(table.as_str())
        .sweep_every(None);
    assert!(!format!("{builder:?}").contains("hunter2"));
    builder.migrate_up().await.expect("migrate up");
    let store = builder.build().await.expect("connect");
    let shown = format!("{store:?}");
    store.migrate_down().await.expect("migrate down");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains(&table), "{shown}");
}
