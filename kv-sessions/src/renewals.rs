//! The ids that this middleware renewed away a moment ago.
//!
//! After a login renews a session, the requests that the page fired beside it still carry the
//! old cookie for as long as their answers are on the way. Those that reach the store after the
//! renewal find no session, as would a request whose session expired long ago. For a request
//! that writes, the two call for opposite answers: after an expiry, the write starts a fresh
//! session and its cookie; right after a renewal, that fresh, anonymous cookie could reach the
//! browser after the login's and sign the user out. Remembering the ids renewed within the last
//! [`RecentRenewals::WINDOW`] tells the two apart, for the renewals this process made.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::id::SessionId;

/// The ids renewed away by this middleware within the last [`WINDOW`](Self::WINDOW).
#[derive(Debug, Default)]
pub(crate) struct RecentRenewals {
    renewed_at: Mutex<HashMap<SessionId, Instant>>,
}

impl RecentRenewals {
    /// How long a renewed id is remembered: far longer than a browser takes to receive the
    /// login's answer, after which it sends the new cookie alone.
    pub(crate) const WINDOW: Duration = Duration::from_secs(60);

    /// The most ids remembered at once, about 3 MB. Past it (over a thousand renewals a second,
    /// sustained) a renewal goes unremembered: a write with its old cookie then starts a fresh
    /// session, as it would without this record.
    const CAPACITY: usize = 65_536;

    /// Remembers that `id` is being renewed away at `now`.
    pub(crate) fn record(&self, id: SessionId, now: Instant) {
        let mut renewed_at = self.lock();
        if renewed_at.len() >= Self::CAPACITY {
            renewed_at.retain(|_, at| now.saturating_duration_since(*at) < Self::WINDOW);
        }
        if renewed_at.len() < Self::CAPACITY {
            renewed_at.insert(id, now);
        }
    }

    /// Whether `id` was renewed away within the window before `now`.
    pub(crate) fn contains(&self, id: &SessionId, now: Instant) -> bool {
        self.lock()
            .get(id)
            .is_some_and(|at| now.saturating_duration_since(*at) < Self::WINDOW)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, Instant>> {
        // The map holds no invariant that a panic halfway could break.
        self.renewed_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_renewed_id_is_remembered_for_the_window_only() {
        let renewals = RecentRenewals::default();
        let (id, other) = (SessionId::generate(), SessionId::generate());
        let start = Instant::now();
        renewals.record(id, start);
        assert!(renewals.contains(&id, start));
        assert!(renewals.contains(&id, start + RecentRenewals::WINDOW / 2));
        assert!(!renewals.contains(&id, start + RecentRenewals::WINDOW));
        assert!(!renewals.contains(&other, start), "only the renewed id");
    }

    #[test]
    fn a_full_record_makes_room_by_forgetting_what_is_past_the_window() {
        let renewals = RecentRenewals::default();
        let start = Instant::now();
        for _ in 0..RecentRenewals::CAPACITY {
            renewals.record(SessionId::generate(), start);
        }
        let late = SessionId::generate();
        renewals.record(late, start + Duration::from_secs(1));
        assert!(
            !renewals.contains(&late, start + Duration::from_secs(1)),
            "no room while every id is within the window"
        );
        let later = start + RecentRenewals::WINDOW;
        renewals.record(late, later);
        assert!(renewals.contains(&late, later));
        assert_eq!(renewals.lock().len(), 1, "the stale ids were dropped");
    }
}
