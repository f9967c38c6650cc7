//! The changes a request makes to a session, and the one rule that merges them into the stored
//! copy.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::expiry::Expiry;
use crate::id::SessionId;
use crate::owner::SessionOwner;
use crate::record::{Bound, Entry, Record, Redacted, position};

/// The writes one request made to a session, to be applied to the latest stored copy.
///
/// A save never writes a whole session read earlier back over the store. It applies only the keys
/// this request set or removed, so two concurrent requests that write different keys both keep
/// their writes. Likewise the session's own expiry rule travels only when the request set one,
/// and the deadline and the size cap are settled against the merged result, by the store, from
/// the [`SessionPolicy`] the changes carry.
///
/// The merge has one definition, [`Changes::apply_to`], and every store uses it: a store reads
/// the latest copy, merges in Rust, and writes the result only where the stored copy is still
/// the one it read (a version check), trying again where it is not.
#[derive(Clone, PartialEq, Eq)]
pub struct Changes {
    clear: bool,
    writes: BTreeMap<String, Option<String>>,
    expiry: Option<Option<Expiry>>,
    owner: Option<Option<Arc<SessionOwner>>>,
    created_at: Option<SystemTime>,
    policy: SessionPolicy,
}

impl Changes {
    /// No changes yet, to be merged under `policy`. Applied as they are, they only move the
    /// session's deadline, as a read that counts as activity does.
    pub fn new(policy: SessionPolicy) -> Self {
        Self {
            clear: false,
            writes: BTreeMap::new(),
            expiry: None,
            owner: None,
            created_at: None,
            policy,
        }
    }

    /// Changes that recreate `record` whole under another id, keeping its creation time: what
    /// [`SessionStore::renew`](crate::SessionStore::renew) creates by default.
    pub(crate) fn moving(record: &Record, merged_under: &Changes) -> Self {
        let writes = record
            .entries()
            .map(|(key, json)| (key.to_owned(), Some(json.to_owned())))
            .collect();
        Self {
            clear: true,
            writes,
            expiry: Some(record.expiry),
            owner: Some(record.shared_owner()),
            created_at: Some(record.created_at),
            policy: merged_under.policy,
        }
    }

    /// Gives the session its own expiry rule (`None`: back to the policy's default) with this
    /// save. Changes that never call it leave the stored rule as it is.
    ///
    /// The rule is kept in whole milliseconds, with an idle window cut to [`Expiry::LONGEST`]:
    /// the form every store keeps, so that a load hands back exactly the rule a save was given.
    pub fn set_expiry(&mut self, expiry: Option<Expiry>) -> &mut Self {
        self.expiry = Some(expiry.map(Expiry::in_whole_millis));
        self
    }

    /// Binds the session to `owner` with this save, replacing any earlier binding; see
    /// [`Session::bind`](crate::Session::bind).
    pub fn bind(&mut self, owner: SessionOwner) -> &mut Self {
        self.owner = Some(Some(Arc::new(owner)));
        self
    }

    /// Unbinds the session from its user with this save.
    pub fn unbind(&mut self) -> &mut Self {
        self.owner = Some(None);
        self
    }

    /// What these changes do to the session's binding: `Some(Some(owner))` binds it,
    /// `Some(None)` unbinds it, `None` leaves the stored binding as it is.
    pub fn owner(&self) -> Option<Option<&SessionOwner>> {
        self.owner.as_ref().map(Option::as_deref)
    }

    /// The rules of the merge: default expiry, absolute lifetime, size cap.
    pub(crate) fn policy(&self) -> &SessionPolicy {
        &self.policy
    }

