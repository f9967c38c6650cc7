//! The two sled trees behind a [`SledStore`](super::SledStore) and the synchronous operations
//! on them.
//!
//! `sessions` maps a session id's 16 bytes to its encoded record. `expiry` is the index the
//! sweeper walks: one empty-valued key per record, the record's deadline (milliseconds, big
//! endian, so keys sort by time) followed by the id.
//!
//! The index is kept without transactions, in an order that never leaves a live record
//! unindexed: a save indexes its new deadline *before* it writes the record, and unindexes the
//! old deadline after. A crash between the steps leaves an extra index entry, never a missing
//! one. The sweeper drops an entry that no longer matches its record; an entry whose record does
//! not exist it keeps for a minute, since a save may be about to write that record.

use std::ops::Bound;
use std::time::SystemTime;

use super::super::codec;
use crate::error::StoreError;
use crate::id::SessionId;
use crate::record::{Changes, Record};

/// The tree that holds one record per session.
const SESSIONS_TREE: &str = "sessions";
/// The tree that indexes records by deadline.
const EXPIRY_TREE: &str = "expiry";
/// How many index entries a sweep reads at a time.
const SWEEP_BATCH: usize = 1024;

/// An index key: a deadline and a session id.
type IndexKey = [u8; 24];

/// How long a due index entry whose record is missing is kept, in milliseconds: long enough for
/// any save that indexed its deadline to write its record.
const ORPHAN_GRACE_MS: u64 = 60_000;

/// What a sweep did with one due index entry.
enum Swept {
    /// The record was expired or unreadable, and is gone with its index entry.
    Removed,
    /// The entry no longer describes a record, and is dropped.
    Stale,
    /// The entry may yet describe a record being saved, and stays.
    NotYet,
}

/// The trees of one store. Clones share them.
#[derive(Clone)]
pub(super) struct Records {
    sessions: sled::Tree,
    expiry: sled::Tree,
}

impl Records {
    pub(super) fn open(db: &sled::Db) -> Result<Self, StoreError> {
        Ok(Self {
            sessions: db.open_tree(SESSIONS_TREE).map_err(StoreError::backend)?,
            expiry: db.open_tree(EXPIRY_TREE).map_err(StoreError::backend)?,
        })
    }

