//! How a session's parts are kept in the table's columns, both ways: times as milliseconds since
//! the Unix epoch, the expiry rule as a kind and a number of milliseconds, and the entries as one
//! JSON object whose values are JSON strings holding each entry's JSON text.
//!
//! Entries are strings inside the object, not JSON values, because `jsonb` rewrites the JSON it
//! stores (it adds spaces, reorders keys, drops duplicates); a string holding the text comes
//! back byte for byte, and its length is the length the session layer counts.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio_postgres::Row;

use crate::expiry::Expiry;
use crate::id::SessionId;
use crate::record::Record;

/// `rule_kind` of a session that follows the policy's default rule; `rule_ms` is then 0.
pub(super) const NO_RULE: i16 = 0;
/// `rule_kind` of [`Expiry::OnInactivity`]; `rule_ms` is the idle window.
const ON_INACTIVITY: i16 = 1;
/// `rule_kind` of [`Expiry::AtDateTime`]; `rule_ms` is the moment.
const AT_DATE_TIME: i16 = 2;
/// `rule_kind` of [`Expiry::OnSessionEnd`]; `rule_ms` is the idle window.
const ON_SESSION_END: i16 = 3;

/// Why a stored row is not a session record.
#[derive(Debug, thiserror::Error)]
pub(super) enum CorruptRow {
    #[error("stored row has a column of the wrong type or none at all")]
    Column(#[source] tokio_postgres::Error),
    #[error("stored row has a negative version {0}")]
    NegativeVersion(i64),
    #[error("stored row has a time or duration of {0} ms, out of range")]
    OutOfRange(i64),
    #[error("stored row has unknown expiry rule kind {0}")]
    UnknownRule(i16),
    #[error("stored row's data is not a JSON object of strings")]
    Entries(#[source] serde_json::Error),
}

/// `time` in whole milliseconds since the Unix epoch, rounded down: 0 before the epoch, and
/// `i64::MAX` past what a `bigint` holds.
pub(super) fn millis(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH).map_or(0, duration_millis)
}

/// `duration` in whole milliseconds, rounded down, at most `i64::MAX`.
pub(super) fn duration_millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// The moment `ms` milliseconds after the Unix epoch.
fn time(ms: i64) -> Result<SystemTime, CorruptRow> {
    u64::try_from(ms)
        .ok()
        .and_then(|ms| UNIX_EPOCH.checked_add(Duration::from_millis(ms)))
        .ok_or(CorruptRow::OutOfRange(ms))
}

/// The `rule_kind` and `rule_ms` of a session's own rule.
pub(super) fn encode_rule(rule: Option<Expiry>) -> (i16, i64) {
    match rule {
        None => (NO_RULE, 0),
        Some(Expiry::OnInactivity(idle)) => (ON_INACTIVITY, duration_millis(idle)),
        Some(Expiry::AtDateTime(at)) => (AT_DATE_TIME, millis(at)),
        Some(Expiry::OnSessionEnd(idle)) => (ON_SESSION_END, duration_millis(idle)),
    }
}

/// The rule stored as `kind` and `ms`.
fn decode_rule(kind: i16, ms: i64) -> Result<Option<Expiry>, CorruptRow> {
    let idle = || {
        u64::try_from(ms)
            .map(Duration::from_millis)
            .map_err(|_| CorruptRow::OutOfRange(ms))
    };
    match kind {
        NO_RULE => Ok(None),
        ON_INACTIVITY => Ok(Some(Expiry::OnInactivity(idle()?))),
        AT_DATE_TIME => Ok(Some(Expiry::AtDateTime(time(ms)?))),
        ON_SESSION_END => Ok(Some(Expiry::OnSessionEnd(idle()?))),
        other => Err(CorruptRow::UnknownRule(other)),
    }
}

/// The `data` text of the writes `(key, json)`: a JSON object of JSON strings.
pub(super) fn encode_entries<'a>(entries: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let object: serde_json::Map<String, serde_json::Value> = entries
        .map(|(key, json)| (key.to_owned(), serde_json::Value::from(json)))
        .collect();
    serde_json::Value::Object(object).to_string()
}

