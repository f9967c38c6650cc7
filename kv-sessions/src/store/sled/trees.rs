//! The four sled trees behind a [`SledStore`](super::SledStore) and the synchronous operations
//! on them.
//!
//! `sessions` maps the 16 bytes of a session's [`SessionDigest`] to its encoded record (see
//! [`codec`](super::codec)). `expiry` is the index the sweeper walks: empty-valued keys made of a
//! *slot* (milliseconds, big endian, so keys sort by time) followed by the digest. A slot is a
//! deadline rounded up to the next whole minute. Neither tree holds a session id, in its keys or
//! in its values: whoever reads the files learns digests, and a cookie needs the id. Builds
//! before this layout keyed both trees by the id, and neither can read the other's records.
//!
//! The rule the index keeps: **every record has an entry in a slot no
//! later than its own deadline's slot.** An entry may be early; the sweeper then finds the record
//! live and moves the entry to the record's slot. That rule is what keeps saves cheap: a save
//! that pushes a deadline later (every save under `OnInactivity`) leaves the index alone, and
//! only a save that creates a record or brings its deadline into an earlier slot writes an entry,
//! before it writes the record. Deletes leave their entry behind; the sweeper drops an entry
//! whose record is gone once its slot is a minute past, since until then a save may be about to
//! write that record. A renewal moves a record to a new digest in one transaction over both
//! trees, which writes the new digest's entry with it.
//!
//! `owners` indexes bound records by user: empty-valued keys made of the user's length (u16, big
//! endian), the user's bytes and the record's digest. The length comes first so that no user's
//! keys are a prefix of another's: a listing scans the prefix of one user and reads nothing else.
//!
//! The rule the owners index keeps: **a record bound to a user has exactly one entry, under that
//! user, written and removed in the same transaction as the record itself.** Only a write whose
//! result is bound to another user than the stored record (a bind, an unbind, a rebind, a
//! renewal, a delete, a revocation, a sweep) is a transaction over `owners`; every other save is
//! the compare-and-swap it was, and writes nothing there. The one entry the rule cannot remove
//! is that of a record whose bytes were unreadable when it was replaced or removed, since its
//! user cannot be read: a listing drops an entry whose record is missing or bound to someone
//! else.
//!
//! `owner_stamps` holds each user's *stamp*: a counter (u64, big endian) keyed by the user's
//! prefix, which every transaction that changes the user's entries moves on. A scan is not a
//! snapshot: a renewal that commits while a listing scans could move a session from a key the
//! scan has yet to reach to one it has passed, and the listing would see neither. A listing
//! therefore reads the stamp before and after its scan, and scans again where it moved. The
//! stamp stays when the user's last entry goes: a few bytes per user ever bound, not per
//! session.

use std::ops::Bound;
use std::sync::Arc;
use std::time::SystemTime;

use sled::Transactional;
use sled::transaction::{
    ConflictableTransactionError, TransactionError, TransactionResult, TransactionalTree,
};

use super::codec;
use crate::changes::{Changes, Saved};
use crate::error::StoreError;
use crate::id::{SessionDigest, SessionId};
use crate::owner::{SessionOwner, UserSession};
use crate::record::Record;

/// The tree that holds one record per session.
const SESSIONS_TREE: &str = "sessions";
/// The tree that indexes records by deadline.
const EXPIRY_TREE: &str = "expiry";
/// The tree that indexes bound records by user.
const OWNERS_TREE: &str = "owners";
/// The tree that holds each user's stamp.
const STAMPS_TREE: &str = "owner_stamps";
/// How many index entries a sweep reads at a time.
const SWEEP_BATCH: usize = 1024;

/// An index key: a slot and a session digest.
type IndexKey = [u8; 8 + SessionDigest::LEN];

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

/// A user id too long for the owners index, whose keys give its length in two bytes.
/// [`Session::bind`](crate::Session::bind) refuses far shorter ones; only a store driven by hand
/// can meet it.
#[derive(Debug, thiserror::Error)]
#[error("a user id of {0} bytes is too long to index: at most 65535")]
struct UserTooLong(usize);

/// The sessions tree, the deadline index, the owners index and its stamps, of one store, and
/// the operations that keep them in step. Clones share them.
#[derive(Clone)]
pub(super) struct SessionTrees {
    sessions: sled::Tree,
    expiry: sled::Tree,
    owners: sled::Tree,
    stamps: sled::Tree,
}

impl SessionTrees {
    pub(super) fn open(db: &sled::Db) -> Result<Self, StoreError> {
        let tree = |name| db.open_tree(name).map_err(StoreError::backend);
        Ok(Self {
            sessions: tree(SESSIONS_TREE)?,
            expiry: tree(EXPIRY_TREE)?,
            owners: tree(OWNERS_TREE)?,
            stamps: tree(STAMPS_TREE)?,
        })
    }

