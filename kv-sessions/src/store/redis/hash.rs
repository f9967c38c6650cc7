//! The Redis hash that holds one session: its field names, and the conversions between a
//! [`Record`] and the hash's fields.
//!
//! ```text
//! meta        "7:1767225600000:1767229200000"    saves so far, creation time, deadline
//! rule        "on_inactivity:2592000.000000000"    the session's own rule, exactly; absent for the default
//! rule_ms     "idle:2592000000"              the same rule as the scripts compute with; absent with `rule`
//! k:<key>     "<JSON text>"                  one field per entry
//! ```
//!
//! Every entry's field starts with [`ENTRY`] and no metadata field does, so no session key can
//! collide with the metadata, whatever it spells. The scripts read these names from a prelude
//! generated from the constants below, so this module is their one owner.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::RedisWrite;

use crate::expiry::Expiry;
use crate::id::SessionId;
use crate::record::Record;

/// The field holding the number of saves, the creation time and the deadline, in decimal and
/// separated by `:`, the times in milliseconds since the Unix epoch. One field rather than three:
/// every load reads it and every save writes it, and Redis's work grows with the fields a
/// command carries.
pub(super) const META: &str = "meta";
/// The field holding the session's own rule, exactly, for [`Record::expiry`].
pub(super) const RULE: &str = "rule";
/// The field holding the session's own rule in whole milliseconds, for the scripts' arithmetic.
pub(super) const RULE_MS: &str = "rule_ms";
/// What every entry's field starts with, followed by the entry's key.
pub(super) const ENTRY: &str = "k:";

/// The largest whole number that the scripts' Lua numbers (doubles) hold exactly: every time they
/// compute with is kept at or below it, a moment some 285,000 years from now.
pub(super) const MAX_SAFE_MS: u64 = (1 << 53) - 1;
/// [`Expiry::LONGEST`] in milliseconds.
pub(super) const LONGEST_MS: u64 = Expiry::LONGEST.as_secs() * 1000;

/// A field of a hash as Redis returns it: its name and its value, as bytes.
pub(super) type RawField = (Vec<u8>, Vec<u8>);

/// Why a hash read from Redis is not a session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum DecodeError {
    #[error("the session hash has no `{0}` field")]
    Missing(&'static str),
    #[error("the session hash's `{0}` field is malformed")]
    Malformed(&'static str),
    #[error("the session hash has a field that is neither metadata nor an entry: {0:?}")]
    UnknownField(String),
    #[error("the session hash holds text that is not UTF-8")]
    NotUtf8,
    #[error("a session script returned a hash with an odd number of elements")]
    OddLength,
}

/// Writes the fields of the hash that stores `record` to `out`, each name then its value: as
/// arguments of a command, straight into its buffer.
pub(super) fn write_fields(record: &Record, out: &mut impl RedisWrite) {
    out.write_arg(META.as_bytes());
    out.write_arg_fmt(Meta(record));
    if let Some(rule) = record.expiry() {
        out.write_arg(RULE.as_bytes());
        out.write_arg(rule_text(rule).as_bytes());
        out.write_arg(RULE_MS.as_bytes());
        out.write_arg(rule_ms(rule).as_bytes());
    }
    for (key, json) in record.entries() {
        out.write_arg_fmt(format_args!("{ENTRY}{key}"));
        out.write_arg(json.as_bytes());
    }
}

/// The value of the [`META`] field of the hash that stores a record.
pub(super) struct Meta<'r>(pub(super) &'r Record);

impl std::fmt::Display for Meta<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let record = self.0;
        write!(
            f,
            "{}:{}:{}",
            record.version(),
            millis(record.created_at()),
            millis(record.expires_at())
        )
    }
}

/// The fields of the hash that stores `record`, each a name and its value.
#[cfg(test)]
pub(super) fn fields(record: &Record) -> Vec<(String, String)> {
    let mut flat: Vec<Vec<u8>> = Vec::new();
    write_fields(record, &mut flat);
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).expect("UTF-8");
    let mut flat = flat.into_iter().map(text);
    std::iter::from_fn(|| Some((flat.next()?, flat.next()?))).collect()
}

