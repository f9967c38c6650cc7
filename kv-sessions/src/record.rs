//! What a store keeps for a session.

use std::sync::Arc;
use std::time::SystemTime;

use crate::expiry::Expiry;
use crate::id::SessionId;
use crate::owner::SessionOwner;

/// One stored session: its entries, its deadline and its version.
///
/// Entry values are JSON text, exactly as [`serde_json`] wrote them; the session layer parses
/// them into the caller's type on read. Cloning a record is cheap: the entries sit behind an
/// [`Arc`], so a cache can hand out the same record to every request that reads it. They are kept
/// as one sorted slice, which costs a cached session far less memory than a map would.
#[derive(Clone, PartialEq, Eq)]
pub struct Record {
    pub(crate) id: SessionId,
    pub(crate) version: u64,
    pub(crate) created_at: SystemTime,
    pub(crate) expires_at: SystemTime,
    pub(crate) expiry: Option<Expiry>,
    pub(crate) entries: Arc<[Entry]>,
    pub(crate) bound: Option<Bound>,
}

/// The user a session is bound to, and when it was last saved: kept only for bound sessions, so
/// an unbound one costs no byte more than before binding existed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bound {
    pub(crate) owner: Arc<SessionOwner>,
    pub(crate) saved_at: SystemTime,
}

/// A key and its JSON text.
pub(crate) type Entry = (Box<str>, Box<str>);

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
            bound: None,
        }
    }

    /// The same record bound to `owner`, last saved at `saved_at`, as a store that keeps
    /// [`Record::owner`] hands it back. The time is kept in whole milliseconds.
    pub fn with_owner(mut self, owner: SessionOwner, saved_at: SystemTime) -> Self {
        self.bound = Some(Bound {
            owner: Arc::new(owner),
            saved_at: crate::changes::whole_millis(saved_at),
        });
        self
    }

    /// The user the session is bound to, with the app's label for it, or `None` where it is
    /// bound to no one; see [`Session::bind`](crate::Session::bind).
    pub fn owner(&self) -> Option<&SessionOwner> {
        self.bound.as_ref().map(|bound| &*bound.owner)
    }

    /// The owner, shared rather than copied, for a merge or a store that compares it after the
    /// record has moved on.
    pub(crate) fn shared_owner(&self) -> Option<Arc<SessionOwner>> {
        self.bound.as_ref().map(|bound| Arc::clone(&bound.owner))
    }

    /// When the session was last saved, for a session bound to a user; `None` for any other,
    /// whose stores keep no such time.
    pub fn saved_at(&self) -> Option<SystemTime> {
        self.bound.as_ref().map(|bound| bound.saved_at)
    }

    /// The same record with the session's own expiry rule; see [`Record::expiry`]. The rule is
    /// kept in whole milliseconds, as [`Changes::set_expiry`](crate::Changes::set_expiry) keeps
    /// it.
    pub fn with_expiry(mut self, expiry: Option<Expiry>) -> Self {
        self.expiry = expiry.map(Expiry::in_whole_millis);
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

/// Shows every key but no value: a value may be a secret, and records reach logs and panic
/// messages through `Debug`.
impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("id", &self.id)
            .field("version", &self.version)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("expiry", &self.expiry)
            .field("owner", &self.owner())
            .field("saved_at", &self.saved_at())
            .field(
                "entries",
                &Redacted(
                    self.entries()
                        .map(|(key, json)| (key, Some(json)))
                        .collect(),
                ),
            )
            .finish()
    }
}

/// Entries shown as their keys and the size of their values (`None`: removed).
pub(crate) struct Redacted<'a>(pub(crate) Vec<(&'a str, Option<&'a str>)>);

impl std::fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut map = f.debug_map();
        for &(key, value) in &self.0 {
            match value {
                Some(json) => map.entry(&key, &format_args!("<{} bytes>", json.len())),
                None => map.entry(&key, &format_args!("<removed>")),
            };
        }
        map.finish()
    }
}

/// Where `key` is in sorted `entries`, or where it would go.
pub(crate) fn position(entries: &[Entry], key: &str) -> Result<usize, usize> {
    entries.binary_search_by(|(k, _)| (**k).cmp(key))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
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
    fn debug_output_shows_keys_but_no_value() {
        let entries = [("token".to_owned(), "\"s3cret\"".to_owned())];
        let record = Record::new(SessionId::generate(), 1, at(0), at(1), entries);
        let shown = format!("{record:?}");
        assert!(shown.contains("\"token\": <8 bytes>"), "{shown}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}
