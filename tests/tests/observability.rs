//! What an operator sees of a known sequence of requests: the metrics kv-sessions records
//! through the `metrics` facade, read back with its debugging recorder, and the spans around
//! store operations, read from the captured log.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use actix_test::TestServer;
use actix_web::App;
use actix_web::cookie::Key;
use actix_web::http::StatusCode;
use actix_web::web::Data;
use kv_sessions::{
    Changes, Expiry, MokaStore, RedisStore, Saved, SessionId, SessionMiddleware, SessionPolicy,
    SessionStore, SledStore,
};
use kv_sessions_tests::{Browser, FaultyStore, Gate, capture_log, routes, shared};
use metrics_util::MetricKind;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use tempfile::TempDir;
use tokio::sync::Mutex;

/// The recorder is the process's, so the tests that send requests take turns.
static TURN: Mutex<()> = Mutex::const_new(());

/// The process's recorder, installed by the first test that asks.
fn snapshotter() -> &'static Snapshotter {
    static SNAPSHOTTER: OnceLock<Snapshotter> = OnceLock::new();
    SNAPSHOTTER.get_or_init(|| {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        recorder
            .install()
            .expect("no other recorder in this test process");
        snapshotter
    })
}

/// What was recorded since the last reading, each metric written `name{label=value,...}`: how
/// far each counter moved, and how many samples each histogram took. Metrics that did not move
/// are left out.
#[derive(Debug, Default)]
struct Reading {
    counters: BTreeMap<String, u64>,
    samples: BTreeMap<String, usize>,
}

/// Reads the recorder, which starts again from zero: its snapshots take what they read.
fn read() -> Reading {
    let mut reading = Reading::default();
    for (key, _, _, value) in snapshotter().snapshot().into_vec() {
        let (kind, key) = key.into_parts();
        let mut labels: Vec<String> = key
            .labels()
            .map(|label| format!("{}={}", label.key(), label.value()))
            .collect();
        labels.sort();
        let name = format!("{}{{{}}}", key.name(), labels.join(","));
        match (kind, value) {
            (MetricKind::Counter, DebugValue::Counter(moved)) if moved > 0 => {
                reading.counters.insert(name, moved);
            }
            (MetricKind::Histogram, DebugValue::Histogram(samples)) if !samples.is_empty() => {
                reading.samples.insert(name, samples.len());
            }
            _ => {}
        }
    }
    reading
}

/// The counts of `expected`, given as `(name{labels}, count)`.
fn counts(expected: &[(&str, u64)]) -> BTreeMap<String, u64> {
    expected
        .iter()
        .map(|(name, count)| ((*name).to_owned(), *count))
        .collect()
}

/// The test app over a sled store behind the fault layer, with a moka cache in front put there
/// by the builder, as an app does.
fn start(store: FaultyStore<SledStore>) -> TestServer {
    let middleware = SessionMiddleware::builder(store, Key::generate())
        .cookie_name("id")
        .cache(MokaStore::new(100))
        .build();
    let gate = Data::new(Gate::default());
    let config = actix_test::config().workers(2).disable_redirects();
    actix_test::start_with(config, move || {
        App::new()
            .app_data(gate.clone())
            .wrap(middleware.clone())
            .configure(routes)
    })
}

fn sled(dir: &TempDir) -> SledStore {
    SledStore::builder(dir.path().join("sessions.sled"))
        .sweep_every(None)
        .open()
        .expect("open sled")
}

#[actix_rt::test]
async fn a_known_sequence_of_requests_gives_exact_counts_and_one_sample_per_store_operation() {
    let _turn = TURN.lock().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let store = FaultyStore::new(sled(&dir));
    let faults = store.faults().clone();
    let server = start(store);
    let mut browser = Browser::new(&server, "id");
    read();

    // Created, and cached as it is.
    assert_eq!(browser.get("/set").await.status, StatusCode::SEE_OTHER);
    // Two reads, both from the cache.
    assert_eq!(browser.get("/").await.body, "something");
    assert_eq!(browser.get("/").await.body, "something");
    // An update and a renewal, each after a load from the cache.
    assert_eq!(browser.get("/put/a/1").await.status, StatusCode::OK);
    assert_eq!(browser.get("/renew").await.status, StatusCode::OK);
    // The store stops answering: the update times out, and the cache forgets the session.
    faults.time_out(true);
    let timed_out = browser.get("/put/b/2").await;
    assert_eq!(timed_out.status, StatusCode::INTERNAL_SERVER_ERROR);
    faults.time_out(false);
    // A miss, so a load from the store, which the purge that follows deletes.
    assert_eq!(browser.get("/get/a").await.body, "1");
    assert_eq!(browser.get("/purge").await.status, StatusCode::OK);

    let recorded = read();
    let operations = [
        ("create", "ok"),
        ("update", "ok"),
        ("renew", "ok"),
        ("update", "timeout"),
        ("load", "ok"),
        ("delete", "ok"),
    ];
    let labelled = |name: &str, (operation, outcome): (&str, &str)| {
        format!("{name}{{operation={operation},outcome={outcome}}}")
    };
    let mut expected = counts(&[
        ("kv_sessions_cache_hits_total{}", 6),
        ("kv_sessions_cache_misses_total{}", 1),
        ("kv_sessions_sessions_created_total{}", 1),
        ("kv_sessions_sessions_renewed_total{}", 1),
        ("kv_sessions_sessions_purged_total{}", 1),
    ]);
    let counted = operations.map(|pair| (labelled("kv_sessions_store_operations_total", pair), 1));
    expected.extend(counted);
    assert_eq!(recorded.counters, expected);
    let timed = operations.map(|pair| {
        let name = labelled("kv_sessions_store_operation_duration_seconds", pair);
        (name, 1)
    });
    assert_eq!(recorded.samples, timed.into_iter().collect());
}

