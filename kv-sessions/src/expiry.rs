//! When sessions expire.

use std::time::{Duration, SystemTime};

/// How long a session lives, on the server and in the browser.
///
/// The server-side deadline is stored with the session; no store or cache ever returns a session
/// past it. The cookie's lifetime follows the same rule, so the browser drops the cookie when the
/// server drops the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Expiry {
    /// The session ends after this much time without a write. Each save moves the deadline, and
    /// the cookie carries a matching `Max-Age`. This is the default, with one hour.
    OnInactivity(Duration),
    /// The session ends at a fixed moment, however active it is. The cookie carries a matching
    /// `Expires`.
    AtDateTime(SystemTime),
    /// The cookie has no `Max-Age`, so the browser drops it when it closes. The server still
    /// forgets the session after the given time without a write, because a browser may never
    /// tell anyone that it closed.
    OnSessionEnd(Duration),
}

impl Default for Expiry {
    fn default() -> Self {
        Self::OnInactivity(Duration::from_secs(60 * 60))
    }
}

impl Expiry {
    /// The server-side deadline of a session saved at `now` under this rule.
    pub(crate) fn deadline(&self, now: SystemTime) -> SystemTime {
        match *self {
            Self::OnInactivity(idle) | Self::OnSessionEnd(idle) => now + idle,
            Self::AtDateTime(at) => at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_one_hour_of_inactivity() {
        assert_eq!(
            Expiry::default(),
            Expiry::OnInactivity(Duration::from_secs(3600))
        );
    }

    #[test]
    fn idle_rules_count_from_the_save_and_fixed_rules_do_not() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let minute = Duration::from_secs(60);
        assert_eq!(Expiry::OnInactivity(minute).deadline(now), now + minute);
        assert_eq!(Expiry::OnSessionEnd(minute).deadline(now), now + minute);
        let at = now + Duration::from_secs(5);
        assert_eq!(Expiry::AtDateTime(at).deadline(now), at);
    }
}
