//! When sessions expire.

use std::time::{Duration, SystemTime};

use crate::record::Record;

/// How long a session lives, on the server and in the browser.
///
/// The server-side deadline is stored with the session; no store or cache ever returns a session
/// past it. The cookie's lifetime follows the same deadline, so the browser drops the cookie when
/// the server drops the session.
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
    /// The idle window of a rule that has one.
    fn idle(&self) -> Option<Duration> {
        match *self {
            Self::OnInactivity(idle) | Self::OnSessionEnd(idle) => Some(idle),
            Self::AtDateTime(_) => None,
        }
    }

    /// Whether the cookie should outlive the browser session.
    pub(crate) fn persists_cookie(&self) -> bool {
        !matches!(self, Self::OnSessionEnd(_))
    }
}

/// The middleware's rules for deadlines: the default expiry, the absolute cap, and when a read
/// moves the deadline.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lifetime {
    pub(crate) default: Expiry,
    pub(crate) absolute: Option<Duration>,
    pub(crate) refresh_after: f64,
}

impl Default for Lifetime {
    fn default() -> Self {
        Self {
            default: Expiry::default(),
            absolute: None,
            refresh_after: 0.25,
        }
    }
}

impl Lifetime {
    /// The rule a session follows: its own, or the default.
    pub(crate) fn rule(&self, own: Option<Expiry>) -> Expiry {
        own.unwrap_or(self.default)
    }

    /// The deadline of a session created at `created_at` and active at `now` under `rule`, capped
    /// by the absolute lifetime.
    pub(crate) fn deadline(
        &self,
        rule: Expiry,
        created_at: SystemTime,
        now: SystemTime,
    ) -> SystemTime {
        let deadline = match rule {
            Expiry::OnInactivity(idle) | Expiry::OnSessionEnd(idle) => now + idle,
            Expiry::AtDateTime(at) => at,
        };
        match self.absolute {
            Some(cap) => deadline.min(created_at + cap),
            None => deadline,
        }
    }

    /// Whether a read at `now` should move the deadline of `record`: once a `refresh_after`
    /// fraction of the idle window has passed since the deadline was last set, and only where the
    /// deadline would actually move.
    pub(crate) fn needs_refresh(&self, record: &Record, now: SystemTime) -> bool {
        let rule = self.rule(record.expiry());
        let Some(idle) = rule.idle() else {
            return false;
        };
        let remaining = record.expires_at().duration_since(now).unwrap_or_default();
        let since_last_set = idle.saturating_sub(remaining);
        since_last_set >= idle.mul_f64(self.refresh_after)
            && self.deadline(rule, record.created_at(), now) > record.expires_at()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::id::SessionId;

    const MINUTE: Duration = Duration::from_secs(60);

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn record(created: u64, expires: u64, expiry: Option<Expiry>) -> Record {
        Record::new(
            SessionId::generate(),
            1,
            at(created),
            at(expires),
            BTreeMap::new(),
        )
        .with_expiry(expiry)
    }

    #[test]
    fn default_is_one_hour_of_inactivity() {
        assert_eq!(
            Expiry::default(),
            Expiry::OnInactivity(Duration::from_secs(3600))
        );
    }

    #[test]
    fn idle_rules_count_from_now_and_fixed_rules_do_not() {
        let lifetime = Lifetime::default();
        let now = at(1_000);
        assert_eq!(
            lifetime.deadline(Expiry::OnInactivity(MINUTE), now, now),
            now + MINUTE
        );
        assert_eq!(
            lifetime.deadline(Expiry::OnSessionEnd(MINUTE), now, now),
            now + MINUTE
        );
        assert_eq!(
            lifetime.deadline(Expiry::AtDateTime(at(5)), now, now),
            at(5)
        );
    }

    #[test]
    fn the_absolute_lifetime_caps_every_rule() {
        let lifetime = Lifetime {
            absolute: Some(MINUTE * 10),
            ..Lifetime::default()
        };
        let created = at(0);
        let late = at(9 * 60);
        assert_eq!(
            lifetime.deadline(Expiry::OnInactivity(MINUTE * 5), created, late),
            at(600)
        );
        assert_eq!(
            lifetime.deadline(Expiry::AtDateTime(at(10_000)), created, late),
            at(600)
        );
        assert_eq!(
            lifetime.deadline(Expiry::OnInactivity(MINUTE), created, at(0)),
            at(60)
        );
    }

    #[test]
    fn a_session_own_rule_beats_the_default() {
        let lifetime = Lifetime::default();
        let own = Expiry::OnInactivity(MINUTE);
        assert_eq!(lifetime.rule(Some(own)), own);
        assert_eq!(lifetime.rule(None), Expiry::default());
    }

    #[test]
    fn reads_refresh_only_after_the_threshold() {
        let lifetime = Lifetime::default();
        // Idle window of one hour, deadline set at t=0, so it lies at t=3600.
        let session = record(0, 3600, None);
        assert!(!lifetime.needs_refresh(&session, at(60)), "a minute in");
        assert!(
            !lifetime.needs_refresh(&session, at(899)),
            "just under a quarter"
        );
        assert!(
            lifetime.needs_refresh(&session, at(900)),
            "a quarter of the window"
        );
        let own = record(0, 60, Some(Expiry::OnSessionEnd(MINUTE)));
        assert!(lifetime.needs_refresh(&own, at(15)));
    }

    #[test]
    fn fixed_and_capped_deadlines_are_never_refreshed() {
        let lifetime = Lifetime::default();
        let fixed = record(0, 3600, Some(Expiry::AtDateTime(at(3600))));
        assert!(!lifetime.needs_refresh(&fixed, at(3000)));
        let capped = Lifetime {
            absolute: Some(MINUTE * 60),
            ..Lifetime::default()
        };
        assert!(!capped.needs_refresh(&record(0, 3600, None), at(3000)));
    }

    #[test]
    fn a_zero_threshold_refreshes_on_every_read() {
        let lifetime = Lifetime {
            refresh_after: 0.0,
            ..Lifetime::default()
        };
        assert!(lifetime.needs_refresh(&record(0, 3600, None), at(1)));
    }
}
