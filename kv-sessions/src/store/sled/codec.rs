//! The byte layout of a record in a [`SledStore`](super::SledStore)'s sessions tree.
//!
//! ```text
//! format     u8        = UNBOUND (1) for a session bound to no one, BOUND (2) for a bound one
//! version    u64 LE
//! created_at u64 LE    milliseconds since the Unix epoch
//! expires_at u64 LE    milliseconds since the Unix epoch
//! expiry     u8        the session's own rule, as a `StoredRule` kind
//! expiry_ms  u64 LE    the `StoredRule` milliseconds
//! count      u32 LE
//! count × { key_len u32 LE, key UTF-8, value_len u32 LE, value UTF-8 (JSON text) }
//! only under format BOUND, the owner section:
//!   user_len  u32 LE, user UTF-8
//!   label     u8 (0: none, 1: one follows), then where 1: label_len u32 LE, label UTF-8
//!   saved_at  u64 LE   milliseconds since the Unix epoch
//! ```
//!
//! An unbound record is written in format 1, the layout of the builds before binding existed,
//! so it costs no byte more than it did, and records those builds wrote read as unbound ones.
//!
//! Decoding checks every length against the bytes at hand: arbitrary bytes decode to an error,
//! never to a panic or an oversized allocation.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::expiry::{Expiry, StoredRule, UnknownRule};
use crate::id::SessionId;
use crate::owner::SessionOwner;
use crate::record::Record;

/// The layout of a record bound to no one, the only one before binding existed.
const UNBOUND: u8 = 1;
/// The layout of a record bound to a user: [`UNBOUND`]'s, followed by the owner section.
const BOUND: u8 = 2;
/// Bytes before the first entry.
const HEADER_LEN: usize = 1 + 8 + 8 + 8 + 1 + 8 + 4;

/// Why stored bytes are not a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum DecodeError {
    #[error("stored record is empty")]
    Empty,
    #[error("stored record has unknown format {0}")]
    UnknownFormat(u8),
    #[error("stored record is truncated")]
    Truncated,
    #[error("stored record has {0} bytes after its last entry")]
    TrailingBytes(usize),
    #[error("stored record holds text that is not UTF-8")]
    NotUtf8,
    #[error("stored record has an {0}")]
    UnknownExpiry(#[from] UnknownRule),
    #[error("stored record's owner has a label flag of {0}, neither 0 nor 1")]
    UnknownLabelFlag(u8),
}

/// What a listing, a revocation or a sweep needs of a record, read without copying its entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Summary {
    pub(super) created_at: SystemTime,
    pub(super) expires_at: SystemTime,
    /// The owner and the time of the last save, for a bound record.
    pub(super) bound: Option<(SessionOwner, SystemTime)>,
}

impl Summary {
    /// The user the record is bound to, if any.
    pub(super) fn user(&self) -> Option<&str> {
        self.bound.as_ref().map(|(owner, _)| owner.user())
    }
}

/// Encodes `record` in the layout above.
pub(super) fn encode(record: &Record) -> Vec<u8> {
    let body: usize = record.entries().map(|(k, v)| 8 + k.len() + v.len()).sum();
    let owner = record.owner().map_or(0, |owner| {
        4 + owner.user().len() + 1 + owner.label().map_or(0, |label| 4 + label.len()) + 8
    });
    let mut out = Vec::with_capacity(HEADER_LEN + body + owner);
    out.push(if record.owner().is_some() {
        BOUND
    } else {
        UNBOUND
    });
    out.extend_from_slice(&record.version().to_le_bytes());
    out.extend_from_slice(&to_millis(record.created_at()).to_le_bytes());
    out.extend_from_slice(&to_millis(record.expires_at()).to_le_bytes());
    let rule = StoredRule::of(record.expiry());
    out.push(rule.kind);
    out.extend_from_slice(&rule.millis.to_le_bytes());
    out.extend_from_slice(&len_u32(record.len()).to_le_bytes());
    for (key, value) in record.entries() {
        put_text(&mut out, key);
        put_text(&mut out, value);
    }
    if let (Some(owner), Some(saved_at)) = (record.owner(), record.saved_at()) {
        put_owner(&mut out, owner, saved_at);
    }
    out
}