    /// Stores `value`, serialized to JSON, under `key`, as [`Session::insert`] does: a test that
    /// writes a session straight into a store thereby holds only values an app could have
    /// written, never text that no typed key can read back.
    ///
    /// # Errors
    ///
    /// Where `value` fails to serialize, as a map whose keys are not strings does.
    ///
    /// [`Session::insert`]: crate::Session::insert
    pub fn insert<T: Serialize>(
        &mut self,
        key: impl Into<String>,
        value: T,
    ) -> Result<&mut Self, serde_json::Error> {
        let json = serde_json::to_string(&value)?;
        Ok(self.set(key, json))
    }

    /// Stores `json` under `key`. Crate-only, since only the middleware and the stores hold text
    /// they know to be JSON: everyone else goes through [`Changes::insert`].
    pub(crate) fn set(&mut self, key: impl Into<String>, json: impl Into<String>) -> &mut Self {
        self.writes.insert(key.into(), Some(json.into()));
        self
    }

    /// Deletes `key`.
    pub fn remove(&mut self, key: impl Into<String>) -> &mut Self {
        self.writes.insert(key.into(), None);
        self
    }

    /// Drops every stored entry and the binding to a user before the writes are applied, and
    /// forgets earlier writes.
    pub fn clear(&mut self) -> &mut Self {
        self.clear = true;
        self.writes.clear();
        self.owner = Some(None);
        self
    }

    /// Whether the stored entries are dropped before the writes are applied. Stores that merge
    /// natively delete every stored entry first when it is set.
    pub fn clears_existing(&self) -> bool {
        self.clear
    }

    /// The writes, in key order: `Some(json)` sets a key, `None` deletes it.
    pub fn writes(&self) -> impl ExactSizeIterator<Item = (&str, Option<&str>)> {
        self.writes.iter().map(|(k, v)| (k.as_str(), v.as_deref()))
    }

    /// Whether the changes write at least one value or bind the session to a user, so that a
    /// new session is worth creating.
    pub fn writes_a_value(&self) -> bool {
        self.writes.values().any(Option::is_some) || matches!(self.owner, Some(Some(_)))
    }

    /// The JSON text these changes leave under `key`: `Some(Some(json))` for a write,
    /// `Some(None)` for a deletion, `None` where they leave the stored value as it was.
    pub(crate) fn lookup(&self, key: &str) -> Option<Option<&str>> {
        match self.writes.get(key) {
            Some(write) => Some(write.as_deref()),
            None if self.clear => Some(None),
            None => None,
        }
    }

    /// The session's own rule once these changes apply to `base`: the one they set, or else the
    /// stored one.
    pub(crate) fn rule_over(&self, base: Option<&Record>) -> Option<Expiry> {
        self.expiry
            .unwrap_or_else(|| base.and_then(|record| record.expiry))
    }

    /// Whether applying these changes alters anything but the deadline.
    pub(crate) fn is_dirty(&self) -> bool {
        self.clear || !self.writes.is_empty() || self.expiry.is_some() || self.owner.is_some()
    }

    /// Merges these changes into `base`, the latest stored copy, and returns the record to store
    /// under `id`. `base` is absent for a new session; for a renewal it is the old id's record,
    /// whose creation time the new one keeps.
    ///
    /// - Entries: the stored ones, minus those cleared or removed, plus those written.
    /// - Expiry rule: the one these changes set, or else the stored one.
    /// - Deadline: computed by the [`SessionPolicy`] from that rule, the creation time and `now`.
    /// - Binding: the one these changes set, or else the stored one; a bound record is stamped
    ///   as saved at `now`.
    /// - Version: one above `base`'s, or 1.
    ///
    /// An expired `base` counts as absent: its entries never come back. Times in the result are
    /// whole milliseconds, the precision stores keep, so the record a save returns equals the one
    /// a later load returns. Where the result would outgrow the policy's size cap, nothing is
    /// returned but the error.
    pub fn apply_to(
        &self,
        id: SessionId,
        base: Option<&Record>,
        now: SystemTime,
    ) -> Result<Record, TooLarge> {
        let base = base.filter(|record| !record.is_expired_at(now));
        let entries = self.merged_entries(base);
        let size = entries
            .iter()
            .map(|(k, v)| k.len() + v.len())
            .sum::<usize>();
        let limit = self.policy.max_size();
        if size > limit {
            return Err(TooLarge { size, limit });
        }
        let created_at = match base {
            Some(record) => record.created_at,
            None => whole_millis(self.created_at.unwrap_or(now)),
        };
        let expiry = self.rule_over(base);
        let owner = match &self.owner {
            Some(owner) => owner.clone(),
            None => base.and_then(Record::shared_owner),
        };
        Ok(Record {
            id,
            version: base.map_or(1, |record| record.version + 1),
            created_at,
            expires_at: whole_millis(self.policy.deadline(expiry, created_at, now)),
            expiry,
            entries: entries.into(),
            bound: owner.map(|owner| Bound {
                owner,
                saved_at: whole_millis(now),
            }),
        })
    }

