//! A gate that holds tasks at a point until the test lets them through, to force one order of
//! concurrent requests.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

/// Holds every task that calls [`Gate::pass`] until the test [`open`](Gate::open)s it. Clones
/// share the gate; it works across threads and runtimes, so a test can hold a handler that runs
/// on a server's worker.
#[derive(Debug, Clone)]
pub struct Gate {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    arrived: Semaphore,
    released: Semaphore,
}

impl Default for Gate {
    fn default() -> Self {
        Self {
            inner: Arc::new(Inner {
                arrived: Semaphore::new(0),
                released: Semaphore::new(0),
            }),
        }
    }
}

/// How long a test waits for tasks to reach a gate before it fails.
const ARRIVAL_TIMEOUT: Duration = Duration::from_secs(10);

impl Gate {
    /// Announces the caller at the gate, and waits until the test lets it through.
    pub async fn pass(&self) {
        self.inner.arrived.add_permits(1);
        if let Ok(permit) = self.inner.released.acquire().await {
            permit.forget();
        }
    }

    /// Waits until `count` more tasks stand at the gate.
    ///
    /// # Panics
    /// When they do not arrive within ten seconds.
    pub async fn arrivals(&self, count: u32) {
        let arrived = tokio::time::timeout(ARRIVAL_TIMEOUT, self.inner.arrived.acquire_many(count));
        match arrived.await {
            Ok(Ok(permits)) => permits.forget(),
            _ => panic!("{count} tasks never reached the gate"),
        }
    }

    /// Lets `count` tasks through.
    pub fn open(&self, count: usize) {
        self.inner.released.add_permits(count);
    }
}
