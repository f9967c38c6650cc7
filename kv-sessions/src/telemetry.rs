//! What the crate tells an operator: a `tracing` span around every store operation and, with
//! the `metrics` feature, counters and latency histograms through the `metrics` facade.
//!
//! The names, their labels and what to alert on are documented in the guide's chapter on
//! [monitoring](crate::guide::monitoring). Nothing here carries a session id, a digest, a user
//! id or session data: only the kind of operation and how it ended.

use std::future::Future;

use tracing::Instrument;

use crate::changes::Saved;
use crate::error::StoreError;
use crate::record::Record;

/// A store operation, as the spans and the metrics name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    Load,
    Create,
    Update,
    Renew,
    Delete,
    SessionsOf,
    Revoke,
    RevokeAll,
}

impl Operation {
    /// Every operation, in the order of [`Operation::index`].
    #[cfg(feature = "metrics")]
    const ALL: [Self; 8] = [
        Self::Load,
        Self::Create,
        Self::Update,
        Self::Renew,
        Self::Delete,
        Self::SessionsOf,
        Self::Revoke,
        Self::RevokeAll,
    ];

    /// The value of the `operation` field and label.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Load => "load",
            Self::Create => "create",
            Self::Update => "update",
            Self::Renew => "renew",
            Self::Delete => "delete",
            Self::SessionsOf => "sessions_of",
            Self::Revoke => "revoke",
            Self::RevokeAll => "revoke_all",
        }
    }
}

/// How a store operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// It did what was asked.
    Ok,
    /// The session was not there: a load or delete that found none, a write the store answered
    /// with [`Saved::Gone`], a revoke of a session that was not the user's.
    Gone,
    /// A write refused by the size cap ([`Saved::TooLarge`]).
    TooLarge,
    /// [`StoreError::Timeout`].
    Timeout,
    /// Any other [`StoreError`].
    Error,
}

impl Outcome {
    /// Every outcome, in the order of [`Outcome::index`].
    #[cfg(feature = "metrics")]
    const ALL: [Self; 5] = [
        Self::Ok,
        Self::Gone,
        Self::TooLarge,
        Self::Timeout,
        Self::Error,
    ];

    /// The value of the `outcome` field and label.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Gone => "gone",
            Self::TooLarge => "too_large",
            Self::Timeout => "timeout",
            Self::Error => "error",
        }
    }
}

/// The answer of a store operation, which tells how it ended.
pub(crate) trait Answer {
    /// How the operation that gave this answer ended.
    fn outcome(&self) -> Outcome;
}

impl<T: Answer> Answer for Result<T, StoreError> {
    fn outcome(&self) -> Outcome {
        match self {
            Ok(answer) => answer.outcome(),
            Err(error) if error.is_timeout() => Outcome::Timeout,
            Err(_) => Outcome::Error,
        }
    }
}

/// A load or a delete: whether there was a live session.
impl Answer for Option<Record> {
    fn outcome(&self) -> Outcome {
        match self {
            Some(_) => Outcome::Ok,
            None => Outcome::Gone,
        }
    }
}

impl Answer for Saved {
    fn outcome(&self) -> Outcome {
        match self {
            Saved::Stored(_) => Outcome::Ok,
            Saved::Gone => Outcome::Gone,
            Saved::TooLarge(_) => Outcome::TooLarge,
        }
    }
}

/// A revoke: whether it deleted a session of the user.
impl Answer for bool {
    fn outcome(&self) -> Outcome {
        if *self { Outcome::Ok } else { Outcome::Gone }
    }
}

/// A listing, or the digests a revoke-all revoked: answered is done.
impl<T> Answer for Vec<T> {
    fn outcome(&self) -> Outcome {
        Outcome::Ok
    }
}

/// Runs the store operation `work` inside a span that carries `operation` and, once it ends, its
/// outcome, and counts it with its latency where the `metrics` feature is on.
///
/// Without a subscriber the span costs one relaxed load of tracing's level filter.
pub(crate) async fn observe<T: Answer>(operation: Operation, work: impl Future<Output = T>) -> T {
    let span = tracing::debug_span!(
        target: "kv_sessions::store",
        "session_store",
        operation = operation.name(),
        outcome = tracing::field::Empty,
    );
    let timer = recorded::Timer::start();
    let answer = work.instrument(span.clone()).await;
    let outcome = answer.outcome();
    span.record("outcome", outcome.name());
    timer.stop(operation, outcome);
    answer
}

/// Counts a load the cache answered (`hit`) or passed on to the store.
pub(crate) fn cache_lookup(hit: bool) {
    recorded::cache_lookup(hit);
}

/// What a request's commit did to its session, for the session counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    Created,
    Renewed,
    Purged,
}

/// Counts a session that a request's commit created, renewed or purged.
pub(crate) fn session_changed(change: Change) {
    recorded::session_changed(change);
}

/// Logs and counts one run of a store's sweeper (`store` is `sled` or `postgres`), which
/// deleted the sessions it reports or failed.
#[cfg(any(feature = "sled", feature = "postgres"))]
pub(crate) fn swept(store: &'static str, result: Result<u64, &StoreError>) {
    match result {
        Ok(0) => {}
        Ok(removed) => tracing::debug!(removed, "swept expired sessions"),
        Err(error) => {
            let error = crate::error::Chain(error);
            tracing::warn!(%error, "sweeping expired sessions failed");
        }
    }
    recorded::swept(store, result);
}

