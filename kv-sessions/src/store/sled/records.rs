//! The two sled trees behind a [`SledStore`](super::SledStore) and the synchronous operations
//! on them.
//!
//! `sessions` maps a session id's 16 bytes to its encoded record. `expiry` is the index the
//! sweeper walks: empty-valued keys made of a *slot* (milliseconds, big endian, so keys sort by
//! time) followed by the id. A slot is a deadline rounded up to the next whole minute.
//!
//! The rule the index keeps, without transactions: **every record has an entry in a slot no
//! later than its own deadline's slot.** An entry may be early; the sweeper then finds the record
//! live and moves the entry to the record's slot. That rule is what keeps saves cheap: a save
//! that pushes a deadline later (every save under `OnInactivity`) leaves the index alone, and
//! only a save that creates a record or brings its deadline into an earlier slot writes an entry,
//! before it writes the record. Deletes leave their entry behind; the sweeper drops an entry
//! whose record is gone once its slot is a minute past, since until then a save may be about to
//! write that record.

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

/// An index key: a slot and a session id.
type IndexKey = [u8; 24];

/// The width of a slot, in milliseconds.
const SLOT_MS: u64 = 60_000;

/// How long a due index entry whose record is missing is kept, in milliseconds: long enough for
/// any save that indexed its deadline to write its record.
const ORPHAN_GRACE_MS: u64 = 60_000;

/// How many times a sweep retries a record that saves keep replacing under it.
const SWEEP_RETRIES: usize = 3;

