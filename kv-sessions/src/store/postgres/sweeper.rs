//! The background task that deletes expired sessions from a
//! [`PostgresStore`](super::PostgresStore).

use std::time::{Duration, SystemTime};

use tokio::runtime::Handle;
use tokio::task::AbortHandle;
use tokio::time::MissedTickBehavior;

use super::table::Table;
use crate::telemetry;

/// A running sweeper. Dropping it stops the task.
#[derive(Debug)]
pub(super) struct Sweeper(AbortHandle);

impl Sweeper {
    /// Starts sweeping `table` every `every` on the runtime `runtime`.
    pub(super) fn start(runtime: &Handle, table: Table, every: Duration) -> Self {
        Self(runtime.spawn(sweep_every(table, every)).abort_handle())
    }

    /// The task, for tests to see whether it has stopped.
    #[cfg(test)]
    pub(super) fn task(&self) -> AbortHandle {
        self.0.clone()
    }
}

impl Drop for Sweeper {
    fn drop(&mut self) {
        // A sweep cut short mid-statement is rolled back by the server, or finished by it; either
        // way no row is left half-deleted.
        self.0.abort();
    }
}

/// Sweeps `table` every `every`, forever. A failed sweep is logged and tried again next time.
async fn sweep_every(table: Table, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    // A sweep that outlasts the interval is not followed by a burst of catch-up sweeps.
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // The first tick is at once; the first sweep waits one interval, like the later ones.
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let removed = table.sweep(SystemTime::now()).await;
        telemetry::swept("postgres", removed.as_ref().copied());
    }
}