/// The session `id` from the fields of its hash, in any order.
pub(super) fn decode(
    id: SessionId,
    fields: impl IntoIterator<Item = RawField>,
) -> Result<Record, DecodeError> {
    let mut meta = Metadata::default();
    let mut entries = Vec::new();
    for (name, value) in fields {
        let name = String::from_utf8(name).map_err(|_| DecodeError::NotUtf8)?;
        let value = String::from_utf8(value).map_err(|_| DecodeError::NotUtf8)?;
        match name.strip_prefix(ENTRY) {
            Some(key) => entries.push((key.to_owned(), value)),
            None => meta.set(name, value)?,
        }
    }
    meta.into_record(id, entries)
}

/// Pairs up a hash returned by a script as one flat list of names and values.
pub(super) fn pairs(flat: Vec<Vec<u8>>) -> Result<Vec<RawField>, DecodeError> {
    if !flat.len().is_multiple_of(2) {
        return Err(DecodeError::OddLength);
    }
    let mut items = flat.into_iter();
    Ok(std::iter::from_fn(|| Some((items.next()?, items.next()?))).collect())
}

/// The metadata fields of a hash, as read.
#[derive(Default)]
struct Metadata {
    meta: Option<String>,
    rule: Option<String>,
    rule_ms: Option<String>,
}

impl Metadata {
    fn set(&mut self, name: String, value: String) -> Result<(), DecodeError> {
        let slot = match name.as_str() {
            META => &mut self.meta,
            RULE => &mut self.rule,
            RULE_MS => &mut self.rule_ms,
            _ => return Err(DecodeError::UnknownField(name)),
        };
        *slot = Some(value);
        Ok(())
    }

    fn into_record(
        self,
        id: SessionId,
        entries: Vec<(String, String)>,
    ) -> Result<Record, DecodeError> {
        let meta = self.meta.ok_or(DecodeError::Missing(META))?;
        let (version, created_at, expires_at) =
            parse_meta(&meta).ok_or(DecodeError::Malformed(META))?;
        let (created_at, expires_at) = (from_millis(created_at), from_millis(expires_at));
        let rule = match (self.rule, self.rule_ms) {
            (None, None) => None,
            (Some(text), Some(ms)) => {
                let rule = parse_rule(&text).ok_or(DecodeError::Malformed(RULE))?;
                // The scripts compute with `rule_ms` alone: one that disagrees with `rule` would
                // give deadlines the record does not explain.
                if ms != rule_ms(rule) {
                    return Err(DecodeError::Malformed(RULE_MS));
                }
                Some(rule)
            }
            (Some(_), None) => return Err(DecodeError::Missing(RULE_MS)),
            (None, Some(_)) => return Err(DecodeError::Missing(RULE)),
        };
        Ok(Record::new(id, version, created_at, expires_at, entries).with_expiry(rule))
    }
}

/// The version, creation time and deadline that [`Meta`] wrote: three numbers of decimal digits
/// only, as the scripts accept them, separated by `:`.
fn parse_meta(text: &str) -> Option<(u64, u64, u64)> {
    let mut numbers = text.split(':').map(digits);
    let meta = (numbers.next()??, numbers.next()??, numbers.next()??);
    numbers.next().is_none().then_some(meta)
}

/// `text` as a number, where it is nothing but decimal digits (Rust's parser would also take a
/// leading `+`, which the scripts refuse).
fn digits(text: &str) -> Option<u64> {
    let all_digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    all_digits.then(|| text.parse().ok()).flatten()
}

/// A rule exactly, to the nanosecond, so that a record reads back equal to the one saved:
/// `on_inactivity:<secs>.<nanos>`, `on_session_end:<secs>.<nanos>` or
/// `at_date_time:<secs>.<nanos>` since the Unix epoch, with a `-` before instants before it.
pub(super) fn rule_text(rule: Expiry) -> String {
    let exact = |d: Duration| format!("{}.{:09}", d.as_secs(), d.subsec_nanos());
    match rule {
        Expiry::OnInactivity(idle) => format!("on_inactivity:{}", exact(idle)),
        Expiry::OnSessionEnd(idle) => format!("on_session_end:{}", exact(idle)),
        Expiry::AtDateTime(at) => match at.duration_since(UNIX_EPOCH) {
            Ok(after) => format!("at_date_time:{}", exact(after)),
            Err(before) => format!("at_date_time:-{}", exact(before.duration())),
        },
    }
}