/// What a sweep did with one due index entry.
enum Swept {
    /// The record was expired or unreadable, and is gone; the entry goes too.
    Removed,
    /// The record lives on and has an entry in its own slot now; this one goes.
    Moved,
    /// The entry's record is long gone; the entry goes.
    Stale,
    /// The entry stays: its record is live in this very slot, or may yet be written.
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
        let slot = slot_of(codec::to_millis(changes.expires_at()));
        let stored = self
            .sessions
            .get(id.as_bytes())
            .map_err(StoreError::backend)?;
        let indexed = needs_entry(stored.as_deref(), slot);
        if indexed {
            self.index(slot, id)?;
        }
        let mut merged = None;
        let mut replaced_needs_entry = false;
        self.sessions
            .update_and_fetch(id.as_bytes(), |stored| {
                replaced_needs_entry = needs_entry(stored, slot);
                let base = stored.and_then(|bytes| decode_for_merge(id, bytes));
                let record = changes.apply_to(id, base.as_ref(), now);
                merged = Some(record);
                merged.as_ref().map(codec::encode)
            })
            .map_err(StoreError::backend)?;
        // Another save got in between the read and the write, and left the record in a state
        // that needs the entry after all.
        if replaced_needs_entry && !indexed {
            self.index(slot, id)?;
        }
        merged.ok_or_else(|| StoreError::backend("sled skipped the update of a session record"))
    }

    /// Deletes the record of `id`. Its index entry stays until the sweeper meets it.
    pub(super) fn delete(&self, id: SessionId) -> Result<(), StoreError> {
        self.sessions
            .remove(id.as_bytes())
            .map(drop)
            .map_err(StoreError::backend)
    }

    /// Deletes every record whose deadline is at or before `now`, and returns how many.
    ///
    /// It reads only the index entries that are due, never the whole store.
    pub(super) fn sweep(&self, now: SystemTime) -> Result<usize, StoreError> {
        let now = codec::to_millis(now);
        // The slot `now` falls in holds deadlines on both sides of `now`; read it too.
        let end = index_key(
            slot_of(now).saturating_add(1),
            SessionId::from_bytes([0; 16]),
        );
        let mut from = Bound::Unbounded;
        let mut removed = 0;
        loop {
            let due = self
                .expiry
                .range((from, Bound::Excluded(end.to_vec())))
                .keys()
                .take(SWEEP_BATCH)
                .collect::<Result<Vec<_>, _>>()
                .map_err(StoreError::backend)?;
            for key in &due {
                let swept = match parse_index_key(key) {
                    Some((slot, id)) => self.sweep_one(slot, id, now)?,
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

    /// Handles the due index entry `(slot, id)`.
    fn sweep_one(&self, slot: u64, id: SessionId, now: u64) -> Result<Swept, StoreError> {
        for _ in 0..SWEEP_RETRIES {
            let Some(bytes) = self
                .sessions
                .get(id.as_bytes())
                .map_err(StoreError::backend)?
            else {
                // Either the record was deleted, or a save indexed this slot and has not written
                // its record yet. Only the first outlives the grace period.
                return Ok(if now.saturating_sub(slot) < ORPHAN_GRACE_MS {
                    Swept::NotYet
                } else {
                    Swept::Stale
                });
            };
            match codec::expires_at_millis(&bytes) {
                Some(deadline) if deadline > now => return self.move_entry(slot, deadline, id),
                // Expired or unreadable: remove it, unless a save replaced it meanwhile.
                _ if self.remove_if_unchanged(id, &bytes)? => return Ok(Swept::Removed),
                _ => {}
            }
        }
        Ok(Swept::NotYet)
    }

    /// Gives the live record `id`, whose deadline is `deadline`, an entry in its own slot in
    /// place of the early entry in `slot`.
    fn move_entry(&self, slot: u64, deadline: u64, id: SessionId) -> Result<Swept, StoreError> {
        let own = slot_of(deadline);
        if own == slot {
            return Ok(Swept::NotYet);
        }
        self.index(own, id)?;
        Ok(Swept::Moved)
    }

    /// Removes a record unless a concurrent save has replaced it meanwhile; reports whether it
    /// did.
    fn remove_if_unchanged(&self, id: SessionId, seen: &sled::IVec) -> Result<bool, StoreError> {
        let swapped = self
            .sessions
            .compare_and_swap(id.as_bytes(), Some(seen), None::<&[u8]>)
            .map_err(StoreError::backend)?;
        Ok(swapped.is_ok())
    }

    fn index(&self, slot: u64, id: SessionId) -> Result<(), StoreError> {
        self.expiry
            .insert(index_key(slot, id), &[])
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

/// The slot of a deadline: the deadline rounded up to a whole [`SLOT_MS`].
fn slot_of(deadline: u64) -> u64 {
    deadline.div_ceil(SLOT_MS).saturating_mul(SLOT_MS)
}

/// Whether a save that moves a record into `slot` must give it an index entry there: when there
/// is no record yet, or the stored one's entry may be in a later slot.
fn needs_entry(stored: Option<&[u8]>, slot: u64) -> bool {
    stored
        .and_then(codec::expires_at_millis)
        .is_none_or(|deadline| slot_of(deadline) > slot)
}

fn index_key(slot: u64, id: SessionId) -> IndexKey {
    let mut key = [0; 24];
    key[..8].copy_from_slice(&slot.to_be_bytes());
    key[8..].copy_from_slice(id.as_bytes());
    key
}

/// The slot and session id of an index key; `None` for a key of another shape, which the
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
    fn a_save_that_pushes_a_deadline_later_writes_no_index_entry() {
        let records = open();
        let id = SessionId::generate();
        records.save(id, &changes(in_secs(60))).expect("save");
        records.save(id, &changes(in_secs(600))).expect("save");
        assert_eq!(records.indexed(), 1);
    }

    #[test]
    fn a_save_that_brings_a_deadline_into_an_earlier_slot_indexes_it() {
        let records = open();
        let id = SessionId::generate();
        records.save(id, &changes(in_secs(600))).expect("save");
        records.save(id, &changes(in_secs(30))).expect("save");
        assert_eq!(records.indexed(), 2);
        assert_eq!(records.sweep(in_secs(31)).expect("sweep"), 1);
        assert!(records.is_empty());
    }

    #[test]
    fn a_sweep_moves_an_early_entry_to_its_records_slot() {
        let records = open();
        let id = SessionId::generate();
        records.save(id, &changes(in_secs(30))).expect("save");
        records.save(id, &changes(in_secs(600))).expect("save");

        assert_eq!(records.sweep(in_secs(31)).expect("sweep"), 0);
        assert_eq!(records.indexed(), 1);
        assert!(records.load(id).expect("load").is_some());
        assert_eq!(records.sweep(in_secs(601)).expect("sweep"), 1);
        assert!(records.is_empty());
        assert_eq!(records.indexed(), 0);
    }

    #[test]
    fn a_deleted_records_entry_is_dropped_once_its_slot_is_past_the_grace_period() {
        let records = open();
        let id = SessionId::generate();
        records.save(id, &changes(in_secs(60))).expect("save");
        records.delete(id).expect("delete");
        assert!(records.is_empty());
        assert_eq!(records.sweep(in_secs(61)).expect("sweep"), 0);
        assert_eq!(records.indexed(), 1, "a save may still write this record");
        assert_eq!(records.sweep(in_secs(300)).expect("sweep"), 0);
        assert_eq!(records.indexed(), 0);
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
        let id = SessionId::generate();
        // What a save leaves between indexing its slot and writing its record.
        records
            .index(slot_of(codec::to_millis(in_secs(1))), id)
            .expect("index");
        assert_eq!(records.sweep(in_secs(2)).expect("sweep"), 0);
        assert_eq!(records.indexed(), 1, "the save may still write its record");

        records.save(id, &changes(in_secs(90))).expect("save");
        assert_eq!(records.sweep(in_secs(2)).expect("sweep"), 0);
        assert!(records.load(id).expect("load").is_some());
        assert_eq!(records.sweep(in_secs(91)).expect("sweep"), 1);
        assert!(records.is_empty());
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
    fn loading_an_expired_record_deletes_it_and_a_sweep_drops_its_entry() {
        let records = open();
        let id = SessionId::generate();
        let past = SystemTime::now() - Duration::from_secs(1);
        records.save(id, &changes(past)).expect("save");
        assert_eq!(records.load(id).expect("load"), None);
        assert!(records.is_empty());
        assert_eq!(records.sweep(in_secs(180)).expect("sweep"), 0);
        assert_eq!(records.indexed(), 0);
    }
}