    pub(super) fn len(&self) -> usize {
        self.sessions.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    pub(super) fn insert_raw(&self, id: SessionId, bytes: &[u8]) -> Result<(), StoreError> {
        self.sessions
            .insert(id.as_bytes(), bytes)
            .map(drop)
            .map_err(StoreError::backend)
    }

    pub(super) fn load(&self, id: SessionId) -> Result<Option<Record>, StoreError> {
        let Some(bytes) = self
            .sessions
            .get(id.as_bytes())
            .map_err(StoreError::backend)?
        else {
            return Ok(None);
        };
        let record = codec::decode(id, &bytes).map_err(StoreError::corrupt)?;
        if record.is_expired_at(SystemTime::now()) {
            self.remove_if_unchanged(id, &bytes)?;
            return Ok(None);
        }
        Ok(Some(record))
    }

    pub(super) fn save(&self, id: SessionId, changes: &Changes) -> Result<Record, StoreError> {
        let now = SystemTime::now();
        let deadline = codec::to_millis(changes.expires_at());
        self.index(deadline, id)?;
        let mut merged = None;
        let mut replaced_deadline = None;
        self.sessions
            .update_and_fetch(id.as_bytes(), |stored| {
                replaced_deadline = stored.and_then(codec::expires_at_millis);
                let base = stored.and_then(|bytes| decode_for_merge(id, bytes));
                let record = changes.apply_to(id, base.as_ref(), now);
                let bytes = codec::encode(&record);
                merged = Some(record);
                Some(bytes)
            })
            .map_err(StoreError::backend)?;
        if let Some(old) = replaced_deadline.filter(|&old| old != deadline) {
            self.unindex(old, id)?;
        }
        merged.ok_or_else(|| StoreError::backend("sled skipped the update of a session record"))
    }

    pub(super) fn delete(&self, id: SessionId) -> Result<(), StoreError> {
        let removed = self
            .sessions
            .remove(id.as_bytes())
            .map_err(StoreError::backend)?;
        match removed.as_deref().and_then(codec::expires_at_millis) {
            Some(deadline) => self.unindex(deadline, id),
            None => Ok(()),
        }
    }

    /// Deletes every record whose deadline is at or before `now`, and returns how many.
    ///
    /// It reads only the index entries that are due, never the whole store.
    pub(super) fn sweep(&self, now: SystemTime) -> Result<usize, StoreError> {
        let now = codec::to_millis(now);
        let end = index_key(now.saturating_add(1), SessionId::from_bytes([0; 16])).to_vec();
        let mut from = Bound::Unbounded;
        let mut removed = 0;
        loop {
            let due = self
                .expiry
                .range((from, Bound::Excluded(end.clone())))
                .keys()
                .take(SWEEP_BATCH)
                .collect::<Result<Vec<_>, _>>()
                .map_err(StoreError::backend)?;
            for key in &due {
                let swept = match parse_index_key(key) {
                    Some((deadline, id)) => self.sweep_one(deadline, id, now)?,
                    None => Swept::Stale,
                };
                if let Swept::NotYet = swept {
                    continue;
                }
                removed += usize::from(matches!(swept, Swept::Removed));
                self.expiry.remove(key).map_err(StoreError::backend)?;
            }
            match due.last() {
                Some(last) if due.len() == SWEEP_BATCH => from = Bound::Excluded(last.to_vec()),
                _ => return Ok(removed),
            }
        }
    }

    /// Handles the due index entry `(deadline, id)`.
    fn sweep_one(&self, deadline: u64, id: SessionId, now: u64) -> Result<Swept, StoreError> {
        let Some(bytes) = self
            .sessions
            .get(id.as_bytes())
            .map_err(StoreError::backend)?
        else {
            // Either a save indexed this deadline and has not written its record yet, or a crash
            // came between the two. Only the second outlives the grace period.
            return Ok(if now.saturating_sub(deadline) < ORPHAN_GRACE_MS {
                Swept::NotYet
            } else {
                Swept::Stale
            });
        };
        match codec::expires_at_millis(&bytes) {
            Some(current) if current > now => Ok(Swept::Stale),
            // Expired or unreadable: remove it, unless a save replaced it meanwhile.
            _ => Ok(if self.remove_if_unchanged(id, &bytes)? {
                Swept::Removed
            } else {
                Swept::Stale
            }),
        }
    }

    /// Removes a record unless a concurrent save has replaced it meanwhile, and unindexes it;
    /// reports whether it did.
    fn remove_if_unchanged(&self, id: SessionId, seen: &sled::IVec) -> Result<bool, StoreError> {
        let swapped = self
            .sessions
            .compare_and_swap(id.as_bytes(), Some(seen), None::<&[u8]>)
            .map_err(StoreError::backend)?;
        // A failed swap means a save got there first; its record is live and indexed.
        if swapped.is_err() {
            return Ok(false);
        }
        if let Some(deadline) = codec::expires_at_millis(seen) {
            self.unindex(deadline, id)?;
        }
        Ok(true)
    }

    fn index(&self, deadline: u64, id: SessionId) -> Result<(), StoreError> {
        self.expiry
            .insert(index_key(deadline, id), &[])
            .map(drop)
            .map_err(StoreError::backend)
    }

    fn unindex(&self, deadline: u64, id: SessionId) -> Result<(), StoreError> {
        self.expiry
            .remove(index_key(deadline, id))
            .map(drop)
            .map_err(StoreError::backend)
    }

    /// How many index entries there are; for the tests of the index.
    #[cfg(test)]
    fn indexed(&self) -> usize {
        self.expiry.len()
    }
}

/// Decodes the stored copy a save merges into. A corrupt copy is replaced rather than merged:
/// the save still succeeds, and the damage is logged.
fn decode_for_merge(id: SessionId, bytes: &[u8]) -> Option<Record> {
    codec::decode(id, bytes)
        .inspect_err(|error| tracing::warn!(%error, "overwriting a corrupt session record"))
        .ok()
}

fn index_key(deadline: u64, id: SessionId) -> IndexKey {
    let mut key = [0; 24];
    key[..8].copy_from_slice(&deadline.to_be_bytes());
    key[8..].copy_from_slice(id.as_bytes());
    key
}

/// The deadline and session id of an index key; `None` for a key of another shape, which the
/// sweep drops.
fn parse_index_key(key: &[u8]) -> Option<(u64, SessionId)> {
    let key: &IndexKey = key.try_into().ok()?;
    let (deadline, id) = key.split_at(8);
    Some((
        u64::from_be_bytes(deadline.try_into().ok()?),
        SessionId::from_bytes(id.try_into().ok()?),
    ))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn open() -> Records {
        let db = sled::Config::new().temporary(true).open().expect("sled");
        Records::open(&db).expect("trees")
    }

    fn changes(expires_at: SystemTime) -> Changes {
        let mut changes = Changes::new(expires_at);
        changes.set("k", "1");
        changes
    }

    fn in_secs(secs: u64) -> SystemTime {
        SystemTime::now() + Duration::from_secs(secs)
    }

    #[test]
    fn a_save_moves_its_index_entry() {
        let records = open();
        let id = SessionId::generate();
        records.save(id, &changes(in_secs(60))).expect("save");
        records.save(id, &changes(in_secs(120))).expect("save");
        assert_eq!(records.indexed(), 1);
        records.delete(id).expect("delete");
        assert_eq!(records.indexed(), 0);
        assert!(records.is_empty());
    }

    #[test]
    fn a_sweep_removes_only_due_records() {
        let records = open();
        let (due, live) = (SessionId::generate(), SessionId::generate());
        records.save(due, &changes(in_secs(60))).expect("save");
        records.save(live, &changes(in_secs(600))).expect("save");

        assert_eq!(records.sweep(in_secs(1)).expect("sweep"), 0);
        assert_eq!(records.sweep(in_secs(61)).expect("sweep"), 1);
        assert_eq!(records.len(), 1);
        assert_eq!(records.indexed(), 1);
        assert!(records.load(live).expect("load").is_some());
    }

    #[test]
    fn a_stale_index_entry_never_removes_a_live_record() {
        let records = open();
        let id = SessionId::generate();
        records.save(id, &changes(in_secs(600))).expect("save");
        // What a crash between indexing and writing leaves: an entry with no matching record.
        records
            .index(codec::to_millis(in_secs(30)), id)
            .expect("index");

        assert_eq!(records.sweep(in_secs(31)).expect("sweep"), 0);
        assert!(records.load(id).expect("load").is_some());
        assert_eq!(records.indexed(), 1);
    }

    #[test]
    fn an_entry_without_its_record_waits_out_the_grace_period() {
        let records = open();
        let (id, due) = (SessionId::generate(), in_secs(1));
        // What a save leaves between indexing its deadline and writing its record.
        records.index(codec::to_millis(due), id).expect("index");
        assert_eq!(records.sweep(in_secs(2)).expect("sweep"), 0);
        assert_eq!(records.indexed(), 1, "the save may still write its record");

        records.save(id, &changes(due)).expect("save");
        assert_eq!(records.sweep(in_secs(2)).expect("sweep"), 1);
        assert_eq!(records.indexed(), 0);

        records.index(codec::to_millis(due), id).expect("index");
        assert_eq!(records.sweep(in_secs(62)).expect("sweep"), 0);
        assert_eq!(
            records.indexed(),
            0,
            "past the grace period the entry is dropped"
        );
    }

    #[test]
    fn an_unreadable_due_record_is_swept() {
        let records = open();
        let id = SessionId::generate();
        records.insert_raw(id, b"garbage").expect("insert");
        records
            .index(codec::to_millis(in_secs(1)), id)
            .expect("index");
        assert_eq!(records.sweep(in_secs(2)).expect("sweep"), 1);
        assert!(records.is_empty());
    }

    #[test]
    fn sweeps_work_through_many_batches() {
        let records = open();
        let count = SWEEP_BATCH * 2 + 7;
        for _ in 0..count {
            records
                .save(SessionId::generate(), &changes(in_secs(5)))
                .expect("save");
        }
        assert_eq!(records.sweep(in_secs(6)).expect("sweep"), count);
        assert_eq!(records.indexed(), 0);
    }

    #[test]
    fn loading_an_expired_record_unindexes_it() {
        let records = open();
        let id = SessionId::generate();
        let past = SystemTime::now() - Duration::from_secs(1);
        records.save(id, &changes(past)).expect("save");
        assert_eq!(records.load(id).expect("load"), None);
        assert_eq!(records.indexed(), 0);
        assert!(records.is_empty());
    }
}
