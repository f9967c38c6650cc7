//! The threads that run sled operations for a [`SledStore`](super::SledStore), so that no
//! actix worker ever waits on the disk.
//!
//! Each thread drains a queue of its own. Under load, a thread that wakes up finds many
//! operations waiting and runs them all before it sleeps again, so the cost of waking it is
//! shared by the batch; tokio's blocking pool would hand each operation to a thread of its own.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use crate::error::StoreError;

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of threads, each with its own queue. Dropping it lets the threads finish what is
/// queued and waits for them.
pub(super) struct IoThreads {
    queues: Vec<mpsc::Sender<Job>>,
    next: AtomicUsize,
    threads: Vec<JoinHandle<()>>,
}

impl IoThreads {
    /// Starts `count` threads (at least one).
    pub(super) fn start(count: usize) -> Result<Self, StoreError> {
        let mut queues = Vec::new();
        let mut threads = Vec::new();
        for index in 0..count.max(1) {
            let (queue, jobs) = mpsc::channel::<Job>();
            let thread = std::thread::Builder::new()
                .name(format!("kv-sessions-io-{index}"))
                .spawn(move || {
                    for job in jobs {
                        if catch_unwind(AssertUnwindSafe(job)).is_err() {
                            tracing::error!("a session store operation panicked");
                        }
                    }
                })
                .map_err(StoreError::backend)?;
            queues.push(queue);
            threads.push(thread);
        }
        Ok(Self {
            queues,
            next: AtomicUsize::new(0),
            threads,
        })
    }

    /// Runs `work` on one of the threads and returns its result.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (reply, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            // The caller may have gone away (a cancelled request); the work is done regardless.
            drop(reply.send(work()));
        });
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.queues.len();
        self.queues[index]
            .send(job)
            .map_err(|_| StoreError::backend("the session store has closed"))?;
        result
            .await
            .map_err(|_| StoreError::backend("a session store operation failed to finish"))?
    }
}

impl Drop for IoThreads {
    fn drop(&mut self) {
        self.queues.clear();
        for thread in self.threads.drain(..) {
            drop(thread.join());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_rt::test]
    async fn work_runs_off_the_calling_thread() {
        let threads = IoThreads::start(2).expect("start");
        let caller = std::thread::current().id();
        for _ in 0..4 {
            let ran_on = threads
                .run(|| Ok(std::thread::current().id()))
                .await
                .expect("run");
            assert_ne!(ran_on, caller);
        }
    }

    #[actix_rt::test]
    async fn a_panic_fails_one_operation_and_the_thread_lives_on() {
        let threads = IoThreads::start(1).expect("start");
        let failed = threads.run::<()>(|| panic!("boom")).await;
        assert!(failed.is_err());
        assert_eq!(threads.run(|| Ok(7)).await.expect("run"), 7);
    }
}