    pub(super) fn len(&self) -> usize {
        self.sessions.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    #[cfg(any(test, feature = "test-util"))]
    pub(super) fn insert_raw(&self, id: SessionId, bytes: &[u8]) -> Result<(), StoreError> {
        self.sessions
            .insert(id.digest().as_bytes(), bytes)
            .map(drop)
            .map_err(StoreError::backend)
    }

    pub(super) fn load(&self, id: SessionId) -> Result<Option<Record>, StoreError> {
        let digest = id.digest();
        let Some(bytes) = self
            .sessions
            .get(digest.as_bytes())
            .map_err(StoreError::backend)?
        else {
            return Ok(None);
        };
        let record = codec::decode(id, &bytes).map_err(StoreError::corrupt)?;
        if record.is_expired_at(SystemTime::now()) {
            self.remove_if_unchanged(digest, &bytes)?;
            return Ok(None);
        }
        Ok(Some(record))
    }

    /// Creates the record of the new session `id`.
    pub(super) fn create(&self, id: SessionId, changes: &Changes) -> Result<Saved, StoreError> {
        let now = SystemTime::now();
        self.write(id, now, |base| match base {
            Some(_) => Err(StoreError::id_in_use()),
            None => Ok(changes.apply_to(id, None, now).map_err(Saved::from)),
        })
    }

    /// Applies `changes` to the live record of `id`, and writes nothing where there is none.
    pub(super) fn update(&self, id: SessionId, changes: &Changes) -> Result<Saved, StoreError> {
        let now = SystemTime::now();
        self.write(id, now, |base| match base {
            Some(base) => Ok(changes.apply_to(id, Some(&base), now).map_err(Saved::from)),
            None => Ok(Err(Saved::Gone)),
        })
    }

    /// Writes the record `merge` makes of the live record of `id`, with a compare-and-swap that
    /// starts over when another write got in first. `merge` answers `Err` with what to report
    /// when there is nothing to write.
    ///
    /// The record's index entry, where it needs one, is written before the record. Where the
    /// result is bound to another user than the stored record, the record and its owners entries
    /// change in one transaction; otherwise the owners index is not touched.
    fn write(
        &self,
        id: SessionId,
        now: SystemTime,
        merge: impl Fn(Option<Record>) -> Result<Result<Record, Saved>, StoreError>,
    ) -> Result<Saved, StoreError> {
        let digest = id.digest();
        loop {
            let stored = self
                .sessions
                .get(digest.as_bytes())
                .map_err(StoreError::backend)?;
            let base = stored
                .as_deref()
                .and_then(|bytes| decode_live(id, bytes, now));
            let before = match (&base, stored.as_deref()) {
                (Some(base), _) => base.shared_owner(),
                (None, Some(bytes)) => stored_owner(bytes).map(Arc::new),
                (None, None) => None,
            };
            let record = match merge(base)? {
                Ok(record) => record,
                Err(outcome) => return Ok(outcome),
            };
            let slot = slot_of(codec::to_millis(record.expires_at()));
            if needs_entry(stored.as_deref(), slot) {
                self.index(slot, digest)?;
            }
            let before = before.as_deref().map(SessionOwner::user);
            let swapped = if before == record.owner().map(SessionOwner::user) {
                self.sessions
                    .compare_and_swap(digest.as_bytes(), stored, Some(codec::encode(&record)))
                    .map_err(StoreError::backend)?
                    .is_ok()
            } else {
                self.rebind(digest, stored.as_ref(), before, &record)?
            };
            if swapped {
                return Ok(Saved::Stored(record));
            }
        }
    }

    /// Replaces the record of `digest`, bound to `before`, with `record`, bound to another user
    /// (or to none), and moves its owners entry, in one transaction; reports whether it did,
    /// which it does not where the record is no longer `stored`.
    fn rebind(
        &self,
        digest: SessionDigest,
        stored: Option<&sled::IVec>,
        before: Option<&str>,
        record: &Record,
    ) -> Result<bool, StoreError> {
        let after = record.owner().map(SessionOwner::user);
        let bytes = codec::encode(record);
        let trees = (&self.sessions, &self.owners, &self.stamps);
        let swapped = trees.transaction(|(sessions, entries, stamps)| {
            let owners = OwnerIndex { entries, stamps };
            if sessions.get(digest.as_bytes())?.as_ref() != stored {
                return Ok(false);
            }
            if let Some(user) = before {
                owners.remove(user, digest)?;
            }
            if let Some(user) = after {
                owners.add(user, digest)?;
            }
            sessions.insert(digest.as_bytes(), bytes.as_slice())?;
            Ok(true)
        });
        outcome(swapped)
    }

    /// Moves the live record of `old`, with `changes` applied, to `new`, in one transaction over
    /// both trees. Where `old` is gone, `new` gets only the writes of `changes`.
    pub(super) fn renew(
        &self,
        old: SessionId,
        new: SessionId,
        changes: &Changes,
    ) -> Result<Saved, StoreError> {
        let now = SystemTime::now();
        let (from, to) = (old.digest(), new.digest());
        let trees = (&self.sessions, &self.expiry, &self.owners, &self.stamps);
        let renewed = trees.transaction(|(sessions, expiry, entries, stamps)| {
            let owners = OwnerIndex { entries, stamps };
            let base = sessions
                .get(from.as_bytes())?
                .and_then(|bytes| decode_live(old, &bytes, now));
            let record = match changes.apply_to_renewal(new, base.as_ref(), now) {
                Ok(record) => record,
                Err(answer) => return Ok(answer),
            };
            if sessions.get(to.as_bytes())?.is_some() {
                return Err(ConflictableTransactionError::Abort(StoreError::id_in_use()));
            }
            if let Some(base) = &base {
                sessions.remove(from.as_bytes())?;
                if let Some(owner) = base.owner() {
                    owners.remove(owner.user(), from)?;
                }
            }
            if let Some(owner) = record.owner() {
                owners.add(owner.user(), to)?;
            }
            let slot = slot_of(codec::to_millis(record.expires_at()));
            expiry.insert(&index_key(slot, to)[..], &[])?;
            sessions.insert(to.as_bytes(), codec::encode(&record))?;
            Ok(Saved::Stored(record))
        });
        outcome(renewed)
    }

    /// Deletes the record of `id`, and returns it if it was live. Its deadline index entry stays
    /// until the sweeper meets it; its owners entry goes with it.
    pub(super) fn delete(&self, id: SessionId) -> Result<Option<Record>, StoreError> {
        let removed = self.remove_where(id.digest(), |_| true)?;
        Ok(removed.and_then(|bytes| decode_live(id, &bytes, SystemTime::now())))
    }

    /// The live sessions bound to `user`, read from the owners index: the cost grows with the
    /// user's entries, not with the store. The user's entries are scanned until a scan sees the
    /// user's stamp unmoved (see the module's rule).
    pub(super) fn sessions_of(&self, user: &str) -> Result<Vec<UserSession>, StoreError> {
        let prefix = user_prefix(user)?;
        loop {
            let stamp = self.stamps.get(&prefix).map_err(StoreError::backend)?;
            let sessions = self.scan_owned(user, &prefix)?;
            if self.stamps.get(&prefix).map_err(StoreError::backend)? == stamp {
                return Ok(sessions);
            }
        }
    }

    /// One scan of the entries under `prefix`, the user's, reading each record. An entry whose
    /// record is gone or bound to someone else is dropped on the way.
    fn scan_owned(&self, user: &str, prefix: &[u8]) -> Result<Vec<UserSession>, StoreError> {
        let now = SystemTime::now();
        let mut sessions = Vec::new();
        for key in self.owners.scan_prefix(prefix).keys() {
            let key = key.map_err(StoreError::backend)?;
            let Some(digest) = parse_owner_key(&key, prefix.len()) else {
                continue;
            };
            let stored = self
                .sessions
                .get(digest.as_bytes())
                .map_err(StoreError::backend)?;
            let Some(bytes) = &stored else {
                self.drop_stale_owner_entry(user, digest, None)?;
                continue;
            };
            match codec::summary(bytes) {
                Ok(summary) if summary.user() == Some(user) => {
                    sessions.extend(listed(digest, summary, now));
                }
                Ok(_) => self.drop_stale_owner_entry(user, digest, stored.as_ref())?,
                // Left for the load or the sweep that meets it, which removes the record.
                Err(_) => {}
            }
        }
        Ok(sessions)
    }

    /// Deletes the record of `digest` where it is live and bound to `user`, with its owners
    /// entry, and says whether it did.
    pub(super) fn revoke(&self, user: &str, digest: SessionDigest) -> Result<bool, StoreError> {
        let removed = self.remove_where(digest, |bytes| {
            codec::summary(bytes).is_ok_and(|summary| {
                summary.user() == Some(user) && summary.expires_at > SystemTime::now()
            })
        })?;
        Ok(removed.is_some())
    }

    /// Removes the record of `digest`, with its owners entry, where `doomed` says so of the
    /// stored bytes, and returns the bytes it removed. A save that replaces the record between
    /// the read and the removal sends it back to read the new bytes.
    fn remove_where(
        &self,
        digest: SessionDigest,
        doomed: impl Fn(&[u8]) -> bool,
    ) -> Result<Option<sled::IVec>, StoreError> {
        loop {
            let Some(bytes) = self
                .sessions
                .get(digest.as_bytes())
                .map_err(StoreError::backend)?
            else {
                return Ok(None);
            };
            if !doomed(&bytes) {
                return Ok(None);
            }
            if self.remove_if_unchanged(digest, &bytes)? {
                return Ok(Some(bytes));
            }
        }
    }

    /// Removes the owners entry of `digest` under `user`, where the record of `digest` is still
    /// `seen` (none, or one bound to someone else), so that an entry a concurrent write has
    /// just made right is never dropped.
    fn drop_stale_owner_entry(
        &self,
        user: &str,
        digest: SessionDigest,
        seen: Option<&sled::IVec>,
    ) -> Result<(), StoreError> {
        let trees = (&self.sessions, &self.owners, &self.stamps);
        let dropped = trees.transaction(|(sessions, entries, stamps)| {
            if sessions.get(digest.as_bytes())?.as_ref() == seen {
                OwnerIndex { entries, stamps }.remove(user, digest)?;
            }
            Ok(())
        });
        outcome(dropped)
    }

    /// Deletes every record whose deadline is at or before `now`, and returns how many.
    ///
    /// It reads only the index entries that are due, never the whole store.
    pub(super) fn sweep(&self, now: SystemTime) -> Result<usize, StoreError> {
        let now = codec::to_millis(now);
        // The slot `now` falls in holds deadlines on both sides of `now`; read it too.
        let end = index_key(
            slot_of(now).saturating_add(1),
            SessionDigest::from_bytes([0; SessionDigest::LEN]),
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
                    Some((slot, digest)) => self.sweep_one(slot, digest, now)?,
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

    /// Handles the due index entry `(slot, digest)`.
    fn sweep_one(&self, slot: u64, digest: SessionDigest, now: u64) -> Result<Swept, StoreError> {
        for _ in 0..SWEEP_RETRIES {
            let Some(bytes) = self
                .sessions
                .get(digest.as_bytes())
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
                Some(deadline) if deadline > now => return self.move_entry(slot, deadline, digest),
                // Expired or unreadable: remove it, unless a save replaced it meanwhile.
                _ if self.remove_if_unchanged(digest, &bytes)? => return Ok(Swept::Removed),
                _ => {}
            }
        }
        Ok(Swept::NotYet)
    }

    /// Gives the live record of `digest`, whose deadline is `deadline`, an entry in its own slot
    /// in place of the early entry in `slot`.
    fn move_entry(
        &self,
        slot: u64,
        deadline: u64,
        digest: SessionDigest,
    ) -> Result<Swept, StoreError> {
        let own = slot_of(deadline);
        if own == slot {
            return Ok(Swept::NotYet);
        }
        self.index(own, digest)?;
        Ok(Swept::Moved)
    }

    /// Removes a record unless a concurrent save has replaced it meanwhile, with its owners
    /// entry where it is bound; reports whether it did.
    fn remove_if_unchanged(
        &self,
        digest: SessionDigest,
        seen: &sled::IVec,
    ) -> Result<bool, StoreError> {
        let Some(owner) = stored_owner(seen) else {
            let swapped = self
                .sessions
                .compare_and_swap(digest.as_bytes(), Some(seen), None::<&[u8]>)
                .map_err(StoreError::backend)?;
            return Ok(swapped.is_ok());
        };
        let trees = (&self.sessions, &self.owners, &self.stamps);
        let removed = trees.transaction(|(sessions, entries, stamps)| {
            if sessions.get(digest.as_bytes())?.as_ref() != Some(seen) {
                return Ok(false);
            }
            sessions.remove(digest.as_bytes())?;
            OwnerIndex { entries, stamps }.remove(owner.user(), digest)?;
            Ok(true)
        });
        outcome(removed)
    }

    fn index(&self, slot: u64, digest: SessionDigest) -> Result<(), StoreError> {
        self.expiry
            .insert(index_key(slot, digest), &[])
            .map(drop)
            .map_err(StoreError::backend)
    }

    /// How many index entries there are; for the tests of the index.
    #[cfg(test)]
    fn indexed(&self) -> usize {
        self.expiry.len()
    }

    /// Trees in a temporary database, for the tests.
    #[cfg(test)]
    fn temporary() -> Self {
        let db = sled::Config::new().temporary(true).open().expect("sled");
        Self::open(&db).expect("trees")
    }

    /// The owners entries, as (user, digest); for the tests of the owners index.
    #[cfg(test)]
    fn owner_entries(&self) -> Vec<(String, SessionDigest)> {
        self.owners
            .iter()
            .keys()
            .map(|key| {
                let key = key.expect("read");
                let len = usize::from(u16::from_be_bytes([key[0], key[1]]));
                let user = String::from_utf8(key[2..2 + len].to_vec()).expect("utf-8");
                (user, parse_owner_key(&key, 2 + len).expect("digest"))
            })
            .collect()
    }
}

/// The result of a transaction whose aborts carry a [`StoreError`].
fn outcome<T>(result: TransactionResult<T, StoreError>) -> Result<T, StoreError> {
    result.map_err(|error| match error {
        TransactionError::Abort(error) => error,
        TransactionError::Storage(error) => StoreError::backend(error),
    })
}

/// The owner of a stored record, where it is bound and readable.
fn stored_owner(bytes: &[u8]) -> Option<SessionOwner> {
    codec::summary(bytes).ok()?.bound.map(|(owner, _)| owner)
}

/// The owners index and the users' stamps, inside a transaction.
struct OwnerIndex<'a> {
    entries: &'a TransactionalTree,
    stamps: &'a TransactionalTree,
}

/// The failure of a step of a transaction.
type Step = Result<(), ConflictableTransactionError<StoreError>>;

impl OwnerIndex<'_> {
    /// Adds the entry of `digest` under `user`, and moves the user's stamp on.
    fn add(&self, user: &str, digest: SessionDigest) -> Step {
        let key = owner_key(user, digest).map_err(ConflictableTransactionError::Abort)?;
        self.entries.insert(key, &[])?;
        self.restamp(user)
    }

