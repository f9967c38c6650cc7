//! What becomes of a request's session when its response leaves the middleware.
//!
//! The decision is a pure function, [`plan`], from what the request brought and did (the
//! incoming cookie, the stored copy it loaded, its writes, purge and renew, the response status,
//! the time) to a [`Plan`]: the store operations to run and the cookie to send. [`carry_out`]
//! runs the plan; the cookie that follows a write depends on the store's answer, through
//! [`cookie_after`], another pure function.

use std::time::{Duration, SystemTime};

use crate::changes::{Changes, Saved, SessionPolicy};
use crate::cookie::Incoming;
use crate::error::SessionError;
use crate::expiry::Expiry;
use crate::id::SessionId;
use crate::record::Record;
use crate::session::{SessionStatus, State};
use crate::store::DynStore;
use crate::telemetry::{self, Change};

/// What the response must do with the session cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CookieUpdate {
    /// Leave the browser's cookie as it is.
    Keep,
    /// Send a cookie for this session.
    Set(Issue),
    /// Remove the browser's cookie.
    Remove,
}

/// A session cookie to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Issue {
    pub(crate) id: SessionId,
    /// The version of the session saved, for the cookie's stamp.
    pub(crate) version: u64,
    pub(crate) rule: Expiry,
    pub(crate) deadline: SystemTime,
}

/// Everything the decision depends on.
pub(crate) struct Request {
    /// What the request's cookie said.
    pub(crate) incoming: Incoming,
    /// What the request did to its session; `None` when no extractor ever loaded it.
    pub(crate) state: Option<State>,
    /// Whether the cookie named a session that this middleware renewed away a moment ago.
    pub(crate) renewed_away: bool,
    /// Whether the response is a server error.
    pub(crate) server_error: bool,
    pub(crate) now: SystemTime,
}

/// The store operations to run, in order, and the cookie to send.
#[derive(Debug, PartialEq)]
pub(crate) struct Plan {
    /// A session to delete first: the one the request purged.
    pub(crate) delete: Option<SessionId>,
    /// The write that follows, whose answer decides the cookie.
    pub(crate) write: Option<Write>,
    /// The cookie to send when there is no write.
    pub(crate) cookie: CookieUpdate,
}

/// One write to the store.
#[derive(Debug, PartialEq)]
pub(crate) enum Write {
    /// A new session, under an id minted when the plan is carried out.
    Create(Changes),
    /// The changes, applied to the latest copy of the session the request loaded (this copy), if
    /// it still lives.
    Update(Record, Changes),
    /// The session the request loaded, moved with the changes to a new id.
    Renew {
        from: SessionId,
        to: SessionId,
        changes: Changes,
    },
}

impl Plan {
    fn cookie_only(cookie: CookieUpdate) -> Self {
        Self {
            delete: None,
            write: None,
            cookie,
        }
    }
}

/// Decides what to do with the request's session.
///
/// - Only the request that purges removes the cookie. Any other response that saves nothing
///   leaves the browser's cookie alone, even one that names no live session: the browser may
///   hold a newer cookie by the time it reads this response (a login's, renewed while this
///   request ran), and a removal would sign the user out.
/// - A server error saves nothing but a purge: the handler failed, and its half-made changes must
///   not persist, but a purge only takes privilege away.
/// - A purge deletes the session; writes made after it create a new one.
/// - A renewal moves the session, with the changes, to the id `renew` minted.
/// - A loaded session is updated when the request changed it or a read is due to move its
///   deadline.
/// - A new session is created only when the request wrote a value, and never for a request whose
///   cookie names a session renewed away a moment ago: it comes from the page of a login, and
///   the anonymous cookie of a new session could replace the login's. It fails with
///   [`SessionError::Ended`] instead, as a write held across the renewal does.
pub(crate) fn plan(request: Request, lifetime: &Lifetime) -> Result<Plan, SessionError> {
    let Some(state) = request.state else {
        return Ok(Plan::cookie_only(CookieUpdate::Keep));
    };
    let status = state.status();
    let State {
        stored,
        changes,
        purged,
        renewed_to,
    } = state;
    let cookie = match &stored {
        _ if purged.is_some() => CookieUpdate::Remove,
        Some(stored) if needs_resealing(request.incoming) && !request.server_error => {
            CookieUpdate::Set(issue(stored, lifetime))
        }
        _ => CookieUpdate::Keep,
    };
    let write = match (status, &stored, renewed_to) {
        _ if request.server_error => None,
        (SessionStatus::Renewed, Some(stored), Some(to)) => Some(Write::Renew {
            from: stored.id(),
            to,
            changes,
        }),
        (SessionStatus::Changed, Some(stored), _) => Some(Write::Update(stored.clone(), changes)),
        (SessionStatus::Unchanged, Some(stored), _)
            if lifetime.needs_refresh(stored, request.now) =>
        {
            Some(Write::Update(stored.clone(), changes))
        }
        (SessionStatus::Changed, None, _) if request.renewed_away => {
            return Err(SessionError::Ended);
        }
        (SessionStatus::Changed, None, _) => Some(Write::Create(changes)),
        _ => None,
    };
    Ok(Plan {
        delete: purged,
        write,
        cookie,
    })
}

