//! What a store keeps for a session, and the changes a request makes to it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::expiry::{Expiry, SessionPolicy};
use crate::id::SessionId;

/// One stored session: its entries, its deadline and its version.
///
/// Entry values are JSON text, exactly as [`serde_json`] wrote them; the session layer parses
/// them into the caller's type on read. Cloning a record is cheap: the entries sit behind an
/// [`Arc`], so a cache can hand out the same record to every request that reads it. They are kept
/// as one sorted slice, which costs a cached session far less memory than a map would.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    id: SessionId,
    version: u64,
    created_at: SystemTime,
    expires_at: SystemTime,
    expiry: Option<Expiry>,
    entries: Arc<[Entry]>,
}

/// A key and its JSON text.
type Entry = (Box<str>, Box<str>);

impl Record {
    /// Assembles a record, as a store does when it reads one back.
    ///
    /// `version` counts the saves applied to the session: 1 after the first. A store that keeps
    /// its own records should hand back the version it stored. `entries` are keys and their JSON
    /// text, in any order; where a key comes twice, the later entry wins.
    pub fn new(
        id: SessionId,
        version: u64,
        created_at: SystemTime,
        expires_at: SystemTime,
        entries: impl IntoIterator<Item = (String, String)>,
    ) -> Self {
        let mut entries: Vec<Entry> = entries
            .into_iter()
            .map(|(key, json)| (key.into_boxed_str(), json.into_boxed_str()))
            .collect();
        if !entries.is_sorted_by(|a, b| a.0 < b.0) {
            // A stable sort keeps a key's entries in order; keep the last of each.
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            entries.dedup_by(|later, kept| {
                let same = later.0 == kept.0;
                if same {
                    std::mem::swap(later, kept);
                }
                same
            });
        }
        Self {
            id,
            version,
            created_at,
            expires_at,
            expiry: None,
            entries: entries.into(),
        }
    }

    /// The same record with the session's own expiry rule; see [`Record::expiry`].
    pub fn with_expiry(mut self, expiry: Option<Expiry>) -> Self {
        self.expiry = expiry;
        self
    }

    /// The session's own expiry rule, set by [`Session::set_expiry`](crate::Session::set_expiry),
    /// or `None` where the session follows the middleware's default.
    pub fn expiry(&self) -> Option<Expiry> {
        self.expiry
    }

    /// The session's id.
    pub fn id(&self) -> SessionId {
        self.id
    }

    /// How many saves produced this record. Every save raises it by one, so of two copies of a
    /// session the one with the higher version is the newer.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// When the session was first saved.
    pub fn created_at(&self) -> SystemTime {
        self.created_at
    }

    /// The moment after which no store may return this record.
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }

    /// Whether the record is past its deadline at `now`.
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        self.expires_at <= now
    }

    /// The JSON text stored under `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.position(key).ok().map(|at| &*self.entries[at].1)
    }

    /// Every entry, as key and JSON text, in key order.
    pub fn entries(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (&**k, &**v))
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the session holds no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Where `key` is in the sorted entries, or where it would go.
    fn position(&self, key: &str) -> Result<usize, usize> {
        position(&self.entries, key)
    }
}

/// The writes one request made to a session, to be applied to the latest stored copy.
///
/// A save never writes a whole session read earlier back over the store. It applies only the keys
/// this request set or removed, so two concurrent requests that write different keys both keep
/// their writes. Likewise the session's own expiry rule travels only when the request set one,
/// and the deadline and the size cap are settled against the merged result, by the store, from
/// the [`SessionPolicy`] the changes carry. Stores must apply a `Changes` atomically;
/// [`Changes::apply_to`] does the whole merge for stores that keep whole records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes {
    clear: bool,
    writes: BTreeMap<String, Option<String>>,
    expiry: Option<Option<Expiry>>,
    created_at: Option<SystemTime>,
    policy: SessionPolicy,
    base: Option<Record>,
}

impl Changes {
    /// No changes yet, to be merged under `policy`. Applied as they are, they only move the
    /// session's deadline, as a read that counts as activity does.
    pub fn new(policy: SessionPolicy) -> Self {
        Self {
            clear: false,
            writes: BTreeMap::new(),
            expiry: None,
            created_at: None,
            policy,
            base: None,
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
            created_at: Some(record.created_at),
            policy: merged_under.policy,
            base: None,
        }
    }