    /// Removes the entry of `digest` under `user`, and moves the user's stamp on.
    fn remove(&self, user: &str, digest: SessionDigest) -> Step {
        let key = owner_key(user, digest).map_err(ConflictableTransactionError::Abort)?;
        self.entries.remove(key)?;
        self.restamp(user)
    }

    /// Moves on the stamp of `user`, which a listing reads before and after its scan. An
    /// unreadable stamp counts as 0: it only needs to change.
    fn restamp(&self, user: &str) -> Step {
        let key = user_prefix(user).map_err(ConflictableTransactionError::Abort)?;
        let stamp = self
            .stamps
            .get(&key)?
            .and_then(|bytes| <[u8; 8]>::try_from(bytes.as_ref()).ok())
            .map_or(0, u64::from_be_bytes);
        self.stamps
            .insert(key, &stamp.wrapping_add(1).to_be_bytes())?;
        Ok(())
    }
}

/// The listing of a record bound to its user, where it is live at `now`.
fn listed(digest: SessionDigest, summary: codec::Summary, now: SystemTime) -> Option<UserSession> {
    let (owner, saved_at) = summary.bound?;
    (summary.expires_at > now).then(|| {
        UserSession::new(
            digest,
            summary.created_at,
            saved_at,
            summary.expires_at,
            owner.label(),
        )
    })
}