/// Appends the owner section.
fn put_owner(out: &mut Vec<u8>, owner: &SessionOwner, saved_at: SystemTime) {
    put_text(out, owner.user());
    match owner.label() {
        None => out.push(0),
        Some(label) => {
            out.push(1);
            put_text(out, label);
        }
    }
    out.extend_from_slice(&to_millis(saved_at).to_le_bytes());
}

/// Where `expires_at` sits in an encoded record, in either format.
const EXPIRES_AT: std::ops::Range<usize> = 17..25;

/// The deadline of an encoded record, in milliseconds since the Unix epoch, read without decoding
/// the rest; `None` where the bytes are not a record of this layout.
pub(super) fn expires_at_millis(bytes: &[u8]) -> Option<u64> {
    check_format(bytes).ok()?;
    bytes.get(EXPIRES_AT).map(|b| u64::from_le_bytes(array(b)))
}

/// Decodes the record of session `id` from `bytes`.
pub(super) fn decode(id: SessionId, bytes: &[u8]) -> Result<Record, DecodeError> {
    let mut entries = Vec::new();
    let parts = parse(bytes, |key, value| {
        entries.push((key.to_owned(), value.to_owned()));
    })?;
    let record = Record::new(
        id,
        parts.version,
        parts.summary.created_at,
        parts.summary.expires_at,
        entries,
    )
    .with_expiry(parts.expiry);
    Ok(match parts.summary.bound {
        Some((owner, saved_at)) => record.with_owner(owner, saved_at),
        None => record,
    })
}

/// Reads the times and the owner of a record from `bytes`, with every check [`decode`] makes,
/// but without copying an entry.
pub(super) fn summary(bytes: &[u8]) -> Result<Summary, DecodeError> {
    parse(bytes, |_, _| {}).map(|parts| parts.summary)
}

/// A record's fields, but for its entries, which [`parse`] hands to its caller one by one.
struct Parts {
    version: u64,
    expiry: Option<Expiry>,
    summary: Summary,
}

/// Reads a record in either format, handing each entry to `entry` as it goes.
fn parse<'a>(
    bytes: &'a [u8],
    mut entry: impl FnMut(&'a str, &'a str),
) -> Result<Parts, DecodeError> {
    let bound = check_format(bytes)? == BOUND;
    let mut reader = Reader { rest: &bytes[1..] };
    let version = reader.u64()?;
    let created_at = from_millis(reader.u64()?);
    let expires_at = from_millis(reader.u64()?);
    let kind = reader.u8()?;
    let expiry = StoredRule {
        kind,
        millis: reader.u64()?,
    }
    .rule()?;
    // The count is only trusted as far as the bytes back it: each entry is read, and checked,
    // before the next.
    for _ in 0..reader.u32()? {
        let key = reader.text()?;
        let value = reader.text()?;
        entry(key, value);
    }
    let bound = if bound { Some(reader.owner()?) } else { None };
    if !reader.rest.is_empty() {
        return Err(DecodeError::TrailingBytes(reader.rest.len()));
    }
    Ok(Parts {
        version,
        expiry,
        summary: Summary {
            created_at,
            expires_at,
            bound,
        },
    })
}

/// Checks the first byte, which names the layout, and returns it.
fn check_format(bytes: &[u8]) -> Result<u8, DecodeError> {
    match bytes.first() {
        None => Err(DecodeError::Empty),
        Some(&format @ (UNBOUND | BOUND)) => Ok(format),
        Some(&other) => Err(DecodeError::UnknownFormat(other)),
    }
}

