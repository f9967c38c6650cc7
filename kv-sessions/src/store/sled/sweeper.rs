//! The background thread that deletes expired sessions from a
//! [`SledStore`](super::SledStore).

use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use super::trees::SessionTrees;
use crate::error::StoreError;
use crate::telemetry;

/// A running sweeper. Dropping it stops the thread and waits for it, so the store's directory is
/// free once the store is dropped.
pub(super) struct Sweeper {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Sweeper {
    /// Starts sweeping `trees` every `every`.
    pub(super) fn start(trees: SessionTrees, every: Duration) -> Result<Self, StoreError> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("kv-sessions-sweep".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    let removed = trees.sweep(SystemTime::now());
                    telemetry::swept("sled", removed.as_ref().map(|&removed| removed as u64));
                }
            })
            .map_err(StoreError::backend)?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Sweeper {
    fn drop(&mut self) {
        // Closing the channel ends the thread's wait at once.
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            drop(thread.join());
        }
    }
}