/// The rule written by [`rule_text`].
fn parse_rule(text: &str) -> Option<Expiry> {
    let (kind, value) = text.split_once(':')?;
    match kind {
        "on_inactivity" => Some(Expiry::OnInactivity(parse_duration(value)?)),
        "on_session_end" => Some(Expiry::OnSessionEnd(parse_duration(value)?)),
        "at_date_time" => match value.strip_prefix('-') {
            Some(before) => UNIX_EPOCH.checked_sub(parse_duration(before)?),
            None => UNIX_EPOCH.checked_add(parse_duration(value)?),
        }
        .map(Expiry::AtDateTime),
        _ => None,
    }
}

/// `<secs>.<nanos>`, with exactly nine digits of nanoseconds.
fn parse_duration(text: &str) -> Option<Duration> {
    let (secs, nanos) = text.split_once('.')?;
    if nanos.len() != 9 {
        return None;
    }
    Some(Duration::new(
        digits(secs)?,
        u32::try_from(digits(nanos)?).ok()?,
    ))
}

/// A rule as the scripts compute a deadline from it, in whole milliseconds:
///
/// - `idle:<ms>` for the idle rules: the deadline lies `ms` after now, with `ms` cut to
///   [`Expiry::LONGEST`], as [`SessionPolicy::deadline`](crate::SessionPolicy::deadline) cuts it;
/// - `at:<ms>` for a fixed instant, taken to be the epoch where it lies before it and cut to
///   [`MAX_SAFE_MS`] far beyond the [`Expiry::LONGEST`] cap, neither of which changes a deadline.
pub(super) fn rule_ms(rule: Expiry) -> String {
    match rule {
        Expiry::OnInactivity(idle) | Expiry::OnSessionEnd(idle) => {
            let idle = u64::try_from(idle.as_millis()).unwrap_or(u64::MAX);
            format!("idle:{}", idle.min(LONGEST_MS))
        }
        Expiry::AtDateTime(at) => format!("at:{}", millis(at)),
    }
}

/// Whole milliseconds since the Unix epoch, rounded down: 0 before the epoch, and at most
/// [`MAX_SAFE_MS`].
pub(super) fn millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |since| {
        u64::try_from(since.as_millis()).map_or(MAX_SAFE_MS, |ms| ms.min(MAX_SAFE_MS))
    })
}