    /// The record a renewal writes under `new`: these changes merged into `base`, the live
    /// record of the id being renewed, if any. `Err` holds what the renewal answers without
    /// writing: [`Saved::Gone`] where there is nothing to move and nothing written (a renewal
    /// never creates an empty session), [`Saved::TooLarge`] where the merge outgrows the cap.
    #[cfg(any(feature = "moka", feature = "sled", feature = "redis"))]
    pub(crate) fn apply_to_renewal(
        &self,
        new: SessionId,
        base: Option<&Record>,
        now: SystemTime,
    ) -> Result<Record, Saved> {
        if base.is_none() && !self.writes_a_value() {
            return Err(Saved::Gone);
        }
        self.apply_to(new, base, now).map_err(Saved::TooLarge)
    }

    fn merged_entries(&self, base: Option<&Record>) -> Vec<Entry> {
        let mut entries = match base {
            Some(record) if !self.clear => record.entries.to_vec(),
            _ => Vec::with_capacity(self.writes.len()),
        };
        for (key, write) in &self.writes {
            match (position(&entries, key), write) {
                (Ok(at), Some(json)) => entries[at].1 = json.as_str().into(),
                (Ok(at), None) => drop(entries.remove(at)),
                (Err(at), Some(json)) => {
                    entries.insert(at, (key.as_str().into(), json.as_str().into()))
                }
                (Err(_), None) => {}
            }
        }
        entries
    }
}

/// Shows the keys written and removed but no value, as [`Record`]'s `Debug` does.
impl std::fmt::Debug for Changes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Changes")
            .field("clear", &self.clear)
            .field("writes", &Redacted(self.writes().collect()))
            .field("expiry", &self.expiry)
            .field("owner", &self.owner)
            .field("created_at", &self.created_at)
            .field("policy", &self.policy)
            .finish()
    }
}

/// The refusal to store a session larger than its [`SessionPolicy::max_size`]. `Debug` shows
/// its message.
#[derive(Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the session would grow to {size} bytes, past its limit of {limit}")]
pub struct TooLarge {
    size: usize,
    limit: usize,
}

impl std::fmt::Debug for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        crate::error::report(self, f)
    }
}

impl TooLarge {
    /// The refusal of a session of `size` bytes under a cap of `limit`.
    pub fn new(size: usize, limit: usize) -> Self {
        Self { size, limit }
    }

    /// The session's size with the changes, in bytes of keys and JSON values.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The cap.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

/// What a store did with a [`Changes`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Saved {
    /// The changes were applied; this is the record as stored.
    Stored(Record),
    /// There was no live session to apply them to (it was deleted, renewed away or expired), so
    /// nothing was written, and nothing was created.
    Gone,
    /// The merged session would outgrow its size cap, so nothing was written.
    TooLarge(TooLarge),
}

impl From<TooLarge> for Saved {
    fn from(refusal: TooLarge) -> Self {
        Self::TooLarge(refusal)
    }
}

