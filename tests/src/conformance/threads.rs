//! Work on several OS threads at once, against one store.
//!
//! Tasks spawned on one thread never run at the same instant: a store whose read-modify-write
//! is atomic only because nothing else runs between its read and its write passes any check made
//! that way, and then loses updates under a server's worker threads. So the concurrent checks
//! give each writer a thread of its own.

use std::future::Future;
use std::sync::{Arc, Barrier};

use tokio::runtime::Handle;

/// Runs `work(0)` to `work(count - 1)`, each on an OS thread of its own, all released at the same
/// moment, and returns what each returned, in that order. Each thread drives its future with the
/// caller's runtime, which keeps running the store's connections and timers meanwhile: the
/// caller waits for the threads without blocking it.
pub(crate) async fn on_threads<Work, Done, Output>(count: usize, work: Work) -> Vec<Output>
where
    Work: Fn(usize) -> Done + Send + Sync + 'static,
    Done: Future<Output = Output>,
    Output: Send + 'static,
{
    let runtime = Handle::current();
    let start = Arc::new(Barrier::new(count));
    let work = Arc::new(work);
    let threads: Vec<_> = (0..count)
        .map(|i| {
            let (runtime, start, work) = (runtime.clone(), Arc::clone(&start), Arc::clone(&work));
            tokio::task::spawn_blocking(move || {
                start.wait();
                runtime.block_on(work(i))
            })
        })
        .collect();
    let mut outputs = Vec::with_capacity(count);
    for thread in threads {
        match thread.await {
            Ok(output) => outputs.push(output),
            Err(failed) => std::panic::resume_unwind(failed.into_panic()),
        }
    }
    outputs
}
