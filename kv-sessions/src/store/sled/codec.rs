//! The byte layout of a record in a [`SledStore`](super::SledStore)'s sessions tree.
//!
//! ```text
//! format     u8        = FORMAT
//! version    u64 LE
//! created_at u64 LE    milliseconds since the Unix epoch
//! expires_at u64 LE    milliseconds since the Unix epoch
//! expiry     u8        the session's own rule, as a `StoredRule` kind
//! expiry_ms  u64 LE    the `StoredRule` milliseconds
//! count      u32 LE
//! count × { key_len u32 LE, key UTF-8, value_len u32 LE, value UTF-8 (JSON text) }
//! ```
//!
//! Decoding checks every length against the bytes at hand: arbitrary bytes decode to an error,
//! never to a panic or an oversized allocation.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::expiry::{StoredRule, UnknownRule};
use crate::id::SessionId;
use crate::record::Record;

/// The layout version written in the first byte.
const FORMAT: u8 = 1;
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
}

/// Encodes `record` in the layout above.
pub(super) fn encode(record: &Record) -> Vec<u8> {
    let body: usize = record.entries().map(|(k, v)| 8 + k.len() + v.len()).sum();
    let mut out = Vec::with_capacity(HEADER_LEN + body);
    out.push(FORMAT);
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
    out
}

/// Where `expires_at` sits in an encoded record.
const EXPIRES_AT: std::ops::Range<usize> = 17..25;

/// The deadline of an encoded record, in milliseconds since the Unix epoch, read without decoding
/// the rest; `None` where the bytes are not a record of this layout.
pub(super) fn expires_at_millis(bytes: &[u8]) -> Option<u64> {
    check_format(bytes).ok()?;
    bytes.get(EXPIRES_AT).map(|b| u64::from_le_bytes(array(b)))
}

/// Decodes the record of session `id` from `bytes`.
pub(super) fn decode(id: SessionId, bytes: &[u8]) -> Result<Record, DecodeError> {
    check_format(bytes)?;
    let mut reader = Reader { rest: &bytes[1..] };
    let version = reader.u64()?;
    let created_at = from_millis(reader.u64()?);
    let expires_at = from_millis(reader.u64()?);
    let kind = reader.take(1)?[0];
    let expiry = StoredRule {
        kind,
        millis: reader.u64()?,
    }
    .rule()?;
    let count = reader.u32()?;
    // Each entry takes at least 8 bytes, so the count cannot reserve more than the bytes allow.
    let room = usize::try_from(count).map_or(0, |count| count.min(reader.rest.len() / 8));
    let mut entries = Vec::with_capacity(room);
    for _ in 0..count {
        let key = reader.text()?;
        let value = reader.text()?;
        entries.push((key, value));
    }
    if !reader.rest.is_empty() {
        return Err(DecodeError::TrailingBytes(reader.rest.len()));
    }
    Ok(Record::new(id, version, created_at, expires_at, entries).with_expiry(expiry))
}

/// Checks the first byte, which names the layout.
fn check_format(bytes: &[u8]) -> Result<(), DecodeError> {
    match bytes.first() {
        None => Err(DecodeError::Empty),
        Some(&FORMAT) => Ok(()),
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

    fn u32(&mut self) -> Result<u32, DecodeError> {
        self.take(4).map(|b| u32::from_le_bytes(array(b)))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        self.take(8).map(|b| u64::from_le_bytes(array(b)))
    }

    fn text(&mut self) -> Result<String, DecodeError> {
        let len = usize::try_from(self.u32()?).map_err(|_| DecodeError::Truncated)?;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::NotUtf8)
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

    #[test]
    fn records_round_trip() {
        let record = sample();
        let bytes = encode(&record);
        assert_eq!(decode(record.id(), &bytes), Ok(record));
    }

    #[test]
    fn the_deadline_reads_without_decoding() {
        let record = sample();
        assert_eq!(expires_at_millis(&encode(&record)), Some(9_000));
        assert_eq!(expires_at_millis(&[]), None);
        assert_eq!(expires_at_millis(&[FORMAT, 0, 0]), None);
        assert_eq!(expires_at_millis(&[FORMAT + 1; HEADER_LEN]), None);
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
}
