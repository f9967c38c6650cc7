//! The simulated notice, and what each subscriber tallies of the notices it hears.
//!
//! A notice has the shape of kv-sessions' invalidation text, `"<32 hex digest> <version>"`, so
//! the server moves as many bytes as it would for the real thing. In the simulation the 32 hex
//! digits carry a sequence number and the moment the notice was sent, which is what lets a
//! subscriber in the same process measure the delay from publish to receipt.

use std::mem;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The text of notice `sequence`, sent now. The version is two digits, as for a session
/// written a few dozen times, which keeps the text at the real notice's 35 bytes.
pub(crate) fn text(epoch: Instant, sequence: u64) -> String {
    let sent = epoch.elapsed().as_nanos() as u64;
    format!("{sequence:016x}{sent:016x} {}", 10 + sequence % 90)
}

/// How long ago the notice `text` was sent, or `None` where it is not one of [`text`]'s.
pub(crate) fn age(epoch: Instant, text: &str) -> Option<Duration> {
    let sent = u64::from_str_radix(text.get(16..32)?, 16).ok()?;
    epoch.elapsed().checked_sub(Duration::from_nanos(sent))
}

/// What one subscriber has heard: the bytes its connection received, its messages, and the
/// delay of each timed one since the window opened.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    /// Bytes received on the subscriber's connection, framing included.
    pub(crate) bytes: Arc<AtomicU64>,
    messages: AtomicU64,
    delays_us: Mutex<Vec<u32>>,
}

impl Tally {
    /// Counts a message, with its delay where it carried a send time.
    pub(crate) fn hear(&self, delay: Option<Duration>) {
        self.messages.fetch_add(1, Ordering::Relaxed);
        if let Some(delay) = delay {
            let micros = u32::try_from(delay.as_micros()).unwrap_or(u32::MAX);
            self.delays().push(micros);
        }
    }

    /// Messages heard so far.
    pub(crate) fn messages(&self) -> u64 {
        self.messages.load(Ordering::Relaxed)
    }

    /// Bytes received so far.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// The delays heard since the last call, in microseconds.
    pub(crate) fn take_delays(&self) -> Vec<u32> {
        mem::take(&mut *self.delays())
    }

    fn delays(&self) -> std::sync::MutexGuard<'_, Vec<u32>> {
        // A subscriber that panicked mid-push leaves a usable list of delays behind.
        self.delays_us
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_is_as_long_as_a_real_one_and_tells_its_age() {
        let epoch = Instant::now();
        let notice = text(epoch, 7);
        assert_eq!(notice.len(), 35);
        assert!(age(epoch, &notice).unwrap() < Duration::from_secs(1));
    }

    #[test]
    fn a_foreign_message_has_no_age() {
        assert_eq!(age(Instant::now(), "hello"), None);
    }
}