    /// These changes, made by a request that loaded `record`: see [`Changes::base`].
    pub fn made_against(mut self, record: Record) -> Self {
        self.base = Some(record);
        self
    }

    /// The stored copy these changes were made against, where the caller knows it; the
    /// middleware passes the copy its request loaded.
    ///
    /// It is a hint, not the latest copy: another request may have saved the session since. A
    /// store may merge against it, in its own process instead of inside the engine, only where it
    /// checks in the same atomic step that the stored version is still this copy's, and merges
    /// against the latest copy where it is not. [`Changes::apply_to`] never reads it.
    pub fn base(&self) -> Option<&Record> {
        self.base.as_ref()
    }

    /// The creation time a new session keeps, for a session moved to a new id; `None` for a
    /// session created now. Stores that merge natively use it on create.
    pub fn created_at(&self) -> Option<SystemTime> {
        self.created_at
    }

    /// Gives the session its own expiry rule (`None`: back to the policy's default) with this
    /// save. Changes that never call it leave the stored rule as it is.
    pub fn set_expiry(&mut self, expiry: Option<Expiry>) -> &mut Self {
        self.expiry = Some(expiry);
        self
    }

    /// The rule these changes give the session: `None` where they leave the stored rule alone,
    /// `Some(None)` where they return it to the default.
    pub fn expiry(&self) -> Option<Option<Expiry>> {
        self.expiry
    }

    /// The rules of the merge: default expiry, absolute lifetime, size cap.
    pub fn policy(&self) -> &SessionPolicy {
        &self.policy
    }

    /// Stores `json` (JSON text) under `key`.
    pub fn set(&mut self, key: impl Into<String>, json: impl Into<String>) -> &mut Self {
        self.writes.insert(key.into(), Some(json.into()));
        self
    }

    /// Deletes `key`.
    pub fn remove(&mut self, key: impl Into<String>) -> &mut Self {
        self.writes.insert(key.into(), None);
        self
    }

    /// Drops every stored entry before the writes are applied, and forgets earlier writes.
    pub fn clear(&mut self) -> &mut Self {
        self.clear = true;
        self.writes.clear();
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

    /// Whether the changes write at least one value, so that a new session is worth creating.
    pub fn writes_a_value(&self) -> bool {
        self.writes.values().any(Option::is_some)
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
        self.clear || !self.writes.is_empty() || self.expiry.is_some()
    }

    /// Merges these changes into `base`, the latest stored copy, and returns the record to store
    /// under `id`. `base` is absent for a new session; for a renewal it is the old id's record,
    /// whose creation time the new one keeps.
    ///
    /// - Entries: the stored ones, minus those cleared or removed, plus those written.
    /// - Expiry rule: the one these changes set, or else the stored one.
    /// - Deadline: computed by the [`SessionPolicy`] from that rule, the creation time and `now`.
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
        Ok(Record {
            id,
            version: base.map_or(1, |record| record.version + 1),
            created_at,
            expires_at: whole_millis(self.policy.deadline(expiry, created_at, now)),
            expiry,
            entries: entries.into(),
        })
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

/// The refusal to store a session larger than its [`SessionPolicy::max_size`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the session would grow to {size} bytes, past its limit of {limit}")]
pub struct TooLarge {
    size: usize,
    limit: usize,
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

/// Where `key` is in sorted `entries`, or where it would go.
fn position(entries: &[Entry], key: &str) -> Result<usize, usize> {
    entries.binary_search_by(|(k, _)| (**k).cmp(key))
}

/// `time` rounded down to a whole millisecond since the Unix epoch.
fn whole_millis(time: SystemTime) -> SystemTime {
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
    fn entries_come_out_sorted_and_the_last_of_a_key_wins() {
        let entries = [("b", "1"), ("a", "2"), ("b", "3"), ("c", "4"), ("a", "5")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let record = Record::new(SessionId::generate(), 1, at(0), at(1), entries);
        assert_eq!(
            record.entries().collect::<Vec<_>>(),
            [("a", "5"), ("b", "3"), ("c", "4")]
        );
        assert_eq!(record.get("b"), Some("3"));
        assert_eq!(record.get("d"), None);
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
}
