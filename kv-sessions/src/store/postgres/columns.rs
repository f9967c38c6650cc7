//! How a session's parts are kept in the table's columns, both ways: the session's digest as the
//! key, times as milliseconds since the Unix epoch, the expiry rule in its [`StoredRule`] form,
//! the entries as one JSON object whose values are JSON strings holding each entry's JSON
//! text, and the binding as three nullable columns (user, label, saved at), NULL in all three
//! on an unbound session.
//!
//! Entries are strings inside the object, not JSON values, because `jsonb` rewrites the JSON it
//! stores (it adds spaces, reorders keys, drops duplicates); a string holding the text comes
//! back byte for byte.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio_postgres::Row;
use tokio_postgres::types::Type;

use super::table::Param;
use crate::expiry::{Expiry, StoredRule, UnknownRule};
use crate::id::{SessionDigest, SessionId};
use crate::owner::{SessionOwner, UserSession};
use crate::record::Record;

/// Why a stored row is not a session record.
#[derive(Debug, thiserror::Error)]
pub(super) enum CorruptRow {
    #[error("stored row has a column of the wrong type or none at all")]
    Column(#[source] tokio_postgres::Error),
    #[error("stored row has a negative version {0}")]
    NegativeVersion(i64),
    #[error("stored row has a time or duration of {0} ms, out of range")]
    OutOfRange(i64),
    #[error("stored row has an expiry rule kind {0} out of range")]
    RuleKindOutOfRange(i16),
    #[error("stored row's expiry rule does not decode")]
    UnknownRule(#[source] UnknownRule),
    #[error("stored row's data is not a JSON object of strings")]
    Entries(#[source] serde_json::Error),
    #[error("stored row is bound to a user but has no time it was saved")]
    BoundWithoutSavedAt,
    #[error(
        "stored row's id has {0} bytes, not a session digest's {len}",
        len = SessionDigest::LEN
    )]
    DigestLength(usize),
}

/// `time` in whole milliseconds since the Unix epoch, rounded down: 0 before the epoch, and
/// `i64::MAX` past what a `bigint` holds.
pub(super) fn millis(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |since| {
        i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
    })
}

/// The moment `ms` milliseconds after the Unix epoch.
fn time(ms: i64) -> Result<SystemTime, CorruptRow> {
    u64::try_from(ms)
        .ok()
        .and_then(|ms| UNIX_EPOCH.checked_add(Duration::from_millis(ms)))
        .ok_or(CorruptRow::OutOfRange(ms))
}

/// The value of the `id` column of session `id`: its digest, never the id itself.
pub(super) fn key(id: &SessionId) -> Vec<u8> {
    id.digest().as_bytes().to_vec()
}

/// A record as the columns of its row, to be written whole.
#[derive(Debug)]
pub(super) struct Columns {
    version: i64,
    created_at: i64,
    expires_at: i64,
    rule_kind: i16,
    rule_ms: i64,
    data: String,
    owner_user: Option<String>,
    owner_label: Option<String>,
    saved_at: Option<i64>,
}

impl Columns {
    /// The columns that hold `record`.
    pub(super) fn of(record: &Record) -> Self {
        let rule = StoredRule::of(record.expiry());
        Self {
            version: i64::try_from(record.version()).unwrap_or(i64::MAX),
            created_at: millis(record.created_at()),
            expires_at: millis(record.expires_at()),
            rule_kind: i16::from(rule.kind),
            rule_ms: i64::try_from(rule.millis).unwrap_or(i64::MAX),
            data: encode_entries(record.entries()),
            owner_user: record.owner().map(|owner| owner.user().to_owned()),
            owner_label: record
                .owner()
                .and_then(SessionOwner::label)
                .map(str::to_owned),
            saved_at: record.saved_at().map(millis),
        }
    }

    /// The columns as parameters, in the order every write statement takes them after the id:
    /// `version`, `created_at`, `expires_at`, `rule_kind`, `rule_ms`, `data`, `owner_user`,
    /// `owner_label`, `saved_at`.
    pub(super) fn params(&self) -> [Param<'_>; 9] {
        [
            (&self.version, Type::INT8),
            (&self.created_at, Type::INT8),
            (&self.expires_at, Type::INT8),
            (&self.rule_kind, Type::INT2),
            (&self.rule_ms, Type::INT8),
            (&self.data, Type::TEXT),
            (&self.owner_user, Type::TEXT),
            (&self.owner_label, Type::TEXT),
            (&self.saved_at, Type::INT8),
        ]
    }
}

