//! Group commit for the writes that must be on disk before they are answered (every delete and
//! renewal, and every save under [`Durability::Immediate`](super::Durability::Immediate)):
//! writes that finish while a flush is running share the next one, instead of queueing one
//! fsync each.
//!
//! A write takes a ticket once it is in sled's log, wakes the flusher thread and waits,
//! without holding a thread, until a flush that began after its ticket has finished. The
//! flusher flushes everything written so far, publishes the highest ticket that flush covers,
//! and starts again if more tickets arrived meanwhile.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use tokio::sync::watch;

use crate::error::StoreError;

/// What the flusher has done: the highest ticket covered by a successful flush, and by a failed
/// one.
#[derive(Debug, Clone, Copy, Default)]
struct Progress {
    flushed: u64,
    failed: u64,
}

/// Tickets handed out, and whether the store is closing.
#[derive(Debug, Default)]
struct Pending {
    issued: u64,
    closing: bool,
}

struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
    progress: watch::Sender<Progress>,
}

impl Shared {
    fn pending(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The flusher thread of one store. Dropping it flushes what is pending and stops the thread.
pub(super) struct GroupCommit {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// A write waiting for its flush.
pub(super) struct Ticket {
    number: u64,
    progress: watch::Receiver<Progress>,
}

impl GroupCommit {
    pub(super) fn start(db: sled::Db) -> Result<Self, StoreError> {
        let shared = Arc::new(Shared {
            pending: Mutex::default(),
            wake: Condvar::new(),
            progress: watch::Sender::new(Progress::default()),
        });
        let thread = std::thread::Builder::new()
            .name("kv-sessions-flush".into())
            .spawn({
                let shared = Arc::clone(&shared);
                move || flush_loop(&db, &shared)
            })
            .map_err(StoreError::backend)?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// A handle that hands out tickets.
    pub(super) fn tickets(&self) -> Tickets {
        Tickets(Arc::clone(&self.shared))
    }
}

/// Hands out [`Ticket`]s for one store's flusher.
#[derive(Clone)]
pub(super) struct Tickets(Arc<Shared>);

impl Tickets {
    /// Registers a write that is already in sled's log. Call it on the thread that wrote.
    pub(super) fn take(&self) -> Ticket {
        // Subscribe first, so the flush that covers this ticket cannot be missed.
        let progress = self.0.progress.subscribe();
        let number = {
            let mut pending = self.0.pending();
            pending.issued += 1;
            pending.issued
        };
        self.0.wake.notify_one();
        Ticket { number, progress }
    }
}

impl Ticket {
    /// Waits until a flush covers this write.
    pub(super) async fn flushed(mut self) -> Result<(), StoreError> {
        let number = self.number;
        let progress = *self
            .progress
            .wait_for(|p| p.flushed >= number || p.failed >= number)
            .await
            .map_err(|_| StoreError::backend("the store closed before the write was flushed"))?;
        if progress.flushed >= number {
            Ok(())
        } else {
            Err(StoreError::backend("flushing the session store failed"))
        }
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        self.shared.pending().closing = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            // The flusher does not panic; if it somehow did, there is nothing left to stop.
            drop(thread.join());
        }
    }
}

fn flush_loop(db: &sled::Db, shared: &Shared) {
    let mut covered = 0;
    loop {
        let target = {
            let mut pending = shared.pending();
            while pending.issued == covered && !pending.closing {
                pending = shared
                    .wake
                    .wait(pending)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            if pending.issued == covered {
                return;
            }
            pending.issued
        };
        let result = db.flush();
        if let Err(error) = &result {
            tracing::error!(%error, "flushing the session store failed");
        }
        shared.progress.send_modify(|progress| match result {
            Ok(_) => progress.flushed = target,
            Err(_) => progress.failed = target,
        });
        covered = target;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_rt::test]
    async fn every_ticket_is_flushed() {
        let db = sled::Config::new().temporary(true).open().expect("sled");
        let commits = GroupCommit::start(db.clone()).expect("start");
        let tickets: Vec<_> = (0..100)
            .map(|i| {
                db.insert(format!("k{i}"), "v").expect("insert");
                commits.tickets().take()
            })
            .collect();
        for ticket in tickets {
            ticket.flushed().await.expect("flushed");
        }
    }

    #[test]
    fn dropping_flushes_what_is_pending() {
        let db = sled::Config::new().temporary(true).open().expect("sled");
        let commits = GroupCommit::start(db.clone()).expect("start");
        let ticket = commits.tickets().take();
        drop(commits);
        assert!(ticket.progress.borrow().flushed >= ticket.number);
    }
}