#[actix_rt::test]
async fn a_sled_sweep_is_counted_with_the_sessions_it_deleted() {
    let _turn = TURN.lock().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let store = sled(&dir);
    let middleware = SessionMiddleware::builder(store.clone(), Key::generate())
        .cookie_name("id")
        .default_expiry(Expiry::OnInactivity(Duration::from_secs(1)))
        .build();
    let server = actix_test::start(move || App::new().wrap(middleware.clone()).configure(routes));
    for _ in 0..2 {
        Browser::new(&server, "id").get("/set").await;
    }
    read();

    assert_eq!(store.sweep_expired().await.expect("sweep"), 0);
    actix_rt::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(store.sweep_expired().await.expect("sweep"), 2);

    assert_eq!(
        read().counters,
        counts(&[
            ("kv_sessions_sweeps_total{outcome=ok,store=sled}", 2),
            ("kv_sessions_swept_sessions_total{store=sled}", 2),
        ])
    );
}

#[actix_rt::test]
async fn store_spans_carry_the_operation_and_its_outcome_and_never_an_id_or_data() {
    // Its requests would show in the other tests' readings.
    let _turn = TURN.lock().await;
    let log = capture_log();
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start(FaultyStore::new(sled(&dir)));
    let mut browser = Browser::new(&server, "id");
    let user = "ada-lovelace-1815";
    let secret = "s3cret-v4lue";

    let id = browser.log_in(user, "laptop").await;
    browser.get(&format!("/put/token/{secret}")).await;
    assert_eq!(browser.sessions_of(user).await.len(), 1);
    let renewed: SessionId = browser.get("/renew").await.body.parse().expect("an id");
    browser.get("/purge").await;

    let spans = log.lines_with("session_store{");
    for operation in ["create", "update", "renew", "sessions_of", "delete"] {
        let field = format!("operation=\"{operation}\"");
        assert!(
            spans.iter().any(|line| line.contains(&field)),
            "no span of {operation}: {spans:#?}"
        );
    }
    let forbidden = [
        id.to_string(),
        id.digest().to_string(),
        renewed.to_string(),
        renewed.digest().to_string(),
        user.to_owned(),
        secret.to_owned(),
    ];
    for line in &spans {
        assert!(line.contains("outcome="), "{line}");
        for word in &forbidden {
            assert!(!line.contains(word.as_str()), "{word} in {line}");
        }
    }
}

#[actix_rt::test]
async fn every_store_listening_on_the_feed_counts_the_notice_of_a_write_once() {
    let Some(url) = shared::redis_url("every_store_listening_on_the_feed_counts_the_notice") else {
        return;
    };
    let _turn = TURN.lock().await;
    let prefix = format!("{}:", shared::unique_name());
    let open = || {
        RedisStore::builder(url.as_str())
            .key_prefix(prefix.as_str())
            .build()
    };
    let (writer, other) = (open().await.expect("writer"), open().await.expect("other"));
    read();

    let mut changes = Changes::new(SessionPolicy::default());
    changes.insert("a", "1").expect("a string serializes");
    // A new id can be in no cache, so its creation announces nothing; the update does.
    let id = SessionId::generate();
    let created = writer.create(&id, &changes).await;
    assert!(matches!(created, Ok(Saved::Stored(_))), "{created:?}");
    let updated = writer.update(&id, &changes).await;
    assert!(matches!(updated, Ok(Saved::Stored(_))), "{updated:?}");

    let heard = "kv_sessions_invalidations_received_total{}";
    let mut counted = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while counted.get(heard) != Some(&2) && Instant::now() < deadline {
        actix_rt::time::sleep(Duration::from_millis(20)).await;
        for (name, moved) in read().counters {
            *counted.entry(name).or_default() += moved;
        }
    }
    // The stores are called directly, not through the middleware, so only the feed counts.
    assert_eq!(counted, counts(&[(heard, 2)]));
    drop((writer, other));
}
