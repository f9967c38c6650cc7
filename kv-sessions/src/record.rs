//! What a store keeps for a session, and the changes a request makes to it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::expiry::Expiry;
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
/// their writes. Stores must apply a `Changes` atomically; [`Changes::apply_to`] does the merge
/// for stores that hold whole records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes {
    clear: bool,
    writes: BTreeMap<String, Option<String>>,
    expires_at: SystemTime,
    expiry: Option<Expiry>,
}

impl Changes {
    /// An empty set of changes that moves the session's deadline to `expires_at`.
    pub fn new(expires_at: SystemTime) -> Self {
        Self {
            clear: false,
            writes: BTreeMap::new(),
            expires_at,
            expiry: None,
        }
    }

    /// Gives the session its own expiry rule (`None`: the middleware's default) with this save.
    /// Like the deadline, the rule is not merged: the last save wins.
    pub fn set_expiry(&mut self, expiry: Option<Expiry>) -> &mut Self {
        self.expiry = expiry;
        self
    }

    /// The expiry rule the session has after this save; see [`Record::expiry`].
    pub fn expiry(&self) -> Option<Expiry> {
        self.expiry
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

    /// Whether the stored entries are dropped before the writes are applied.
    pub fn clears_existing(&self) -> bool {
        self.clear
    }

    /// The writes, in key order: `Some(json)` sets a key, `None` deletes it.
    pub fn writes(&self) -> impl ExactSizeIterator<Item = (&str, Option<&str>)> {
        self.writes.iter().map(|(k, v)| (k.as_str(), v.as_deref()))
    }

    /// The deadline the session gets with this save.
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }

    /// Changes that replace every entry of a session with those of `record`.
    pub(crate) fn replacing(record: &Record, expires_at: SystemTime) -> Self {
        let writes = record
            .entries
            .iter()
            .map(|(key, json)| (String::from(&**key), Some(String::from(&**json))))
            .collect();
        Self {
            clear: true,
            writes,
            expires_at,
            expiry: record.expiry,
        }
    }

    /// The same changes with the deadline `expires_at`.
    pub(crate) fn with_deadline(mut self, expires_at: SystemTime) -> Self {
        self.expires_at = expires_at;
        self
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

    /// Whether applying these changes can alter stored entries.
    pub(crate) fn touches_entries(&self) -> bool {
        self.clear || !self.writes.is_empty()
    }

    /// Merges these changes into `base`, the latest stored copy of session `id`, and returns the
    /// record to store in its place. An expired `base` counts as absent: its entries never come
    /// back. Times in the result are whole milliseconds, the precision stores keep, so the record
    /// a save returns equals the one a later load returns.
    pub fn apply_to(&self, id: SessionId, base: Option<&Record>, now: SystemTime) -> Record {
        let base = base.filter(|record| !record.is_expired_at(now));
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
        Record {
            id,
            version: base.map_or(1, |record| record.version + 1),
            created_at: base.map_or(whole_millis(now), |record| record.created_at),
            expires_at: whole_millis(self.expires_at),
            expiry: self.expiry,
            entries: entries.into(),
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

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn record(id: SessionId, entries: &[(&str, &str)]) -> Record {
        let entries = entries.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Record::new(id, 3, at(10), at(100), entries)
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
        let mut changes = Changes::new(at(60));
        changes.set("a", "1");
        let created = changes.apply_to(id, None, at(5));
        assert_eq!(created.version(), 1);
        assert_eq!(created.created_at(), at(5));
        assert_eq!(created.expires_at(), at(60));
        assert_eq!(created.get("a"), Some("1"));
    }

    #[test]
    fn only_written_keys_change_and_the_version_rises() {
        let id = SessionId::generate();
        let base = record(id, &[("a", "1"), ("b", "2"), ("c", "3")]);
        let mut changes = Changes::new(at(90));
        changes.set("a", "10").remove("b");
        let merged = changes.apply_to(id, Some(&base), at(50));
        assert_eq!(
            merged.entries().collect::<Vec<_>>(),
            [("a", "10"), ("c", "3")]
        );
        assert_eq!(merged.version(), 4);
        assert_eq!(merged.created_at(), at(10));
        assert_eq!(merged.expires_at(), at(90));
    }

    #[test]
    fn clear_drops_stored_entries_but_keeps_later_writes() {
        let id = SessionId::generate();
        let base = record(id, &[("a", "1")]);
        let mut changes = Changes::new(at(90));
        changes.set("x", "0").clear().set("b", "2");
        let merged = changes.apply_to(id, Some(&base), at(50));
        assert_eq!(merged.entries().collect::<Vec<_>>(), [("b", "2")]);
        assert_eq!(changes.lookup("a"), Some(None));
        assert_eq!(changes.lookup("b"), Some(Some("2")));
    }

    #[test]
    fn an_expired_base_is_never_merged() {
        let id = SessionId::generate();
        let base = record(id, &[("secret", "1")]);
        let mut changes = Changes::new(at(500));
        changes.set("b", "2");
        let merged = changes.apply_to(id, Some(&base), at(200));
        assert_eq!(merged.get("secret"), None);
        assert_eq!(merged.version(), 1);
        assert_eq!(merged.created_at(), at(200));
    }
}