/// Counts a notice heard on a store's invalidation feed.
pub(crate) fn invalidation_heard() {
    recorded::invalidation_heard();
}

/// Without the `metrics` feature nothing is recorded, and no clock is read.
#[cfg(not(feature = "metrics"))]
mod recorded {
    use super::{Change, Operation, Outcome};

    pub(super) struct Timer;

    impl Timer {
        pub(super) fn start() -> Self {
            Self
        }

        pub(super) fn stop(self, _: Operation, _: Outcome) {}
    }

    pub(super) fn cache_lookup(_: bool) {}

    pub(super) fn session_changed(_: Change) {}

    #[cfg(any(feature = "sled", feature = "postgres"))]
    pub(super) fn swept(_: &'static str, _: Result<u64, &super::StoreError>) {}

    pub(super) fn invalidation_heard() {}
}

/// The `metrics` side: names, labels and the calls into the facade.
///
/// Every key is built once, in a static, rather than by the facade's macros on every call, which
/// hash the name each time and allocate labels that are not literals.
#[cfg(feature = "metrics")]
mod recorded {
    use std::sync::LazyLock;
    use std::time::Instant;

    use metrics::{Key, Label, Level, Metadata};

    use super::{Change, Operation, Outcome};

    /// What exporters that filter by target and level see of every metric here.
    static METADATA: Metadata<'static> =
        Metadata::new("kv_sessions", Level::INFO, Some(module_path!()));

    static CACHE_HITS: Key = Key::from_static_name("kv_sessions_cache_hits_total");
    static CACHE_MISSES: Key = Key::from_static_name("kv_sessions_cache_misses_total");
    static SESSIONS_CREATED: Key = Key::from_static_name("kv_sessions_sessions_created_total");
    static SESSIONS_RENEWED: Key = Key::from_static_name("kv_sessions_sessions_renewed_total");
    static SESSIONS_PURGED: Key = Key::from_static_name("kv_sessions_sessions_purged_total");
    static INVALIDATIONS: Key = Key::from_static_name("kv_sessions_invalidations_received_total");

    /// The counter and the histogram of one operation ending in one outcome.
    struct OperationKeys {
        count: Key,
        duration: Key,
    }

    /// The keys of every pair, indexed by the operation's and the outcome's discriminants.
    static OPERATION_KEYS: LazyLock<[[OperationKeys; 5]; 8]> = LazyLock::new(|| {
        Operation::ALL.map(|operation| Outcome::ALL.map(|outcome| keys(operation, outcome)))
    });

    fn keys(operation: Operation, outcome: Outcome) -> OperationKeys {
        let labels = [
            Label::from_static_parts("operation", operation.name()),
            Label::from_static_parts("outcome", outcome.name()),
        ];
        OperationKeys {
            count: Key::from_parts("kv_sessions_store_operations_total", labels.to_vec()),
            duration: Key::from_parts(
                "kv_sessions_store_operation_duration_seconds",
                labels.to_vec(),
            ),
        }
    }

    /// The latency of one store operation, on its way to the histogram.
    pub(super) struct Timer(Instant);

    impl Timer {
        pub(super) fn start() -> Self {
            Self(Instant::now())
        }

        /// Counts the operation, and records how long it took.
        pub(super) fn stop(self, operation: Operation, outcome: Outcome) {
            let took = self.0.elapsed().as_secs_f64();
            let keys = &OPERATION_KEYS[operation as usize][outcome as usize];
            metrics::with_recorder(|recorder| {
                let count = recorder.register_counter(&keys.count, &METADATA);
                count.increment(1);
                let duration = recorder.register_histogram(&keys.duration, &METADATA);
                duration.record(took);
            });
        }
    }

    fn increment(key: &Key, by: u64) {
        metrics::with_recorder(|recorder| recorder.register_counter(key, &METADATA).increment(by));
    }

    pub(super) fn cache_lookup(hit: bool) {
        increment(if hit { &CACHE_HITS } else { &CACHE_MISSES }, 1);
    }

    pub(super) fn session_changed(change: Change) {
        let key = match change {
            Change::Created => &SESSIONS_CREATED,
            Change::Renewed => &SESSIONS_RENEWED,
            Change::Purged => &SESSIONS_PURGED,
        };
        increment(key, 1);
    }

    /// A sweep runs once a minute or so: its keys are built as it ends.
    #[cfg(any(feature = "sled", feature = "postgres"))]
    pub(super) fn swept(store: &'static str, result: Result<u64, &super::StoreError>) {
        let outcome = if result.is_ok() { "ok" } else { "error" };
        let runs = Key::from_parts(
            "kv_sessions_sweeps_total",
            vec![
                Label::from_static_parts("store", store),
                Label::from_static_parts("outcome", outcome),
            ],
        );
        increment(&runs, 1);
        let swept = Key::from_parts(
            "kv_sessions_swept_sessions_total",
            vec![Label::from_static_parts("store", store)],
        );
        increment(&swept, result.unwrap_or(0));
    }

    pub(super) fn invalidation_heard() {
        increment(&INVALIDATIONS, 1);
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn each_pair_has_the_keys_of_its_own_labels() {
            for operation in Operation::ALL {
                for outcome in Outcome::ALL {
                    let keys = &OPERATION_KEYS[operation as usize][outcome as usize];
                    let labels: Vec<_> = keys.count.labels().map(Label::value).collect();
                    assert_eq!(labels, [operation.name(), outcome.name()]);
                    assert!(keys.duration.labels().eq(keys.count.labels()));
                }
            }
        }
    }
}