/// The moment `ms` milliseconds after the Unix epoch.
pub(super) fn from_millis(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(expiry: Option<Expiry>) -> Record {
        let entries = [("cart.items", "[1,2]"), ("name", "\"é\""), ("version", "1")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()));
        Record::new(
            SessionId::generate(),
            7,
            from_millis(1_000),
            from_millis(9_000),
            entries,
        )
        .with_expiry(expiry)
    }

    fn bytes(fields: Vec<(String, String)>) -> Vec<RawField> {
        fields
            .into_iter()
            .map(|(name, value)| (name.into_bytes(), value.into_bytes()))
            .collect()
    }

    fn without(fields: Vec<(String, String)>, name: &str) -> Vec<RawField> {
        bytes(fields.into_iter().filter(|(n, _)| n != name).collect())
    }

    fn with(mut fields: Vec<(String, String)>, name: &str, value: &str) -> Vec<RawField> {
        fields.retain(|(n, _)| n != name);
        fields.push((name.to_owned(), value.to_owned()));
        bytes(fields)
    }

    #[test]
    fn every_rule_round_trips_to_the_nanosecond() {
        let before_epoch = UNIX_EPOCH - Duration::new(5, 7);
        let rules = [
            None,
            Some(Expiry::OnInactivity(Duration::from_secs(60))),
            Some(Expiry::OnInactivity(Duration::MAX)),
            Some(Expiry::OnSessionEnd(Duration::new(3, 999_999_999))),
            Some(Expiry::AtDateTime(
                from_millis(1_767_225_600_123) + Duration::from_nanos(4),
            )),
            Some(Expiry::AtDateTime(before_epoch)),
            Some(Expiry::AtDateTime(
                UNIX_EPOCH + Duration::from_secs(i64::MAX as u64 / 2),
            )),
        ];
        for rule in rules {
            let record = record(rule);
            let decoded = decode(record.id(), bytes(fields(&record)));
            assert_eq!(decoded, Ok(record), "{rule:?}");
        }
    }

    #[test]
    fn a_key_spelled_like_metadata_stays_an_entry() {
        let record = record(None);
        let fields = fields(&record);
        assert!(fields.contains(&("k:version".to_owned(), "1".to_owned())));
        assert!(fields.contains(&("meta".to_owned(), "7:1000:9000".to_owned())));
        assert_eq!(
            decode(record.id(), bytes(fields)).unwrap().get("version"),
            Some("1")
        );
    }

    #[test]
    fn missing_or_malformed_metadata_is_a_decode_error() {
        let rule = Some(Expiry::OnInactivity(Duration::from_secs(60)));
        let record = record(rule);
        let id = record.id();
        let fields = || fields(&record);
        let cases = [
            (without(fields(), META), DecodeError::Missing(META)),
            (without(fields(), RULE_MS), DecodeError::Missing(RULE_MS)),
            (without(fields(), RULE), DecodeError::Missing(RULE)),
            (with(fields(), META, "+7:1:2"), DecodeError::Malformed(META)),
            (
                with(fields(), META, "7:1e3:2"),
                DecodeError::Malformed(META),
            ),
            (with(fields(), META, "7:1:"), DecodeError::Malformed(META)),
            (with(fields(), META, "7:1"), DecodeError::Malformed(META)),
            (
                with(fields(), META, "7:1:2:3"),
                DecodeError::Malformed(META),
            ),
            (with(fields(), META, ""), DecodeError::Malformed(META)),
            (
                with(fields(), RULE, "forever:1"),
                DecodeError::Malformed(RULE),
            ),
            (
                with(fields(), RULE, "on_inactivity:60"),
                DecodeError::Malformed(RULE),
            ),
            (
                with(fields(), RULE_MS, "idle:1"),
                DecodeError::Malformed(RULE_MS),
            ),
            (
                with(fields(), "owner", "x"),
                DecodeError::UnknownField("owner".to_owned()),
            ),
        ];
        for (hash, error) in cases {
            assert_eq!(decode(id, hash), Err(error.clone()), "{error}");
        }
    }

    #[test]
    fn text_that_is_not_utf8_is_a_decode_error() {
        let record = record(None);
        let mut value = bytes(fields(&record));
        value.push((b"k:a".to_vec(), vec![0xff]));
        assert_eq!(decode(record.id(), value), Err(DecodeError::NotUtf8));
        let mut name = bytes(fields(&record));
        name.push((vec![b'k', b':', 0xc0], b"1".to_vec()));
        assert_eq!(decode(record.id(), name), Err(DecodeError::NotUtf8));
    }

    #[test]
    fn a_flat_reply_pairs_up_or_is_refused() {
        let flat = ["a", "1", "b", "2"].map(|s| s.as_bytes().to_vec()).to_vec();
        assert_eq!(
            pairs(flat.clone()),
            Ok(vec![
                (b"a".to_vec(), b"1".to_vec()),
                (b"b".to_vec(), b"2".to_vec())
            ])
        );
        assert_eq!(pairs(flat[..3].to_vec()), Err(DecodeError::OddLength));
    }

    #[test]
    fn script_rules_are_whole_milliseconds_within_the_caps() {
        let idle = |d| rule_ms(Expiry::OnInactivity(d));
        assert_eq!(idle(Duration::from_micros(1_999)), "idle:1");
        assert_eq!(idle(Duration::MAX), format!("idle:{LONGEST_MS}"));
        assert_eq!(
            rule_ms(Expiry::OnSessionEnd(
                Expiry::LONGEST + Duration::from_millis(1)
            )),
            format!("idle:{LONGEST_MS}")
        );
        let at = |t| rule_ms(Expiry::AtDateTime(t));
        assert_eq!(at(from_millis(5) + Duration::from_micros(999)), "at:5");
        assert_eq!(at(UNIX_EPOCH - Duration::from_secs(1)), "at:0");
        let far = UNIX_EPOCH + Duration::from_secs(i64::MAX as u64 / 2);
        assert_eq!(at(far), format!("at:{MAX_SAFE_MS}"));
    }
}
