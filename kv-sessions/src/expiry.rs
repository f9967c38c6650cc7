//! When sessions expire.

use std::time::{Duration, SystemTime};

use crate::record::Record;

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
    fn idle(&self) -> Option<Duration> {
        match *self {
            Self::OnInactivity(idle) | Self::OnSessionEnd(idle) => Some(idle.min(Self::LONGEST)),
            Self::AtDateTime(_) => None,
        }
    }

    /// Whether the cookie should outlive the browser session.
    pub(crate) fn persists_cookie(&self) -> bool {
        !matches!(self, Self::OnSessionEnd(_))
    }
}

/// The rules a store follows when it applies [`Changes`](crate::Changes): they carry the
/// middleware's settings to the store, which computes a session's deadline and checks its size
/// at the moment it merges, against the latest stored copy.
///
/// A store that keeps whole records never needs to look inside: [`Changes::apply_to`] applies
/// them. A store that merges natively (a script, a SQL statement) reads them through the
/// accessors and computes the same deadline as [`SessionPolicy::deadline`].
///
/// [`Changes::apply_to`]: crate::Changes::apply_to
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    default_expiry: Expiry,
    absolute_lifetime: Option<Duration>,
    max_size: usize,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self::new(Expiry::default())
    }
}

impl SessionPolicy {
    /// The default cap on a session's size: 64 KiB of keys and JSON values.
    pub const DEFAULT_MAX_SIZE: usize = 64 * 1024;

    /// Sessions that follow `default_expiry` unless they set a rule of their own, with no
    /// absolute lifetime and the default size cap.
    pub fn new(default_expiry: Expiry) -> Self {
        Self {
            default_expiry,
            absolute_lifetime: None,
            max_size: Self::DEFAULT_MAX_SIZE,
        }
    }

    /// The same policy with every session capped at `lifetime` from its creation.
    pub fn with_absolute_lifetime(mut self, lifetime: Option<Duration>) -> Self {
        self.absolute_lifetime = lifetime;
        self
    }

    /// The same policy with sessions capped at `bytes` of keys and JSON values.
    pub fn with_max_size(mut self, bytes: usize) -> Self {
        self.max_size = bytes;
        self
    }

    /// The rule of a session that has set none of its own.
    pub fn default_expiry(&self) -> Expiry {
        self.default_expiry
    }

    /// The longest a session may live from its creation, whatever its rule.
    pub fn absolute_lifetime(&self) -> Option<Duration> {
        self.absolute_lifetime
    }

    /// The largest a session may be, in bytes of keys and JSON values.
    pub fn max_size(&self) -> usize {
        self.max_size
    }

    /// The rule a session follows: its own, or the default.
    pub fn rule(&self, own: Option<Expiry>) -> Expiry {
        own.unwrap_or(self.default_expiry)
    }

    /// The deadline of a session whose own rule is `own`, created at `created_at` and active at
    /// `now`: its rule's deadline, capped by the absolute lifetime and by [`Expiry::LONGEST`]
    /// from `now`. It never overflows, whatever the inputs.
    pub fn deadline(
        &self,
        own: Option<Expiry>,
        created_at: SystemTime,
        now: SystemTime,
    ) -> SystemTime {
        let furthest = later(now, Expiry::LONGEST);
        let deadline = match self.rule(own) {
            Expiry::OnInactivity(idle) | Expiry::OnSessionEnd(idle) => later(now, idle),
            Expiry::AtDateTime(at) => at,
        };
        let capped = match self.absolute_lifetime {
            Some(cap) => deadline.min(later(created_at, cap)),
            None => deadline,
        };
        capped.min(furthest)
    }
}

/// `time + by`, saturating at the latest time the platform can represent.
fn later(time: SystemTime, by: Duration) -> SystemTime {
    time.checked_add(by)
        .or_else(|| time.checked_add(Expiry::LONGEST))
        .unwrap_or(time)
}

