//! `migrate_up` on a table that exists already logs nothing above debug.
//!
//! PostgreSQL answers `CREATE TABLE IF NOT EXISTS` on an existing table with a notice
//! ("relation … already exists, skipping"), and tokio-postgres logs every notice it receives at
//! `info`, through the `log` crate rather than `tracing`. An app that forwards `log` records (as
//! `tracing-subscriber`'s default set-up does) would print one such line per instance and per
//! deployment. This test listens where tokio-postgres writes, and to kv-sessions' own events.

use std::sync::{Mutex, PoisonError};

use kv_sessions::PostgresStore;
use kv_sessions_tests::{capture_log, shared};

/// The `log` records at `info` and above, from any crate, since the logger was installed.
struct LoudRecords(Mutex<Vec<String>>);

impl log::Log for LoudRecords {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Info
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let line = format!("{} {}: {}", record.level(), record.target(), record.args());
            let mut lines = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            lines.push(line);
        }
    }

    fn flush(&self) {}
}

static LOUD: LoudRecords = LoudRecords(Mutex::new(Vec::new()));

#[actix_rt::test]
#[cfg_attr(
    not(KV_SESSIONS_POSTGRES_URL),
    ignore = "KV_SESSIONS_POSTGRES_URL is unset"
)]
async fn migrate_up_on_an_existing_table_logs_nothing_above_debug() {
    log::set_logger(&LOUD).expect("no other logger in this test process");
    log::set_max_level(log::LevelFilter::Trace);
    let ours = capture_log();
    let settings = PostgresStore::builder(shared::required_url(shared::POSTGRES_URL))
        .table(shared::unique_name())
        .sweep_every(None);
    settings.migrate_up().await.expect("migrate up");
    settings.migrate_up().await.expect("migrate up again");
    settings.migrate_down().await.expect("migrate down");
    let loud = LOUD
        .0
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    assert_eq!(loud, Vec::<String>::new());
    let ours_loud: Vec<String> = ["INFO", "WARN", "ERROR"]
        .iter()
        .flat_map(|level| ours.lines_with(level))
        .collect();
    assert_eq!(ours_loud, Vec::<String>::new());
}