/// A cursor over bytes being decoded.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let (head, tail) = self
            .rest
            .split_at_checked(n)
            .ok_or(DecodeError::Truncated)?;
        self.rest = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        self.take(1).map(|b| b[0])
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        self.take(4).map(|b| u32::from_le_bytes(array(b)))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        self.take(8).map(|b| u64::from_le_bytes(array(b)))
    }

    fn text(&mut self) -> Result<&'a str, DecodeError> {
        let len = usize::try_from(self.u32()?).map_err(|_| DecodeError::Truncated)?;
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes).map_err(|_| DecodeError::NotUtf8)
    }

    fn owner(&mut self) -> Result<(SessionOwner, SystemTime), DecodeError> {
        let user = self.text()?;
        let label = match self.u8()? {
            0 => None,
            1 => Some(self.text()?),
            flag => return Err(DecodeError::UnknownLabelFlag(flag)),
        };
        let saved_at = from_millis(self.u64()?);
        let owner = SessionOwner::new(user);
        let owner = match label {
            Some(label) => owner.with_label(label),
            None => owner,
        };
        Ok((owner, saved_at))
    }
}

/// Copies a slice whose length was checked by the caller into an array.
fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(bytes);
    out
}

/// Appends a length-prefixed string.
fn put_text(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(&len_u32(text.len()).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
}

/// A length as stored. Lengths past `u32::MAX` cannot occur: the session layer caps record sizes
/// far below 4 GiB.
fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// Milliseconds since the Unix epoch, saturating at both ends.
pub(super) fn to_millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The moment `millis` milliseconds after the Unix epoch.
pub(super) fn from_millis(millis: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(millis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expiry::Expiry;

    fn sample() -> Record {
        let entries = [("cart.items", "[1,2]"), ("name", "\"é\"")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()));
        Record::new(
            SessionId::generate(),
            7,
            from_millis(1_000),
            from_millis(9_000),
            entries,
        )
        .with_expiry(Some(Expiry::OnInactivity(Duration::from_secs(30 * 86_400))))
    }

    /// [`sample`], bound to a user with a label.
    fn bound() -> Record {
        let owner = SessionOwner::new("user-42").with_label("Firefox on Linux");
        sample().with_owner(owner, from_millis(5_000))
    }

    #[test]
    fn records_round_trip() {
        let record = sample();
        let bytes = encode(&record);
        assert_eq!(decode(record.id(), &bytes), Ok(record));
    }

    #[test]
    fn bound_records_round_trip_with_and_without_a_label() {
        let labelled = bound();
        let unlabelled = sample().with_owner(SessionOwner::new("é"), from_millis(5_000));
        for record in [labelled, unlabelled] {
            let bytes = encode(&record);
            assert_eq!(bytes[0], BOUND);
            assert_eq!(decode(record.id(), &bytes), Ok(record.clone()));
            let summary = summary(&bytes).expect("summary");
            assert_eq!(summary.created_at, record.created_at());
            assert_eq!(summary.expires_at, record.expires_at());
            let owner = record.owner().cloned().expect("bound");
            assert_eq!(summary.bound, Some((owner, from_millis(5_000))));
        }
    }

    #[test]
    fn an_unbound_record_costs_no_byte_more_than_format_1() {
        let record = sample();
        let bytes = encode(&record);
        assert_eq!(bytes[0], UNBOUND);
        let entries: usize = record.entries().map(|(k, v)| 8 + k.len() + v.len()).sum();
        assert_eq!(bytes.len(), HEADER_LEN + entries);
        assert_eq!(summary(&bytes).expect("summary").bound, None);
    }

    #[test]
    fn format_1_bytes_written_before_binding_still_decode() {
        // A record as the builds before binding wrote it: version 3, created at 1 s, expiring at
        // 2 s, no rule of its own, one entry "a" = "1".
        let mut bytes = vec![1];
        bytes.extend_from_slice(&3u64.to_le_bytes());
        bytes.extend_from_slice(&1_000u64.to_le_bytes());
        bytes.extend_from_slice(&2_000u64.to_le_bytes());
        bytes.push(0);
        bytes.extend_from_slice(&0u64.to_le_bytes());
        bytes.extend_from_slice(&1u32.to_le_bytes());
        bytes.extend_from_slice(&[1, 0, 0, 0, b'a', 1, 0, 0, 0, b'1']);
        let id = SessionId::generate();
        let expected = Record::new(
            id,
            3,
            from_millis(1_000),
            from_millis(2_000),
            [("a".to_string(), "1".to_string())],
        );
        assert_eq!(decode(id, &bytes), Ok(expected.clone()));
        assert_eq!(
            encode(&expected),
            bytes,
            "and unbound records are still written so"
        );
    }

    #[test]
    fn every_truncation_of_a_bound_record_is_an_error() {
        let record = bound();
        let bytes = encode(&record);
        for len in 0..bytes.len() {
            assert!(decode(record.id(), &bytes[..len]).is_err(), "len {len}");
            assert!(summary(&bytes[..len]).is_err(), "len {len}");
        }
    }

    #[test]
    fn a_damaged_owner_section_is_reported_not_panicked_on() {
        let record = bound();
        let id = record.id();
        let unbound_len = encode(&sample()).len();
        // A format 2 record whose owner section is missing altogether.
        let mut missing = encode(&sample());
        missing[0] = BOUND;
        assert_eq!(decode(id, &missing), Err(DecodeError::Truncated));
        // A format 1 record followed by an owner section has trailing bytes.
        let mut unflagged = encode(&record);
        unflagged[0] = UNBOUND;
        assert!(matches!(
            decode(id, &unflagged),
            Err(DecodeError::TrailingBytes(_))
        ));
        // A user length past the end of the record.
        let mut huge_user = encode(&record);
        huge_user[unbound_len..unbound_len + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(decode(id, &huge_user), Err(DecodeError::Truncated));
        // A label flag that is neither 0 nor 1.
        let mut bad_flag = encode(&record);
        let flag = unbound_len + 4 + "user-42".len();
        bad_flag[flag] = 7;
        assert_eq!(decode(id, &bad_flag), Err(DecodeError::UnknownLabelFlag(7)));
        assert_eq!(summary(&bad_flag), Err(DecodeError::UnknownLabelFlag(7)));
        // A user that is not UTF-8.
        let mut not_utf8 = encode(&record);
        not_utf8[unbound_len + 4] = 0xff;
        assert_eq!(decode(id, &not_utf8), Err(DecodeError::NotUtf8));
    }

    #[test]
    fn the_deadline_reads_without_decoding() {
        let record = sample();
        assert_eq!(expires_at_millis(&encode(&record)), Some(9_000));
        assert_eq!(expires_at_millis(&[]), None);
        assert_eq!(expires_at_millis(&encode(&bound())), Some(9_000));
        assert_eq!(expires_at_millis(&[]), None);
        assert_eq!(expires_at_millis(&[UNBOUND, 0, 0]), None);
        assert_eq!(expires_at_millis(&[BOUND, 0, 0]), None);
        assert_eq!(expires_at_millis(&[BOUND + 1; HEADER_LEN]), None);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let record = sample();
        let bytes = encode(&record);
        for len in 0..bytes.len() {
            assert!(decode(record.id(), &bytes[..len]).is_err(), "len {len}");
        }
    }

    #[test]
    fn bad_bytes_are_reported_not_panicked_on() {
        let id = SessionId::generate();
        assert_eq!(decode(id, &[]), Err(DecodeError::Empty));
        assert_eq!(decode(id, &[9, 1, 2]), Err(DecodeError::UnknownFormat(9)));
        let mut huge_count = encode(&sample());
        huge_count[HEADER_LEN - 4..HEADER_LEN].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode(id, &huge_count).is_err());
        let mut trailing = encode(&sample());
        trailing.push(0);
        assert_eq!(decode(id, &trailing), Err(DecodeError::TrailingBytes(1)));
        let mut not_utf8 = encode(&sample());
        let last = not_utf8.len() - 1;
        not_utf8[last] = 0xff;
        assert_eq!(decode(id, &not_utf8), Err(DecodeError::NotUtf8));
    }

    #[test]
    fn every_expiry_rule_round_trips() {
        let day = Duration::from_secs(86_400);
        for expiry in [
            None,
            Some(Expiry::OnInactivity(day)),
            Some(Expiry::AtDateTime(from_millis(1_700_000_000_000))),
            Some(Expiry::OnSessionEnd(day)),
        ] {
            let record = sample().with_expiry(expiry);
            assert_eq!(decode(record.id(), &encode(&record)), Ok(record));
        }
        let mut unknown = encode(&sample());
        unknown[HEADER_LEN - 13] = 9;
        assert_eq!(
            decode(sample().id(), &unknown),
            Err(DecodeError::UnknownExpiry(UnknownRule(9)))
        );
    }

    #[test]
    fn times_saturate_instead_of_overflowing() {
        assert_eq!(to_millis(UNIX_EPOCH - Duration::from_secs(1)), 0);
        assert_eq!(to_millis(from_millis(123)), 123);
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn arbitrary_bytes_decode_to_a_record_or_an_error(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode(SessionId::generate(), &bytes);
        }

        #[test]
        fn damaged_records_decode_to_a_record_or_an_error(
            entries in proptest::collection::btree_map(".{0,12}", ".{0,24}", 0..8),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        ) {
            let record = Record::new(SessionId::generate(), 1, from_millis(0), from_millis(1), entries);
            let mut bytes = encode(&record);
            for (index, value) in flips {
                let at = index.index(bytes.len());
                bytes[at] = value;
            }
            let _ = decode(record.id(), &bytes);
        }

        #[test]
        fn damaged_bound_records_decode_to_a_record_or_an_error(
            entries in proptest::collection::btree_map(".{0,12}", ".{0,24}", 0..4),
            user in ".{1,16}",
            label in proptest::option::of(".{0,16}"),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
            cut in any::<prop::sample::Index>(),
        ) {
            let record = bound_record(entries, user, label, 0);
            let mut bytes = encode(&record);
            for (index, value) in flips {
                let at = index.index(bytes.len());
                bytes[at] = value;
            }
            let _ = decode(record.id(), &bytes);
            let _ = summary(&bytes);
            bytes.truncate(cut.index(bytes.len()));
            let _ = decode(record.id(), &bytes);
            let _ = summary(&bytes);
        }

        #[test]
        fn any_bound_record_round_trips(
            entries in proptest::collection::btree_map(".{0,12}", ".{0,24}", 0..8),
            user in ".{1,32}",
            label in proptest::option::of(".{0,32}"),
            saved_at in 0..u64::MAX / 2,
        ) {
            let record = bound_record(entries, user, label, saved_at);
            prop_assert_eq!(decode(record.id(), &encode(&record)), Ok(record));
        }

        #[test]
        fn any_record_round_trips(
            entries in proptest::collection::btree_map(".{0,12}", ".{0,24}", 0..8),
            version in any::<u64>(),
            created in 0..u64::MAX / 2,
            expires in 0..u64::MAX / 2,
        ) {
            let record = Record::new(SessionId::generate(), version, from_millis(created), from_millis(expires), entries);
            prop_assert_eq!(decode(record.id(), &encode(&record)), Ok(record));
        }
    }

    fn bound_record(
        entries: std::collections::BTreeMap<String, String>,
        user: String,
        label: Option<String>,
        saved_at: u64,
    ) -> Record {
        let owner = SessionOwner::new(user);
        let owner = match label {
            Some(label) => owner.with_label(label),
            None => owner,
        };
        Record::new(
            SessionId::generate(),
            1,
            from_millis(0),
            from_millis(1),
            entries,
        )
        .with_owner(owner, from_millis(saved_at))
    }
}