/// The prefix of `user`'s keys in the owners index: the user's length (u16 big endian) and
/// the user; it is also the key of the user's stamp.
fn user_prefix(user: &str) -> Result<Vec<u8>, StoreError> {
    let len =
        u16::try_from(user.len()).map_err(|_| StoreError::backend(UserTooLong(user.len())))?;
    let mut key = Vec::with_capacity(2 + user.len() + SessionDigest::LEN);
    key.extend_from_slice(&len.to_be_bytes());
    key.extend_from_slice(user.as_bytes());
    Ok(key)
}

/// The owners index key of `digest` under `user`: the user's prefix, then the digest.
fn owner_key(user: &str, digest: SessionDigest) -> Result<Vec<u8>, StoreError> {
    let mut key = user_prefix(user)?;
    key.extend_from_slice(digest.as_bytes());
    Ok(key)
}

/// The digest of an owners key whose user prefix is `prefix_len` bytes long; `None` for a key
/// of another shape.
fn parse_owner_key(key: &[u8], prefix_len: usize) -> Option<SessionDigest> {
    let digest = key.get(prefix_len..)?.try_into().ok()?;
    Some(SessionDigest::from_bytes(digest))
}

/// Decodes the stored copy a write starts from, where it is live. A corrupt copy counts as no
/// session at all, and the damage is logged.
fn decode_live(id: SessionId, bytes: &[u8], now: SystemTime) -> Option<Record> {
    codec::decode(id, bytes)
        .inspect_err(|error| tracing::warn!(%error, "ignoring a corrupt session record"))
        .ok()
        .filter(|record| !record.is_expired_at(now))
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

fn index_key(slot: u64, digest: SessionDigest) -> IndexKey {
    let mut key = [0; 8 + SessionDigest::LEN];
    key[..8].copy_from_slice(&slot.to_be_bytes());
    key[8..].copy_from_slice(digest.as_bytes());
    key
}

/// The slot and session digest of an index key; `None` for a key of another shape, which the
/// sweep drops.
fn parse_index_key(key: &[u8]) -> Option<(u64, SessionDigest)> {
    let key: &IndexKey = key.try_into().ok()?;
    let (deadline, digest) = key.split_at(8);
    Some((
        u64::from_be_bytes(deadline.try_into().ok()?),
        SessionDigest::from_bytes(digest.try_into().ok()?),
    ))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::changes::SessionPolicy;
    use crate::expiry::Expiry;

    /// Changes that give a session the deadline `expires_at`.
    fn changes(expires_at: SystemTime) -> Changes {
        let mut changes = Changes::new(SessionPolicy::new(Expiry::AtDateTime(expires_at)));
        changes.set("k", "1");
        changes
    }

    impl SessionTrees {
        /// Updates the session `id`, or creates it where there is none.
        fn save(&self, id: SessionId, changes: &Changes) -> Result<Saved, StoreError> {
            match self.update(id, changes)? {
                Saved::Gone => self.create(id, changes),
                saved => Ok(saved),
            }
        }
    }

    fn in_secs(secs: u64) -> SystemTime {
        SystemTime::now() + Duration::from_secs(secs)
    }

    #[test]
    fn a_save_that_pushes_a_deadline_later_writes_no_index_entry() {
        let trees = SessionTrees::temporary();
        let id = SessionId::generate();
        trees.save(id, &changes(in_secs(60))).expect("save");
        trees.save(id, &changes(in_secs(600))).expect("save");
        assert_eq!(trees.indexed(), 1);
    }

    #[test]
    fn a_save_that_brings_a_deadline_into_an_earlier_slot_indexes_it() {
        let trees = SessionTrees::temporary();
        let id = SessionId::generate();
        trees.save(id, &changes(in_secs(600))).expect("save");
        trees.save(id, &changes(in_secs(30))).expect("save");
        assert_eq!(trees.indexed(), 2);
        assert_eq!(trees.sweep(in_secs(31)).expect("sweep"), 1);
        assert!(trees.is_empty());
    }

    #[test]
    fn a_sweep_moves_an_early_entry_to_its_records_slot() {
        let trees = SessionTrees::temporary();
        let id = SessionId::generate();
        trees.save(id, &changes(in_secs(30))).expect("save");
        trees.save(id, &changes(in_secs(600))).expect("save");

        assert_eq!(trees.sweep(in_secs(31)).expect("sweep"), 0);
        assert_eq!(trees.indexed(), 1);
        assert!(trees.load(id).expect("load").is_some());
        assert_eq!(trees.sweep(in_secs(601)).expect("sweep"), 1);
        assert!(trees.is_empty());
        assert_eq!(trees.indexed(), 0);
    }

    #[test]
    fn a_deleted_records_entry_is_dropped_once_its_slot_is_past_the_grace_period() {
        let trees = SessionTrees::temporary();
        let id = SessionId::generate();
        trees.save(id, &changes(in_secs(60))).expect("save");
        trees.delete(id).expect("delete");
        assert!(trees.is_empty());
        assert_eq!(trees.sweep(in_secs(61)).expect("sweep"), 0);
        assert_eq!(trees.indexed(), 1, "a save may still write this record");
        assert_eq!(trees.sweep(in_secs(300)).expect("sweep"), 0);
        assert_eq!(trees.indexed(), 0);
    }

    #[test]
    fn a_sweep_removes_only_due_records() {
        let trees = SessionTrees::temporary();
        let (due, live) = (SessionId::generate(), SessionId::generate());
        trees.save(due, &changes(in_secs(60))).expect("save");
        trees.save(live, &changes(in_secs(600))).expect("save");

        assert_eq!(trees.sweep(in_secs(1)).expect("sweep"), 0);
        assert_eq!(trees.sweep(in_secs(61)).expect("sweep"), 1);
        assert_eq!(trees.len(), 1);
        assert_eq!(trees.indexed(), 1);
        assert!(trees.load(live).expect("load").is_some());
    }

    #[test]
    fn a_stale_index_entry_never_removes_a_live_record() {
        let trees = SessionTrees::temporary();
        let id = SessionId::generate();
        trees.save(id, &changes(in_secs(600))).expect("save");
        // What a crash between indexing and writing leaves: an entry with no matching record.
        trees
            .index(codec::to_millis(in_secs(30)), id.digest())
            .expect("index");

        assert_eq!(trees.sweep(in_secs(31)).expect("sweep"), 0);
        assert!(trees.load(id).expect("load").is_some());
        assert_eq!(trees.indexed(), 1);
    }

    #[test]
    fn an_entry_without_its_record_waits_out_the_grace_period() {
        let trees = SessionTrees::temporary();
        let id = SessionId::generate();
        // What a save leaves between indexing its slot and writing its record.
        trees
            .index(slot_of(codec::to_millis(in_secs(1))), id.digest())
            .expect("index");
        assert_eq!(trees.sweep(in_secs(2)).expect("sweep"), 0);
        assert_eq!(trees.indexed(), 1, "the save may still write its record");

        trees.save(id, &changes(in_secs(90))).expect("save");
        assert_eq!(trees.sweep(in_secs(2)).expect("sweep"), 0);
        assert!(trees.load(id).expect("load").is_some());
        assert_eq!(trees.sweep(in_secs(91)).expect("sweep"), 1);
        assert!(trees.is_empty());
    }

    #[test]
    fn an_unreadable_due_record_is_swept() {
        let trees = SessionTrees::temporary();
        let id = SessionId::generate();
        trees.insert_raw(id, b"garbage").expect("insert");
        trees
            .index(codec::to_millis(in_secs(1)), id.digest())
            .expect("index");
        assert_eq!(trees.sweep(in_secs(2)).expect("sweep"), 1);
        assert!(trees.is_empty());
    }

    #[test]
    fn sweeps_work_through_many_batches() {
        let trees = SessionTrees::temporary();
        let count = SWEEP_BATCH * 2 + 7;
        for _ in 0..count {
            trees
                .save(SessionId::generate(), &changes(in_secs(5)))
                .expect("save");
        }
        assert_eq!(trees.sweep(in_secs(6)).expect("sweep"), count);
        assert_eq!(trees.indexed(), 0);
    }

    #[test]
    fn loading_an_expired_record_deletes_it_and_a_sweep_drops_its_entry() {
        let trees = SessionTrees::temporary();
        let id = SessionId::generate();
        let past = SystemTime::now() - Duration::from_secs(1);
        trees.save(id, &changes(past)).expect("save");
        assert_eq!(trees.load(id).expect("load"), None);
        assert!(trees.is_empty());
        assert_eq!(trees.sweep(in_secs(180)).expect("sweep"), 0);
        assert_eq!(trees.indexed(), 0);
    }
}

#[cfg(test)]
mod contract {
    use std::time::Duration;

    use super::*;
    use crate::changes::SessionPolicy;
    use crate::expiry::Expiry;

    fn writing(key: &str) -> Changes {
        let mut changes = Changes::new(SessionPolicy::new(Expiry::OnInactivity(
            Duration::from_secs(600),
        )));
        changes.set(key, "1");
        changes
    }

    fn stored(saved: Saved) -> Record {
        match saved {
            Saved::Stored(record) => record,
            other => panic!("expected a stored record, got {other:?}"),
        }
    }

    #[test]
    fn an_update_of_a_deleted_session_writes_nothing() {
        let trees = SessionTrees::temporary();
        let id = SessionId::generate();
        stored(trees.create(id, &writing("a")).expect("create"));
        assert!(trees.delete(id).expect("delete").is_some());
        assert_eq!(
            trees.update(id, &writing("b")).expect("update"),
            Saved::Gone
        );
        assert!(trees.is_empty());
    }

    #[test]
    fn a_renewal_moves_the_latest_copy_and_keeps_the_creation_time() {
        let trees = SessionTrees::temporary();
        let (old, new) = (SessionId::generate(), SessionId::generate());
        let created = stored(trees.create(old, &writing("a")).expect("create"));
        stored(trees.update(old, &writing("b")).expect("update"));
        let moved = stored(trees.renew(old, new, &writing("c")).expect("renew"));
        assert_eq!(moved.id(), new);
        assert_eq!(moved.created_at(), created.created_at());
        assert_eq!(
            moved.entries().map(|(k, _)| k).collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        assert_eq!(trees.load(old).expect("load"), None);
        assert_eq!(trees.load(new).expect("load"), Some(moved));
        assert_eq!(trees.indexed(), 2, "the new id is indexed with the move");
    }

    #[test]
    fn a_renewal_of_a_deleted_session_moves_none_of_its_data() {
        let trees = SessionTrees::temporary();
        let (old, new) = (SessionId::generate(), SessionId::generate());
        stored(trees.create(old, &writing("secret")).expect("create"));
        trees.delete(old).expect("delete");
        let fresh = stored(trees.renew(old, new, &writing("own")).expect("renew"));
        assert_eq!(fresh.entries().map(|(k, _)| k).collect::<Vec<_>>(), ["own"]);
        assert_eq!(fresh.version(), 1);
        let nothing = Changes::new(SessionPolicy::default());
        let other = SessionId::generate();
        assert_eq!(
            trees.renew(old, other, &nothing).expect("renew"),
            Saved::Gone
        );
        assert_eq!(trees.load(other).expect("load"), None);
    }

    /// Every byte of both trees, keys and values.
    fn raw_bytes(trees: &SessionTrees) -> Vec<u8> {
        let mut raw = Vec::new();
        for tree in [&trees.sessions, &trees.expiry] {
            for pair in tree.iter() {
                let (key, value) = pair.expect("read");
                raw.extend_from_slice(&key);
                raw.extend_from_slice(&value);
            }
        }
        raw
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack
            .windows(needle.len())
            .any(|window| window == needle)
    }

    #[test]
    fn the_trees_hold_digests_and_never_an_id() {
        let trees = SessionTrees::temporary();
        let (old, new) = (SessionId::generate(), SessionId::generate());
        stored(trees.create(old, &writing("a")).expect("create"));
        stored(trees.update(old, &writing("b")).expect("update"));
        let kept = SessionId::generate();
        stored(trees.create(kept, &writing("c")).expect("create"));
        stored(trees.renew(old, new, &writing("d")).expect("renew"));

        let raw = raw_bytes(&trees);
        assert!(contains(&raw, new.digest().as_bytes()));
        assert!(contains(&raw, kept.digest().as_bytes()));
        for id in [old, new, kept] {
            assert!(!contains(&raw, id.as_bytes()), "the id's bytes are stored");
            let text = id.to_string();
            assert!(!contains(&raw, text.as_bytes()), "the id's text is stored");
            assert!(!contains(&raw, text.to_uppercase().as_bytes()));
        }
    }

    #[test]
    fn a_renewal_past_the_size_cap_changes_nothing() {
        let trees = SessionTrees::temporary();
        let (old, new) = (SessionId::generate(), SessionId::generate());
        stored(trees.create(old, &writing("a")).expect("create"));
        let mut big = Changes::new(SessionPolicy::default().with_max_size(8));
        big.set("big", "123456789");
        assert!(matches!(
            trees.renew(old, new, &big).expect("renew"),
            Saved::TooLarge(_)
        ));
        assert!(trees.load(old).expect("load").is_some());
        assert_eq!(trees.load(new).expect("load"), None);
    }
}

#[cfg(test)]
mod owners {
    use std::time::Duration;

    use super::*;
    use crate::changes::SessionPolicy;
    use crate::expiry::Expiry;

    fn changes(ttl: Duration) -> Changes {
        let mut changes = Changes::new(SessionPolicy::new(Expiry::OnInactivity(ttl)));
        changes.set("k", "1");
        changes
    }

    fn writing() -> Changes {
        changes(Duration::from_secs(600))
    }

    fn binding(user: &str) -> Changes {
        let mut changes = writing();
        changes.bind(SessionOwner::new(user).with_label("laptop"));
        changes
    }

    fn entries(trees: &SessionTrees) -> Vec<(String, SessionDigest)> {
        trees.owner_entries()
    }

    fn entry(user: &str, id: SessionId) -> (String, SessionDigest) {
        (user.to_owned(), id.digest())
    }

    fn listed(trees: &SessionTrees, user: &str) -> Vec<SessionDigest> {
        let mut listed: Vec<_> = trees
            .sessions_of(user)
            .expect("list")
            .iter()
            .map(UserSession::handle)
            .collect();
        listed.sort();
        listed
    }

    #[test]
    fn the_index_follows_a_bind_a_rebind_and_an_unbind() {
        let trees = SessionTrees::temporary();
        let id = SessionId::generate();
        trees.create(id, &binding("alice")).expect("create");
        assert_eq!(entries(&trees), [entry("alice", id)]);

        trees.update(id, &binding("bob")).expect("rebind");
        assert_eq!(entries(&trees), [entry("bob", id)]);
        assert_eq!(listed(&trees, "alice"), []);
        assert_eq!(listed(&trees, "bob"), [id.digest()]);

        let mut unbinding = writing();
        unbinding.unbind();
        trees.update(id, &unbinding).expect("unbind");
        assert_eq!(entries(&trees), []);
        assert_eq!(listed(&trees, "bob"), []);
    }

    #[test]
    fn a_renewal_moves_the_entry_to_the_new_id() {
        let trees = SessionTrees::temporary();
        let (old, new) = (SessionId::generate(), SessionId::generate());
        trees.create(old, &binding("alice")).expect("create");
        trees.renew(old, new, &writing()).expect("renew");
        assert_eq!(entries(&trees), [entry("alice", new)]);
        assert_eq!(listed(&trees, "alice"), [new.digest()]);
    }

    #[test]
    fn a_renewal_that_binds_indexes_only_the_new_id() {
        let trees = SessionTrees::temporary();
        let (old, new) = (SessionId::generate(), SessionId::generate());
        trees.create(old, &writing()).expect("create");
        trees.renew(old, new, &binding("alice")).expect("renew");
        assert_eq!(entries(&trees), [entry("alice", new)]);
    }

    #[test]
    fn a_delete_and_a_revocation_remove_the_entry() {
        let trees = SessionTrees::temporary();
        let (deleted, revoked) = (SessionId::generate(), SessionId::generate());
        trees.create(deleted, &binding("alice")).expect("create");
        trees.create(revoked, &binding("alice")).expect("create");
        trees.delete(deleted).expect("delete");
        assert_eq!(entries(&trees), [entry("alice", revoked)]);

        assert!(!trees.revoke("bob", revoked.digest()).expect("revoke"));
        assert!(trees.load(revoked).expect("load").is_some());
        assert!(trees.revoke("alice", revoked.digest()).expect("revoke"));
        assert!(!trees.revoke("alice", revoked.digest()).expect("revoke"));
        assert_eq!(trees.load(revoked).expect("load"), None);
        assert_eq!(entries(&trees), []);
    }

    #[test]
    fn the_sweep_of_an_expired_session_removes_its_entry() {
        let trees = SessionTrees::temporary();
        let (short, long) = (SessionId::generate(), SessionId::generate());
        let mut expiring = changes(Duration::from_millis(1));
        expiring.bind(SessionOwner::new("alice"));
        trees.create(short, &expiring).expect("create");
        trees.create(long, &binding("alice")).expect("create");
        std::thread::sleep(Duration::from_millis(5));

        assert_eq!(
            listed(&trees, "alice"),
            [long.digest()],
            "expired: not listed"
        );
        assert!(!trees.revoke("alice", short.digest()).expect("revoke"));
        assert_eq!(
            trees
                .sweep(SystemTime::now() + Duration::from_secs(61))
                .expect("sweep"),
            1
        );
        assert_eq!(entries(&trees), [entry("alice", long)]);
    }

    #[test]
    fn loading_an_expired_session_removes_its_entry() {
        let trees = SessionTrees::temporary();
        let id = SessionId::generate();
        let mut expiring = changes(Duration::from_millis(1));
        expiring.bind(SessionOwner::new("alice"));
        trees.create(id, &expiring).expect("create");
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(trees.load(id).expect("load"), None);
        assert_eq!(entries(&trees), []);
    }

    #[test]
    fn a_save_that_leaves_the_binding_alone_writes_nothing_to_the_owners_tree() {
        let trees = SessionTrees::temporary();
        let (unbound, bound) = (SessionId::generate(), SessionId::generate());
        trees.create(bound, &binding("alice")).expect("create");
        let owners_writes = trees.owners.watch_prefix(Vec::new());

        trees.create(unbound, &writing()).expect("create");
        trees.update(unbound, &writing()).expect("update");
        trees.update(bound, &writing()).expect("update");
        trees.update(bound, &binding("alice")).expect("relabel");
        trees.delete(unbound).expect("delete");
        let mut owners_writes = owners_writes;
        assert!(
            owners_writes
                .next_timeout(Duration::from_millis(50))
                .is_err(),
            "the owners tree was written"
        );

        trees.update(bound, &binding("bob")).expect("rebind");
        assert!(owners_writes.next_timeout(Duration::from_secs(5)).is_ok());
    }

    #[test]
    fn a_listing_shows_the_owners_label_and_times() {
        let trees = SessionTrees::temporary();
        let id = SessionId::generate();
        let Saved::Stored(record) = trees.create(id, &binding("alice")).expect("create") else {
            panic!("not stored");
        };
        let listed = trees.sessions_of("alice").expect("list");
        let expected = UserSession::new(
            id.digest(),
            record.created_at(),
            record.saved_at().expect("bound"),
            record.expires_at(),
            Some("laptop"),
        );
        assert_eq!(listed, [expected]);
    }

    #[test]
    fn users_whose_ids_share_a_prefix_are_listed_apart() {
        let trees = SessionTrees::temporary();
        let (short, long) = (SessionId::generate(), SessionId::generate());
        trees.create(short, &binding("al")).expect("create");
        trees.create(long, &binding("alice")).expect("create");
        assert_eq!(listed(&trees, "al"), [short.digest()]);
        assert_eq!(listed(&trees, "alice"), [long.digest()]);
        assert_eq!(listed(&trees, "a"), []);
    }

    #[test]
    fn a_listing_drops_the_entry_of_a_record_that_was_unreadable_when_deleted() {
        let trees = SessionTrees::temporary();
        let id = SessionId::generate();
        trees.create(id, &binding("alice")).expect("create");
        trees.insert_raw(id, b"garbage").expect("damage");
        assert_eq!(listed(&trees, "alice"), []);
        assert_eq!(
            entries(&trees),
            [entry("alice", id)],
            "the record is still there"
        );
        trees.delete(id).expect("delete");
        assert_eq!(
            entries(&trees),
            [entry("alice", id)],
            "its user could not be read"
        );
        assert_eq!(listed(&trees, "alice"), []);
        assert_eq!(entries(&trees), []);
    }

    #[test]
    fn a_user_id_too_long_to_index_is_an_error_not_a_panic() {
        let trees = SessionTrees::temporary();
        let mut huge = writing();
        huge.bind(SessionOwner::new("u".repeat(70_000)));
        assert!(trees.create(SessionId::generate(), &huge).is_err());
        assert!(trees.sessions_of(&"u".repeat(70_000)).is_err());
        assert_eq!(entries(&trees), []);
        assert!(trees.is_empty());
    }

    /// What [`SessionStore::revoke_all`](crate::SessionStore::revoke_all)'s provided method does:
    /// list and revoke until a listing finds nothing.
    fn revoke_all(trees: &SessionTrees, user: &str) {
        loop {
            let listed = trees.sessions_of(user).expect("list");
            if listed.is_empty() {
                return;
            }
            for session in listed {
                trees.revoke(user, session.handle()).expect("revoke");
            }
        }
    }

    #[test]
    fn no_session_escapes_a_revoke_all_racing_its_renewal() {
        let trees = SessionTrees::temporary();
        for _ in 0..200 {
            // Expired sessions the sweeper has yet to remove put entries all over the user's
            // keys, which a listing reads and passes.
            for _ in 0..8 {
                let mut expired = changes(Duration::from_millis(1));
                expired.bind(SessionOwner::new("alice"));
                trees
                    .create(SessionId::generate(), &expired)
                    .expect("create");
            }
            let (old, new) = (SessionId::generate(), SessionId::generate());
            trees.create(old, &binding("alice")).expect("create");
            std::thread::sleep(Duration::from_millis(2));
            let barrier = Arc::new(std::sync::Barrier::new(2));
            let renewing = {
                let (trees, barrier) = (trees.clone(), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    trees.renew(old, new, &writing()).expect("renew");
                })
            };
            barrier.wait();
            revoke_all(&trees, "alice");
            renewing.join().expect("renew thread");
            assert_eq!(trees.sessions_of("alice").expect("list"), []);
            for id in [old, new] {
                let loaded = trees.load(id).expect("load");
                assert!(
                    loaded.is_none_or(|record| record.owner().is_none()),
                    "{id:?}"
                );
            }
            trees.sweep(SystemTime::now()).expect("sweep");
        }
    }
}