/// The middleware's rules for deadlines: the policy stores apply, and when a read moves the
/// deadline.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lifetime {
    pub(crate) policy: SessionPolicy,
    pub(crate) refresh_after: f64,
}

impl Default for Lifetime {
    fn default() -> Self {
        Self {
            policy: SessionPolicy::default(),
            refresh_after: 0.25,
        }
    }
}

impl Lifetime {
    /// The rule a session follows: its own, or the default.
    pub(crate) fn rule(&self, own: Option<Expiry>) -> Expiry {
        self.policy.rule(own)
    }

    /// Whether a read at `now` should move the deadline of `record`: once a `refresh_after`
    /// fraction of the idle window has passed since the deadline was last set, and only where the
    /// deadline would actually move.
    pub(crate) fn needs_refresh(&self, record: &Record, now: SystemTime) -> bool {
        let Some(idle) = self.rule(record.expiry()).idle() else {
            return false;
        };
        let remaining = record.expires_at().duration_since(now).unwrap_or_default();
        let since_last_set = idle.saturating_sub(remaining);
        since_last_set >= idle.mul_f64(self.refresh_after)
            && self
                .policy
                .deadline(record.expiry(), record.created_at(), now)
                > record.expires_at()
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
        let policy = SessionPolicy::default();
        let now = at(1_000);
        let deadline = |rule| policy.deadline(Some(rule), now, now);
        assert_eq!(deadline(Expiry::OnInactivity(MINUTE)), now + MINUTE);
        assert_eq!(deadline(Expiry::OnSessionEnd(MINUTE)), now + MINUTE);
        assert_eq!(deadline(Expiry::AtDateTime(at(5))), at(5));
    }

    #[test]
    fn the_absolute_lifetime_caps_every_rule() {
        let policy = SessionPolicy::default().with_absolute_lifetime(Some(MINUTE * 10));
        let created = at(0);
        let late = at(9 * 60);
        assert_eq!(
            policy.deadline(Some(Expiry::OnInactivity(MINUTE * 5)), created, late),
            at(600)
        );
        assert_eq!(
            policy.deadline(Some(Expiry::AtDateTime(at(10_000))), created, late),
            at(600)
        );
        assert_eq!(
            policy.deadline(Some(Expiry::OnInactivity(MINUTE)), created, at(0)),
            at(60)
        );
    }

    #[test]
    fn a_session_own_rule_beats_the_default() {
        let policy = SessionPolicy::default();
        let own = Expiry::OnInactivity(MINUTE);
        assert_eq!(policy.rule(Some(own)), own);
        assert_eq!(policy.rule(None), Expiry::default());
    }

    #[test]
    fn no_rule_sets_a_deadline_past_the_longest_lifetime_or_overflows() {
        let now = SystemTime::now();
        let furthest = now + Expiry::LONGEST;
        let far_future = SystemTime::UNIX_EPOCH + Duration::from_secs(i64::MAX as u64 / 2);
        for rule in [
            Expiry::OnInactivity(Duration::MAX),
            Expiry::OnSessionEnd(Duration::MAX),
            Expiry::AtDateTime(far_future),
        ] {
            for cap in [None, Some(Duration::MAX)] {
                let policy = SessionPolicy::default().with_absolute_lifetime(cap);
                assert_eq!(policy.deadline(Some(rule), now, now), furthest, "{rule:?}");
            }
        }
        let lifetime = Lifetime::default();
        let long = record(0, 0, Some(Expiry::OnInactivity(Duration::MAX)));
        let refreshed = lifetime.policy.deadline(long.expiry(), now, now);
        let long =
            Record::new(long.id(), 1, now, refreshed, BTreeMap::new()).with_expiry(long.expiry());
        assert!(
            !lifetime.needs_refresh(&long, now + MINUTE),
            "a cut window still waits for its threshold"
        );
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
            policy: SessionPolicy::default().with_absolute_lifetime(Some(MINUTE * 60)),
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