/// The cookie that follows the store's answer to a write that `wrote_a_value` or not.
///
/// A session found gone when the write reached the store (purged, renewed away or expired while
/// the request ran) is not brought back, and no cookie is sent: the browser may already hold the
/// cookie of the request that renewed it. Where the request wrote a value, the write is lost,
/// and the request fails with [`SessionError::Ended`] rather than report a success the store does
/// not hold. A session that would outgrow its cap fails the request for the same reason.
pub(crate) fn cookie_after(
    saved: Saved,
    wrote_a_value: bool,
    lifetime: &Lifetime,
) -> Result<CookieUpdate, SessionError> {
    match saved {
        Saved::Stored(record) => Ok(CookieUpdate::Set(issue(&record, lifetime))),
        Saved::Gone if wrote_a_value => Err(SessionError::Ended),
        Saved::Gone => Ok(CookieUpdate::Keep),
        Saved::TooLarge(refusal) => Err(SessionError::TooLargeToSave(refusal)),
    }
}

/// Runs `plan` against `store`, and returns the cookie to send.
pub(crate) async fn carry_out(
    plan: Plan,
    store: &dyn DynStore,
    lifetime: &Lifetime,
) -> Result<CookieUpdate, SessionError> {
    if let Some(id) = plan.delete {
        store.delete(&id).await?;
        telemetry::session_changed(Change::Purged);
    }
    let (saved, wrote_a_value, change) = match plan.write {
        None => return Ok(plan.cookie),
        Some(Write::Create(changes)) => (
            store.create(&SessionId::generate(), &changes).await?,
            changes.writes_a_value(),
            Some(Change::Created),
        ),
        Some(Write::Update(loaded, changes)) => (
            store.update_from(&loaded, &changes).await?,
            changes.writes_a_value(),
            None,
        ),
        Some(Write::Renew { from, to, changes }) => (
            store.renew(&from, &to, &changes).await?,
            changes.writes_a_value(),
            Some(Change::Renewed),
        ),
    };
    if let (Saved::Stored(_), Some(change)) = (&saved, change) {
        telemetry::session_changed(change);
    }
    cookie_after(saved, wrote_a_value, lifetime)
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
    /// The same rules with every session capped at `lifetime` from its creation.
    pub(crate) fn with_absolute_lifetime(mut self, lifetime: Duration) -> Self {
        self.policy = self.policy.with_absolute_lifetime(Some(lifetime));
        self
    }

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

/// The cookie for a stored record.
fn issue(record: &Record, lifetime: &Lifetime) -> Issue {
    Issue {
        id: record.id(),
        version: record.version(),
        rule: lifetime.rule(record.expiry()),
        deadline: record.expires_at(),
    }
}

/// Whether the incoming cookie was opened by a previous key and must be sealed again.
fn needs_resealing(incoming: Incoming) -> bool {
    matches!(
        incoming,
        Incoming::Valid {
            current_key: false,
            ..
        }
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);
    const HOUR: Duration = Duration::from_secs(3600);

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    /// A session created at t=0 whose deadline was set at `set`, an hour later.
    fn stored(set: u64) -> Record {
        Record::new(
            SessionId::generate(),
            1,
            at(0),
            at(set) + HOUR,
            BTreeMap::new(),
        )
    }

    /// A session created at `created` whose deadline lies at `expires`.
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

    fn changes() -> Changes {
        Changes::new(SessionPolicy::default())
    }

    fn writing() -> Changes {
        let mut changes = changes();
        changes.set("k", "1");
        changes
    }

    fn valid(id: SessionId) -> Incoming {
        Incoming::Valid {
            id,
            current_key: true,
            version: 0,
        }
    }

    fn state(stored: Option<Record>, changes: Changes) -> State {
        State {
            stored,
            changes,
            purged: None,
            renewed_to: None,
        }
    }

    fn request(incoming: Incoming, state: Option<State>) -> Request {
        Request {
            incoming,
            state,
            renewed_away: false,
            server_error: false,
            now: at(60),
        }
    }

    fn decide(request: Request) -> Plan {
        plan(request, &Lifetime::default()).expect("a plan")
    }

    fn cookie(cookie: CookieUpdate) -> Plan {
        Plan::cookie_only(cookie)
    }

    #[test]
    fn a_request_that_never_loaded_leaves_the_cookie_alone() {
        let id = SessionId::generate();
        for incoming in [Incoming::Absent, Incoming::Rejected, valid(id)] {
            assert_eq!(
                decide(request(incoming, None)),
                cookie(CookieUpdate::Keep),
                "{incoming:?}"
            );
        }
    }

    #[test]
    fn a_read_writes_nothing_and_sends_no_cookie_even_for_a_session_that_is_gone() {
        let record = stored(0);
        let id = record.id();
        let cases = [
            (Incoming::Absent, None),
            (Incoming::Rejected, None),
            (valid(id), None),
            (valid(id), Some(record)),
        ];
        for (incoming, stored) in cases {
            let plan = decide(request(incoming, Some(state(stored, changes()))));
            assert_eq!(plan, cookie(CookieUpdate::Keep), "{incoming:?}");
        }
    }

    #[test]
    fn a_read_past_the_refresh_threshold_updates_with_no_writes() {
        let record = stored(0);
        let id = record.id();
        let late = Request {
            now: at(20 * 60),
            ..request(valid(id), Some(state(Some(record.clone()), changes())))
        };
        assert_eq!(
            decide(late).write,
            Some(Write::Update(record, changes())),
            "a quarter of the hour has passed"
        );
    }

    #[test]
    fn writes_update_a_loaded_session_and_create_a_new_one() {
        let record = stored(0);
        let id = record.id();
        let update = decide(request(
            valid(id),
            Some(state(Some(record.clone()), writing())),
        ));
        assert_eq!(
            update.write,
            Some(Write::Update(record, writing())),
            "the update carries the copy it was made against"
        );
        let create = decide(request(Incoming::Absent, Some(state(None, writing()))));
        assert_eq!(create.write, Some(Write::Create(writing())));
        let mut removal = changes();
        removal.remove("k");
        let nothing = decide(request(Incoming::Absent, Some(state(None, removal))));
        assert_eq!(nothing, cookie(CookieUpdate::Keep), "no value, no session");
    }

    #[test]
    fn a_cookie_renewed_away_a_moment_ago_never_starts_a_new_session() {
        let id = SessionId::generate();
        let renewed_away = |state: State, server_error| Request {
            renewed_away: true,
            server_error,
            ..request(valid(id), Some(state))
        };
        let lifetime = Lifetime::default();
        assert!(
            matches!(
                plan(renewed_away(state(None, writing()), false), &lifetime),
                Err(SessionError::Ended)
            ),
            "a write fails rather than set an anonymous cookie over the login's"
        );
        for (state, server_error) in [
            (state(None, changes()), false),
            (state(None, writing()), true),
        ] {
            assert_eq!(
                plan(renewed_away(state, server_error), &lifetime).expect("a plan"),
                cookie(CookieUpdate::Keep),
                "a read, or a write the server error discards, loses nothing"
            );
        }
    }

    #[test]
    fn a_rule_alone_is_a_change() {
        let record = stored(0);
        let id = record.id();
        let mut rule = changes();
        rule.set_expiry(Some(Expiry::OnInactivity(HOUR * 24)));
        let plan = decide(request(
            valid(id),
            Some(state(Some(record.clone()), rule.clone())),
        ));
        assert_eq!(plan.write, Some(Write::Update(record, rule)));
    }

    #[test]
    fn a_server_error_saves_nothing_but_a_purge() {
        let record = stored(0);
        let id = record.id();
        let mut renewed = state(Some(record.clone()), writing());
        renewed.renewed_to = Some(SessionId::generate_successor(&id));
        let old_key = Incoming::Valid {
            id,
            current_key: false,
            version: 0,
        };
        let cases = [
            (valid(id), state(Some(record.clone()), writing())),
            (valid(id), renewed),
            (valid(id), state(None, writing())),
            (Incoming::Absent, state(None, writing())),
            (old_key, state(Some(record), changes())),
        ];
        for (incoming, state) in cases {
            let failed = Request {
                server_error: true,
                ..request(incoming, Some(state))
            };
            assert_eq!(decide(failed), cookie(CookieUpdate::Keep), "{incoming:?}");
        }
        let mut purged_then_written = state(None, writing());
        purged_then_written.purged = Some(id);
        let failed = Request {
            server_error: true,
            ..request(valid(id), Some(purged_then_written))
        };
        assert_eq!(
            decide(failed),
            Plan {
                delete: Some(id),
                write: None,
                cookie: CookieUpdate::Remove,
            },
            "the purge is carried out; the writes after it are not"
        );
    }

    #[test]
    fn a_purge_deletes_and_later_writes_create_a_new_session() {
        let id = SessionId::generate();
        let mut purged = state(None, changes());
        purged.purged = Some(id);
        assert_eq!(
            decide(request(valid(id), Some(purged))),
            Plan {
                delete: Some(id),
                write: None,
                cookie: CookieUpdate::Remove,
            }
        );
        let mut purged_then_written = state(None, writing());
        purged_then_written.purged = Some(id);
        let plan = decide(request(valid(id), Some(purged_then_written)));
        assert_eq!(plan.delete, Some(id));
        assert_eq!(plan.write, Some(Write::Create(writing())));
    }

    #[test]
    fn a_renewal_moves_the_loaded_session_with_the_changes() {
        let record = stored(0);
        let from = record.id();
        let to = SessionId::generate_successor(&from);
        let mut renewed = state(Some(record), writing());
        renewed.renewed_to = Some(to);
        let plan = decide(request(valid(from), Some(renewed)));
        assert_eq!(
            plan.write,
            Some(Write::Renew {
                from,
                to,
                changes: writing(),
            })
        );
        assert_eq!(plan.delete, None);
    }

    #[test]
    fn a_cookie_from_a_previous_key_is_sealed_again_on_a_read() {
        let record = stored(0);
        let id = record.id();
        let old_key = Incoming::Valid {
            id,
            current_key: false,
            version: 0,
        };
        let plan = decide(request(
            old_key,
            Some(state(Some(record.clone()), changes())),
        ));
        assert_eq!(
            plan,
            cookie(CookieUpdate::Set(issue(&record, &Lifetime::default())))
        );
    }

    #[test]
    fn the_stores_answer_decides_the_cookie_after_a_write() {
        let lifetime = Lifetime::default();
        let record = stored(0);
        assert_eq!(
            cookie_after(Saved::Stored(record.clone()), true, &lifetime).expect("stored"),
            CookieUpdate::Set(Issue {
                id: record.id(),
                version: record.version(),
                rule: Expiry::default(),
                deadline: record.expires_at(),
            })
        );
        assert_eq!(
            cookie_after(Saved::Gone, false, &lifetime).expect("gone"),
            CookieUpdate::Keep,
            "a refresh or a removal loses nothing, and leaves the cookie alone"
        );
        assert!(
            matches!(
                cookie_after(Saved::Gone, true, &lifetime),
                Err(SessionError::Ended)
            ),
            "a value written to a session that ended is lost: the request fails"
        );
        let refusal = crate::changes::TooLarge::new(2, 1);
        assert!(matches!(
            cookie_after(Saved::TooLarge(refusal), true, &lifetime),
            Err(SessionError::TooLargeToSave(_))
        ));
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
