//! What kv-sessions logs, captured, for tests that check what a user would read in their log.

use std::io;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::prelude::*;

/// Everything kv-sessions has logged at `debug` and above since [`capture_log`] was first
/// called in this process, one formatted line per event, and a line for each of its spans as
/// it closes, with the span's fields.
#[derive(Debug, Clone)]
pub struct CapturedLog {
    text: Arc<Mutex<Vec<u8>>>,
}

impl CapturedLog {
    /// The lines logged so far that contain `needle`.
    pub fn lines_with(&self, needle: &str) -> Vec<String> {
        let text = self.text.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&text)
            .lines()
            .filter(|line| line.contains(needle))
            .map(str::to_owned)
            .collect()
    }
}

impl<'a> MakeWriter<'a> for CapturedLog {
    type Writer = Self;

    fn make_writer(&'a self) -> Self {
        self.clone()
    }
}

impl io::Write for CapturedLog {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let mut text = self.text.lock().unwrap_or_else(PoisonError::into_inner);
        text.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Captures kv-sessions' log for the rest of the process, and returns the capture.
///
/// The first call installs the process's global `tracing` subscriber, so that events of every
/// thread, the test server's workers included, are kept; later calls return the same capture.
/// Tests that share a process tell their lines apart by something of their own, such as the
/// cookie name the log lines carry.
pub fn capture_log() -> CapturedLog {
    static CAPTURE: OnceLock<CapturedLog> = OnceLock::new();
    CAPTURE
        .get_or_init(|| {
            let capture = CapturedLog {
                text: Arc::default(),
            };
            let only_ours = Targets::new().with_target("kv_sessions", LevelFilter::DEBUG);
            let layer = tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(capture.clone())
                .with_span_events(FmtSpan::CLOSE)
                .with_filter(only_ours);
            tracing_subscriber::registry()
                .with(layer)
                .try_init()
                .expect("no other global subscriber in this test process");
            capture
        })
        .clone()
}