impl From<Result<Record, TooLarge>> for Saved {
    fn from(merged: Result<Record, TooLarge>) -> Self {
        match merged {
            Ok(record) => Self::Stored(record),
            Err(refusal) => Self::TooLarge(refusal),
        }
    }
}

/// The rules of a merge, carried by every [`Changes`]: the middleware's default expiry, absolute
/// lifetime and size cap. [`Changes::apply_to`] applies them at the moment it merges, against
/// the latest stored copy, so a store never needs to look inside.
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

    /// The same policy with every session capped at `lifetime` from its creation. A lifetime so
    /// long that creation plus it cannot be represented caps nothing.
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
        let rule = match self.rule(own) {
            Expiry::AtDateTime(at) => at,
            rule => later(now, rule.idle().unwrap_or(Expiry::LONGEST)),
        };
        let cap = self
            .absolute_lifetime
            .and_then(|lifetime| created_at.checked_add(lifetime));
        rule.min(furthest).min(cap.unwrap_or(furthest))
    }
}

/// `time + by`; `time` itself on a clock so close to the end of representable time that the sum
/// overflows.
fn later(time: SystemTime, by: Duration) -> SystemTime {
    time.checked_add(by).unwrap_or(time)
}

/// `time` rounded down to a whole millisecond since the Unix epoch.
pub(crate) fn whole_millis(time: SystemTime) -> SystemTime {
    match time.duration_since(UNIX_EPOCH) {
        Ok(since) => {
            UNIX_EPOCH + Duration::from_millis(since.as_millis().try_into().unwrap_or(u64::MAX))
        }
        Err(_) => UNIX_EPOCH,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn record(id: SessionId, entries: &[(&str, &str)]) -> Record {
        let entries = entries.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Record::new(id, 3, at(10), at(100), entries)
    }

    /// Changes under a one-minute idle window.
    fn changes() -> Changes {
        Changes::new(SessionPolicy::new(Expiry::OnInactivity(MINUTE)))
    }

    #[test]
    fn applying_to_nothing_creates_version_one() {
        let id = SessionId::generate();
        let mut changes = changes();
        changes.set("a", "1");
        let created = changes.apply_to(id, None, at(5)).expect("fits");
        assert_eq!(created.version(), 1);
        assert_eq!(created.created_at(), at(5));
        assert_eq!(created.expires_at(), at(65));
        assert_eq!(created.get("a"), Some("1"));
    }

    #[test]
    fn only_written_keys_change_and_the_version_rises() {
        let id = SessionId::generate();
        let base = record(id, &[("a", "1"), ("b", "2"), ("c", "3")]);
        let mut changes = changes();
        changes.set("a", "10").remove("b");
        let merged = changes.apply_to(id, Some(&base), at(50)).expect("fits");
        assert_eq!(
            merged.entries().collect::<Vec<_>>(),
            [("a", "10"), ("c", "3")]
        );
        assert_eq!(merged.version(), 4);
        assert_eq!(merged.created_at(), at(10));
        assert_eq!(merged.expires_at(), at(110));
    }

    #[test]
    fn clear_drops_stored_entries_but_keeps_later_writes() {
        let id = SessionId::generate();
        let base = record(id, &[("a", "1")]);
        let mut changes = changes();
        changes.set("x", "0").clear().set("b", "2");
        let merged = changes.apply_to(id, Some(&base), at(50)).expect("fits");
        assert_eq!(merged.entries().collect::<Vec<_>>(), [("b", "2")]);
        assert_eq!(changes.lookup("a"), Some(None));
        assert_eq!(changes.lookup("b"), Some(Some("2")));
    }

    #[test]
    fn an_expired_base_is_never_merged() {
        let id = SessionId::generate();
        let base = record(id, &[("secret", "1")]);
        let mut changes = changes();
        changes.set("b", "2");
        let merged = changes.apply_to(id, Some(&base), at(200)).expect("fits");
        assert_eq!(merged.get("secret"), None);
        assert_eq!(merged.version(), 1);
        assert_eq!(merged.created_at(), at(200));
    }

    #[test]
    fn the_stored_rule_survives_changes_that_set_none_and_sets_the_deadline() {
        let id = SessionId::generate();
        let month = Expiry::OnInactivity(MINUTE * 60 * 24 * 30);
        let base = record(id, &[]).with_expiry(Some(month));
        let mut write = changes();
        write.set("a", "1");
        let merged = write.apply_to(id, Some(&base), at(50)).expect("fits");
        assert_eq!(merged.expiry(), Some(month));
        assert_eq!(merged.expires_at(), at(50) + MINUTE * 60 * 24 * 30);

        let mut back_to_default = changes();
        back_to_default.set_expiry(None);
        let merged = back_to_default
            .apply_to(id, Some(&base), at(50))
            .expect("fits");
        assert_eq!(merged.expiry(), None);
        assert_eq!(merged.expires_at(), at(110));
    }

    #[test]
    fn the_size_cap_counts_the_merged_session() {
        let id = SessionId::generate();
        let base = record(id, &[("a", "12345")]);
        let policy = SessionPolicy::default().with_max_size(10);
        let mut fits = Changes::new(policy);
        fits.set("b", "123");
        assert!(
            fits.apply_to(id, Some(&base), at(50)).is_ok(),
            "6 + 4 bytes"
        );
        let mut overflows = Changes::new(policy);
        overflows.set("b", "1234");
        assert_eq!(
            overflows.apply_to(id, Some(&base), at(50)),
            Err(TooLarge::new(11, 10))
        );
        let mut replaces = Changes::new(policy);
        replaces.set("a", "123456789");
        assert!(
            replaces.apply_to(id, Some(&base), at(50)).is_ok(),
            "a replaced value counts once"
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
    }

    #[test]
    fn an_absolute_lifetime_past_the_end_of_time_caps_nothing() {
        let policy = SessionPolicy::new(Expiry::OnInactivity(MINUTE))
            .with_absolute_lifetime(Some(Duration::MAX));
        let late = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::from(u32::MAX) * 1_000);
        assert_eq!(policy.deadline(None, late, late), late + MINUTE);
    }

    #[test]
    fn a_rule_set_with_changes_is_kept_in_whole_milliseconds() {
        let mut changes = changes();
        changes.set_expiry(Some(Expiry::OnInactivity(Duration::from_nanos(1_999_999))));
        changes.set("a", "1");
        let created = changes
            .apply_to(SessionId::generate(), None, at(5))
            .expect("fits");
        assert_eq!(
            created.expiry(),
            Some(Expiry::OnInactivity(Duration::from_millis(1)))
        );
        assert_eq!(created.expires_at(), at(5) + Duration::from_millis(1));
    }

    #[test]
    fn insert_stores_the_json_of_a_value_and_refuses_what_json_cannot_hold() {
        let mut changes = changes();
        changes
            .insert("name", "alice")
            .expect("a string serializes")
            .insert("visits", 41)
            .expect("a number serializes");
        let written: Vec<_> = changes.writes().collect();
        assert_eq!(
            written,
            [("name", Some(r#""alice""#)), ("visits", Some("41"))]
        );

        let not_json = BTreeMap::from([((1, 2), "a map keyed by pairs")]);
        assert!(changes.insert("map", not_json).is_err());
        assert_eq!(changes.lookup("map"), None, "nothing is written");
    }

    #[test]
    fn debug_output_shows_keys_but_no_value() {
        let mut changes = changes();
        changes.set("token", "\"s3cret\"").remove("old");
        let shown = format!("{changes:?}");
        assert!(shown.contains("\"token\": <8 bytes>"), "{shown}");
        assert!(shown.contains("\"old\": <removed>"), "{shown}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}
