//! The warning that most incoming session cookies fail their signature.
//!
//! A cookie that no key opens never fails a request: the request gets a fresh session, and the
//! log says why at `debug` level only, since one forged or stale cookie is no news. But when most
//! of them fail, this instance's key is almost surely not the one that sealed them (another
//! instance's, or the key before a restart), and every user it serves is signed out: that is
//! worth a `warn`, once a minute at most.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use super::{Cookies, Incoming, Rejection};

/// How long the counts are kept before they start again, and the least time between two
/// warnings.
const WINDOW: Duration = Duration::from_secs(60);

/// How many cookies of ours must have been checked in a window before a warning can be given, so
/// that a few forged cookies on a quiet app warn of nothing.
const QUORUM: u64 = 20;

/// Counts of the session cookies that opened and of those that failed their signature, over a
/// window of time, shared by every worker of one middleware.
///
/// A request that opens its cookie costs one relaxed atomic addition; the clock is read only for
/// a cookie that failed. The window starts again at the first failure a [`WINDOW`] after it
/// started, so the counts of a long quiet spell do not hide a key that has just changed.
#[derive(Debug)]
pub(crate) struct SignatureWatch {
    /// Where the watch's clock starts: the times below are milliseconds since it.
    origin: Instant,
    /// When the current window started.
    window_start: AtomicU64,
    /// Cookies that opened in the current window.
    opened: AtomicU64,
    /// Cookies that failed their signature in the current window.
    failed: AtomicU64,
    /// When the next warning may be given.
    next_warning: AtomicU64,
}

impl Default for SignatureWatch {
    fn default() -> Self {
        Self {
            origin: Instant::now(),
            window_start: AtomicU64::new(0),
            opened: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            next_warning: AtomicU64::new(0),
        }
    }
}

impl SignatureWatch {
    /// Counts what the cookies of one request, named `cookie`, said, and warns where most of
    /// those of the window failed their signature.
    pub(crate) fn observe(&self, cookies: &Cookies, cookie: &str) {
        match (cookies.incoming, cookies.rejection) {
            (Incoming::Valid { .. }, _) => {
                self.opened.fetch_add(1, Relaxed);
            }
            (Incoming::Rejected, Some(Rejection::BadSignature)) => {
                if let Some(counts) = self.count_failure(self.now()) {
                    warn(cookie, counts);
                }
            }
            _ => {}
        }
    }

    /// Counts a cookie that failed its signature at `now`, and answers the counts to warn of
    /// where it tips the window over and no warning was given in the last [`WINDOW`].
    fn count_failure(&self, now: u64) -> Option<Counts> {
        self.start_again_if_over(now);
        let failed = self.failed.fetch_add(1, Relaxed) + 1;
        let checked = failed + self.opened.load(Relaxed);
        if checked < QUORUM || failed * 2 <= checked {
            return None;
        }
        let next = self.next_warning.load(Relaxed);
        let due = now >= next;
        (due && self.claim_warning(next, now)).then_some(Counts { failed, checked })
    }

    /// Empties the counts where the window started a [`WINDOW`] or more before `now`.
    fn start_again_if_over(&self, now: u64) {
        let start = self.window_start.load(Relaxed);
        let over = now.saturating_sub(start) >= millis(WINDOW);
        if over
            && self
                .window_start
                .compare_exchange(start, now, Relaxed, Relaxed)
                .is_ok()
        {
            self.opened.store(0, Relaxed);
            self.failed.store(0, Relaxed);
        }
    }

    /// Whether this thread is the one to give the warning due since `next`: of the threads that
    /// find it due at once, one wins.
    fn claim_warning(&self, next: u64, now: u64) -> bool {
        let after = now + millis(WINDOW);
        self.next_warning
            .compare_exchange(next, after, Relaxed, Relaxed)
            .is_ok()
    }

    fn now(&self) -> u64 {
        millis(self.origin.elapsed())
    }
}

/// `duration` in whole milliseconds.
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// How many of the session cookies checked in a window failed their signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counts {
    failed: u64,
    checked: u64,
}

/// The warning itself, for the cookie named `cookie`.
fn warn(cookie: &str, Counts { failed, checked }: Counts) {
    tracing::warn!(
        cookie,
        failed,
        checked,
        "most session cookies fail their signature: {failed} of {checked} recent session \
         cookies were sealed with a key this instance does not have, and each of their users was \
         given a fresh session, signed out. The likely cause is that this instance's key differs \
         from the one that sealed them: another instance's, or the key before a restart. Compare \
         the `key_fingerprint` that each instance logs when its middleware is built, and give \
         every instance the same key (list an old one in `previous_keys` while it is rotated out)"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: u64 = 60_000;

    fn opened(watch: &SignatureWatch, count: u64) {
        (0..count).for_each(|_| {
            watch.opened.fetch_add(1, Relaxed);
        });
    }

    /// The counts of each warning that `count` failures at `now` give.
    fn fail(watch: &SignatureWatch, count: u64, now: u64) -> Vec<Counts> {
        (0..count)
            .filter_map(|_| watch.count_failure(now))
            .collect()
    }

    #[test]
    fn a_quorum_of_failures_warns_once() {
        let watch = SignatureWatch::default();
        assert_eq!(fail(&watch, QUORUM - 1, 0), []);
        let warned = fail(&watch, 100, 1_000);
        let first = Counts {
            failed: QUORUM,
            checked: QUORUM,
        };
        assert_eq!(warned, [first]);
    }

    #[test]
    fn failures_that_are_not_most_of_the_cookies_warn_of_nothing() {
        let watch = SignatureWatch::default();
        opened(&watch, 50);
        assert_eq!(fail(&watch, 50, 0), []);
        assert_eq!(fail(&watch, 1, 0).len(), 1, "the 51st of 101 is most");
    }

    #[test]
    fn the_next_warning_comes_a_window_later_at_the_earliest() {
        let watch = SignatureWatch::default();
        assert_eq!(fail(&watch, QUORUM, 0).len(), 1);
        assert_eq!(fail(&watch, 100, MINUTE - 1), []);
        assert_eq!(fail(&watch, QUORUM, MINUTE).len(), 1);
    }

    #[test]
    fn a_window_that_is_over_starts_again_at_the_next_failure() {
        let watch = SignatureWatch::default();
        opened(&watch, 1_000);
        assert_eq!(fail(&watch, 100, 0), []);
        let warned = fail(&watch, QUORUM, MINUTE);
        let fresh = Counts {
            failed: QUORUM,
            checked: QUORUM,
        };
        assert_eq!(warned, [fresh]);
    }
}
