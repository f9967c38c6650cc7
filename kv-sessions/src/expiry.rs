//! When sessions expire.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a session lives, on the server and in the browser.
///
/// The server-side deadline is stored with the session; no store or cache ever returns a session
/// past it. The cookie's lifetime follows the same deadline, so the browser drops the cookie when
/// the server drops the session.
///
/// No deadline lies more than [`Expiry::LONGEST`] (400 days) after the moment it is set: a longer
/// idle window or a later date is cut to that. Any value is therefore safe, including one taken
/// from user input, such as a "remember me for N days" field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Expiry {
    /// The session ends after this much time without activity. Writes and reads both count;
    /// see [`SessionMiddlewareBuilder::refresh_after`](crate::SessionMiddlewareBuilder::refresh_after)
    /// for how often a read moves the deadline. The cookie's `Max-Age` follows the deadline. This
    /// is the default, with one hour.
    OnInactivity(Duration),
    /// The session ends at a fixed moment, however active it is. The cookie's `Max-Age` and
    /// `Expires` match it.
    AtDateTime(SystemTime),
    /// The cookie has no `Max-Age`, so the browser drops it when it closes. The server still
    /// forgets the session after the given time without activity, because a browser never tells
    /// anyone that it closed.
    OnSessionEnd(Duration),
}

impl Default for Expiry {
    fn default() -> Self {
        Self::OnInactivity(Duration::from_secs(60 * 60))
    }
}

impl Expiry {
    /// The furthest ahead any deadline is set: 400 days, the longest that browsers keep a cookie
    /// (RFC 6265bis caps `Max-Age` and `Expires` there).
    pub const LONGEST: Duration = Duration::from_secs(400 * 86_400);

    /// The idle window of a rule that has one, cut to [`Expiry::LONGEST`].
    pub(crate) fn idle(&self) -> Option<Duration> {
        match *self {
            Self::OnInactivity(idle) | Self::OnSessionEnd(idle) => Some(idle.min(Self::LONGEST)),
            Self::AtDateTime(_) => None,
        }
    }

    /// Whether the cookie should outlive the browser session.
    pub(crate) fn persists_cookie(&self) -> bool {
        !matches!(self, Self::OnSessionEnd(_))
    }

    /// The same rule in the form every store keeps: whole milliseconds, an idle window cut to
    /// [`Expiry::LONGEST`] (which changes no deadline, since none lies further ahead), and a
    /// date between the Unix epoch and the last millisecond an `i64` counts.
    pub(crate) fn in_whole_millis(self) -> Self {
        match self {
            Self::OnInactivity(idle) => Self::OnInactivity(whole_millis(idle.min(Self::LONGEST))),
            Self::OnSessionEnd(idle) => Self::OnSessionEnd(whole_millis(idle.min(Self::LONGEST))),
            Self::AtDateTime(at) => {
                let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
                let latest = Duration::from_millis(i64::MAX as u64);
                Self::AtDateTime(UNIX_EPOCH + whole_millis(since.min(latest)))
            }
        }
    }
}

/// `duration` rounded down to a whole millisecond.
fn whole_millis(duration: Duration) -> Duration {
    Duration::from_millis(duration.as_millis().try_into().unwrap_or(u64::MAX))
}

/// A session's own expiry rule as every store keeps it: a kind and a number of milliseconds.
///
/// | kind | rule | `millis` |
/// |---|---|---|
/// | 0 | none: the policy's default | 0 |
/// | 1 | [`Expiry::OnInactivity`] | the idle window |
/// | 2 | [`Expiry::AtDateTime`] | the moment, since the Unix epoch |
/// | 3 | [`Expiry::OnSessionEnd`] | the idle window |
///
/// A rule that went through [`Expiry::in_whole_millis`] round-trips exactly, and `millis` fits
/// an `i64`, the integer PostgreSQL and Redis count in.
#[cfg(any(feature = "sled", feature = "redis", feature = "postgres"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StoredRule {
    pub(crate) kind: u8,
    pub(crate) millis: u64,
}

/// A stored rule whose kind no version of kv-sessions writes.
#[cfg(any(feature = "sled", feature = "redis", feature = "postgres"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown expiry rule kind {0}")]
pub(crate) struct UnknownRule(pub(crate) u8);

#[cfg(any(feature = "sled", feature = "redis", feature = "postgres"))]
impl StoredRule {
    /// The stored form of `rule`.
    pub(crate) fn of(rule: Option<Expiry>) -> Self {
        let (kind, duration) = match rule.map(Expiry::in_whole_millis) {
            None => (0, Duration::ZERO),
            Some(Expiry::OnInactivity(idle)) => (1, idle),
            Some(Expiry::AtDateTime(at)) => (2, at.duration_since(UNIX_EPOCH).unwrap_or_default()),
            Some(Expiry::OnSessionEnd(idle)) => (3, idle),
        };
        let millis = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        Self { kind, millis }
    }

    /// The rule stored as `self`.
    pub(crate) fn rule(self) -> Result<Option<Expiry>, UnknownRule> {
        let millis = Duration::from_millis(self.millis);
        Ok(Some(match self.kind {
            0 => return Ok(None),
            1 => Expiry::OnInactivity(millis),
            2 => Expiry::AtDateTime(UNIX_EPOCH + millis),
            3 => Expiry::OnSessionEnd(millis),
            kind => return Err(UnknownRule(kind)),
        }))
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
    #[cfg(any(feature = "sled", feature = "redis", feature = "postgres"))]
    fn every_rule_round_trips_through_its_stored_form() {
        let far = UNIX_EPOCH + Duration::from_secs(u64::MAX / 4_000);
        let rules = [
            None,
            Some(Expiry::OnInactivity(Duration::from_nanos(1_234_567_891))),
            Some(Expiry::OnSessionEnd(Duration::MAX)),
            Some(Expiry::AtDateTime(
                UNIX_EPOCH + Duration::from_nanos(1_999_999),
            )),
            Some(Expiry::AtDateTime(far)),
            Some(Expiry::AtDateTime(UNIX_EPOCH - Duration::from_secs(1))),
        ];
        for rule in rules {
            let kept = rule.map(Expiry::in_whole_millis);
            let stored = StoredRule::of(rule);
            assert!(i64::try_from(stored.millis).is_ok(), "{rule:?}");
            assert_eq!(stored.rule(), Ok(kept), "{rule:?}");
            assert_eq!(kept.map(Expiry::in_whole_millis), kept, "rounds once");
        }
    }

    #[test]
    fn rules_are_rounded_down_and_idle_windows_cut_to_the_longest() {
        assert_eq!(
            Expiry::OnInactivity(Duration::from_nanos(1_999_999)).in_whole_millis(),
            Expiry::OnInactivity(Duration::from_millis(1))
        );
        assert_eq!(
            Expiry::OnSessionEnd(Duration::MAX).in_whole_millis(),
            Expiry::OnSessionEnd(Expiry::LONGEST)
        );
        assert_eq!(
            Expiry::AtDateTime(UNIX_EPOCH - Duration::from_secs(1)).in_whole_millis(),
            Expiry::AtDateTime(UNIX_EPOCH)
        );
    }

    #[test]
    #[cfg(any(feature = "sled", feature = "redis", feature = "postgres"))]
    fn an_unknown_kind_is_refused() {
        let stored = StoredRule { kind: 9, millis: 0 };
        assert_eq!(stored.rule(), Err(UnknownRule(9)));
    }
}