/// The entries stored as the `data` text.
fn decode_entries(data: &str) -> Result<BTreeMap<String, String>, CorruptRow> {
    serde_json::from_str(data).map_err(CorruptRow::Entries)
}

/// The record of session `id` in `row`, which holds the columns `version`, `created_at`,
/// `expires_at`, `rule_kind`, `rule_ms` and `data` (as text), as every statement returns them.
pub(super) fn decode_record(id: SessionId, row: &Row) -> Result<Record, CorruptRow> {
    let column = |name| row.try_get::<_, i64>(name).map_err(CorruptRow::Column);
    let version = column("version")?;
    let version = u64::try_from(version).map_err(|_| CorruptRow::NegativeVersion(version))?;
    let rule_kind = row.try_get("rule_kind").map_err(CorruptRow::Column)?;
    let data: &str = row.try_get("data").map_err(CorruptRow::Column)?;
    let record = Record::new(
        id,
        version,
        time(column("created_at")?)?,
        time(column("expires_at")?)?,
        decode_entries(data)?,
    );
    Ok(record.with_expiry(decode_rule(rule_kind, column("rule_ms")?)?))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A rule as it comes back from the table: the same rule, to the millisecond.
    pub(crate) fn as_stored(rule: Option<Expiry>) -> Option<Expiry> {
        let (kind, ms) = encode_rule(rule);
        decode_rule(kind, ms).expect("an encoded rule decodes")
    }

    #[test]
    fn rules_come_back_to_the_millisecond() {
        let at = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        for rule in [
            None,
            Some(Expiry::OnInactivity(Duration::from_secs(60))),
            Some(Expiry::OnSessionEnd(Duration::from_millis(1))),
            Some(Expiry::AtDateTime(at)),
        ] {
            assert_eq!(as_stored(rule), rule);
        }
        let sub_millisecond = Expiry::OnInactivity(Duration::from_micros(1_500));
        assert_eq!(
            as_stored(Some(sub_millisecond)),
            Some(Expiry::OnInactivity(Duration::from_millis(1)))
        );
    }

    #[test]
    fn rules_past_a_bigint_are_stored_at_its_limit_and_still_decode() {
        let (kind, ms) = encode_rule(Some(Expiry::OnInactivity(Duration::MAX)));
        assert_eq!((kind, ms), (ON_INACTIVITY, i64::MAX));
        assert!(decode_rule(kind, ms).is_ok());
        let before_epoch = UNIX_EPOCH - Duration::from_secs(1);
        assert_eq!(
            encode_rule(Some(Expiry::AtDateTime(before_epoch))),
            (AT_DATE_TIME, 0)
        );
    }

    #[test]
    fn unknown_kinds_and_negative_numbers_are_corrupt() {
        assert!(matches!(decode_rule(9, 0), Err(CorruptRow::UnknownRule(9))));
        assert!(matches!(
            decode_rule(ON_INACTIVITY, -1),
            Err(CorruptRow::OutOfRange(-1))
        ));
        assert!(matches!(time(-5), Err(CorruptRow::OutOfRange(-5))));
    }

    #[test]
    fn entries_keep_their_json_text_byte_for_byte() {
        let written = [
            ("a", "{\"x\":1,\"y\":[1,2]}"),
            ("b", "\"quote \\\" and é\""),
            ("c", "  1  "),
        ];
        let data = encode_entries(written.into_iter());
        let entries = decode_entries(&data).expect("decodes");
        let expected: BTreeMap<String, String> = written
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(entries, expected);
    }

    #[test]
    fn data_that_is_not_an_object_of_strings_is_corrupt() {
        for data in ["[]", "{\"a\":1}", "not json"] {
            assert!(matches!(decode_entries(data), Err(CorruptRow::Entries(_))));
        }
    }
}
