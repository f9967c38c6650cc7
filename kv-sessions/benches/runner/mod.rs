//! How every benchmark here runs: on an actix system, as the middleware does in an app, and in
//! short measurement windows, so that the whole suite takes about a minute on two cores.

use std::future::Future;
use std::time::Duration;

use criterion::Criterion;
use criterion::async_executor::AsyncExecutor;

/// An actix system that criterion drives futures on: one `block_on` per batch of iterations,
/// so the runtime's own cost is not counted once per iteration.
pub(crate) struct ActixRunner(actix_rt::SystemRunner);

impl ActixRunner {
    /// A fresh actix system.
    pub(crate) fn new() -> Self {
        Self(actix_rt::System::new())
    }

    /// Runs `future` to completion, for setup outside the measurement.
    pub(crate) fn block_on<T>(&self, future: impl Future<Output = T>) -> T {
        self.0.block_on(future)
    }
}

impl AsyncExecutor for &ActixRunner {
    fn block_on<T>(&self, future: impl Future<Output = T>) -> T {
        self.0.block_on(future)
    }
}

/// Criterion with a 1 s warm-up and 2 s of measurement per benchmark. Command-line flags such
/// as `--measurement-time` still override these.
pub(crate) fn criterion() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
}