/// The `data` text of `entries` (key and JSON text): a JSON object of JSON strings.
fn encode_entries<'a>(entries: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let object: serde_json::Map<String, serde_json::Value> = entries
        .map(|(key, json)| (key.to_owned(), serde_json::Value::from(json)))
        .collect();
    serde_json::Value::Object(object).to_string()
}

/// The entries stored as the `data` text.
fn decode_entries(data: &str) -> Result<BTreeMap<String, String>, CorruptRow> {
    serde_json::from_str(data).map_err(CorruptRow::Entries)
}

/// The rule stored as `kind` and `ms`.
fn decode_rule(kind: i16, ms: i64) -> Result<Option<Expiry>, CorruptRow> {
    let kind = u8::try_from(kind).map_err(|_| CorruptRow::RuleKindOutOfRange(kind))?;
    let millis = u64::try_from(ms).map_err(|_| CorruptRow::OutOfRange(ms))?;
    StoredRule { kind, millis }
        .rule()
        .map_err(CorruptRow::UnknownRule)
}

/// The record of session `id` in `row`, which holds the columns `version`, `created_at`,
/// `expires_at`, `rule_kind`, `rule_ms`, `data` (as text), `owner_user`, `owner_label` and
/// `saved_at`, as the statements return them.
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
    let record = record.with_expiry(decode_rule(rule_kind, column("rule_ms")?)?);
    Ok(match decode_owner(row)? {
        Some((owner, saved_at)) => record.with_owner(owner, saved_at),
        None => record,
    })
}

/// The binding in `row`'s `owner_user`, `owner_label` and `saved_at`, and when it was saved;
/// `None` where the row has no user.
fn decode_owner(row: &Row) -> Result<Option<(SessionOwner, SystemTime)>, CorruptRow> {
    let user: Option<String> = row.try_get("owner_user").map_err(CorruptRow::Column)?;
    let Some(user) = user else {
        return Ok(None);
    };
    let label: Option<String> = row.try_get("owner_label").map_err(CorruptRow::Column)?;
    let owner = match label {
        Some(label) => SessionOwner::new(user).with_label(label),
        None => SessionOwner::new(user),
    };
    Ok(Some((owner, saved_at(row)?)))
}

/// The `saved_at` of a bound row.
fn saved_at(row: &Row) -> Result<SystemTime, CorruptRow> {
    let saved_at: Option<i64> = row.try_get("saved_at").map_err(CorruptRow::Column)?;
    time(saved_at.ok_or(CorruptRow::BoundWithoutSavedAt)?)
}

/// One of a user's sessions in `row`, which holds the columns `id`, `created_at`, `saved_at`,
/// `expires_at` and `owner_label`, as the listing returns them.
pub(super) fn decode_user_session(row: &Row) -> Result<UserSession, CorruptRow> {
    let column = |name| row.try_get::<_, i64>(name).map_err(CorruptRow::Column);
    let id: &[u8] = row.try_get("id").map_err(CorruptRow::Column)?;
    let digest =
        <[u8; SessionDigest::LEN]>::try_from(id).map_err(|_| CorruptRow::DigestLength(id.len()))?;
    let label: Option<&str> = row.try_get("owner_label").map_err(CorruptRow::Column)?;
    Ok(UserSession::new(
        SessionDigest::from_bytes(digest),
        time(column("created_at")?)?,
        saved_at(row)?,
        time(column("expires_at")?)?,
        label,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_kinds_and_negative_numbers_are_corrupt() {
        assert!(matches!(
            decode_rule(9, 0),
            Err(CorruptRow::UnknownRule(UnknownRule(9)))
        ));
        assert!(matches!(
            decode_rule(300, 0),
            Err(CorruptRow::RuleKindOutOfRange(300))
        ));
        assert!(matches!(
            decode_rule(1, -1),
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

    #[test]
    fn the_key_is_the_digest_of_the_id() {
        let id = SessionId::generate();
        assert_eq!(key(&id), id.digest().as_bytes());
        assert_ne!(&key(&id)[..16], id.as_bytes());
    }
}
