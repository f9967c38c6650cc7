//! The Redis hash that holds one session: its field names, and the conversions between a
//! [`Record`] and the hash's fields.
//!
//! ```text
//! meta        "7:1767225600000:1767229200000"    saves so far, creation time, deadline
//! rule        "1:2592000000"                     the session's own rule; absent for the default
//! user        "<tag>:ana@example.com"            the user a session is bound to; absent if unbound
//! label       "Firefox on Linux"                 the label of the binding; absent if none
//! saved       "1767225600000"                    when a bound session was last saved
//! k:<key>     "<JSON text>"                      one field per entry
//! ```
//!
//! Every entry's field starts with [`ENTRY`] and no metadata field does, so no session key can
//! collide with the metadata, whatever it spells. An unbound session has no `user`, `label` or
//! `saved` field, so it is stored exactly as before binding existed, and a hash written before
//! then reads as an unbound session. The `<tag>` of the `user` field names the user's set in the
//! index (see [`index`](super::index)). The scripts read the names of the fields they look at
//! from a prelude generated from the constants below, so this module is the layout's one owner.

use std::cmp::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::RedisWrite;

use super::index::{UserField, parse_user_field};
use crate::expiry::{Expiry, StoredRule};
use crate::id::SessionId;
use crate::owner::SessionOwner;
use crate::record::Record;

/// The field holding the number of saves, the creation time and the deadline, in decimal and
/// separated by `:`, the times in milliseconds since the Unix epoch. One field rather than three:
/// every load reads it and every save writes it, and Redis's work grows with the fields a
/// command carries. Every save changes it, so a write compares it to know that the session is
/// still the copy it was merged against.
pub(super) const META: &str = "meta";
/// The field holding the session's own rule as its [`StoredRule`], `<kind>:<millis>` in decimal;
/// absent where the session follows the policy's default (kind 0).
pub(super) const RULE: &str = "rule";
/// The field holding the user a session is bound to, as [`UserField`] writes it; absent where
/// the session is bound to no one.
pub(super) const USER: &str = "user";
/// The field holding the label of a bound session's binding; absent where it has none.
pub(super) const LABEL: &str = "label";
/// The field holding when a bound session was last saved, in milliseconds since the Unix epoch
/// in decimal; absent where the session is bound to no one.
pub(super) const SAVED: &str = "saved";
/// What every entry's field starts with, followed by the entry's key.
pub(super) const ENTRY: &str = "k:";

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
    for (name, value) in optional_fields(record) {
        if let Some(value) = value {
            out.write_arg(name.as_bytes());
            out.write_arg(value.as_bytes());
        }
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

/// The value of the [`RULE`] field of a session whose own rule is `rule`: its [`StoredRule`] as
/// `<kind>:<millis>`, or `None`, and no field, for the policy's default.
pub(super) fn rule_value(rule: Option<Expiry>) -> Option<String> {
    let StoredRule { kind, millis } = StoredRule::of(rule);
    (kind != 0).then(|| format!("{kind}:{millis}"))
}

/// The fields of the hash that stores `record` that only some sessions have, each its name and
/// its value, or `None` where the record has no such field: its own rule, and its binding.
fn optional_fields(record: &Record) -> [(&'static str, Option<String>); 4] {
    let owner = record.owner();
    [
        (RULE, rule_value(record.expiry())),
        (USER, owner.map(|owner| UserField(owner.user()).to_string())),
        (
            LABEL,
            owner.and_then(SessionOwner::label).map(str::to_owned),
        ),
        (SAVED, record.saved_at().map(|at| millis(at).to_string())),
    ]
}

/// What turns the hash of `copy` into the hash of `merged`, a later version of the same session:
/// the fields to set, each a name and its value, and the fields to delete.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct FieldChanges<'r> {
    /// Entries that `copy` lacks or holds with another value, by key and JSON text.
    pub(super) entries_set: Vec<(&'r str, &'r str)>,
    /// Keys of entries that `copy` holds and `merged` does not.
    pub(super) entries_deleted: Vec<&'r str>,
    /// The metadata fields but [`META`] that changed (the rule, the binding), each its name and
    /// its new value, or `None` where `merged` has no such field, which deletes it.
    pub(super) metadata: Vec<(&'static str, Option<String>)>,
}

impl<'r> FieldChanges<'r> {
    /// The changes from `copy` to `merged`. The [`META`] field is not among them: it changes
    /// with every save, so a write always sets it.
    ///
    /// Both records keep their entries sorted by key, so one pass over the two finds every
    /// difference.
    pub(super) fn between(copy: &'r Record, merged: &'r Record) -> Self {
        let mut changes = Self::default();
        let (mut old, mut new) = (copy.entries().peekable(), merged.entries().peekable());
        loop {
            let order = match (old.peek(), new.peek()) {
                (None, None) => break,
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some((old_key, _)), Some((new_key, _))) => old_key.cmp(new_key),
            };
            match order {
                Ordering::Less => changes
                    .entries_deleted
                    .extend(old.next().map(|(key, _)| key)),
                Ordering::Greater => changes.entries_set.extend(new.next()),
                Ordering::Equal => {
                    let (kept, written) = (old.next(), new.next());
                    if kept != written {
                        changes.entries_set.extend(written);
                    }
                }
            }
        }
        let before = optional_fields(copy);
        changes.metadata = optional_fields(merged)
            .into_iter()
            .zip(before)
            .filter(|((_, new), (_, old))| new != old)
            .map(|(field, _)| field)
            .collect();
        changes
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
    user: Option<String>,
    label: Option<String>,
    saved: Option<String>,
}

impl Metadata {
    fn set(&mut self, name: String, value: String) -> Result<(), DecodeError> {
        let slot = match name.as_str() {
            META => &mut self.meta,
            RULE => &mut self.rule,
            USER => &mut self.user,
            LABEL => &mut self.label,
            SAVED => &mut self.saved,
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
        let binding = self.binding()?;
        let meta = self.meta.ok_or(DecodeError::Missing(META))?;
        let (version, created_at, expires_at) =
            parse_meta(&meta).ok_or(DecodeError::Malformed(META))?;
        let rule = match self.rule {
            None => None,
            Some(text) => Some(parse_rule(&text).ok_or(DecodeError::Malformed(RULE))?),
        };
        let record = Record::new(
            id,
            version,
            from_millis(created_at),
            from_millis(expires_at),
            entries,
        );
        let record = record.with_expiry(rule);
        match binding {
            Some((owner, saved_at)) => Ok(record.with_owner(owner, saved_at)),
            None => Ok(record),
        }
    }

    /// The binding the fields hold: none where there is no [`USER`] field, and then no other
    /// field of a binding either.
    fn binding(&self) -> Result<Option<(SessionOwner, SystemTime)>, DecodeError> {
        let Some(user) = &self.user else {
            if self.label.is_some() || self.saved.is_some() {
                return Err(DecodeError::Missing(USER));
            }
            return Ok(None);
        };
        let user = parse_user_field(user).ok_or(DecodeError::Malformed(USER))?;
        let saved = self.saved.as_deref().ok_or(DecodeError::Missing(SAVED))?;
        let saved = digits(saved).ok_or(DecodeError::Malformed(SAVED))?;
        let mut owner = SessionOwner::new(user);
        if let Some(label) = &self.label {
            owner = owner.with_label(label.as_str());
        }
        Ok(Some((owner, from_millis(saved))))
    }
}

/// The version, creation time and deadline that [`Meta`] wrote: three numbers of decimal digits
/// only, separated by `:`.
pub(super) fn parse_meta(text: &str) -> Option<(u64, u64, u64)> {
    let mut numbers = text.split(':').map(digits);
    let meta = (numbers.next()??, numbers.next()??, numbers.next()??);
    numbers.next().is_none().then_some(meta)
}

/// The rule that [`rule_value`] wrote. Kind 0, the default, is never written: a field that says
/// it is malformed, as is a kind that no version of kv-sessions writes.
fn parse_rule(text: &str) -> Option<Expiry> {
    let (kind, millis) = text.split_once(':')?;
    let kind = u8::try_from(digits(kind)?).ok()?;
    let millis = digits(millis)?;
    StoredRule { kind, millis }.rule().ok().flatten()
}

/// `text` as a number, where it is nothing but decimal digits (Rust's parser would also take a
/// leading `+`).
pub(super) fn digits(text: &str) -> Option<u64> {
    let all_digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    all_digits.then(|| text.parse().ok()).flatten()
}

/// Whole milliseconds since the Unix epoch, rounded down: 0 before the epoch.
pub(super) fn millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |since| {
        u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
    })
}

/// The moment `ms` milliseconds after the Unix epoch.
pub(super) fn from_millis(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::redis::index::UserTag;

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

    /// A later version of `base` holding `entries` and following `expiry`.
    fn later(base: &Record, entries: &[(&str, &str)], expiry: Option<Expiry>) -> Record {
        let entries = entries.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Record::new(
            base.id(),
            base.version() + 1,
            base.created_at(),
            base.expires_at(),
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
    fn every_rule_round_trips_through_one_field() {
        let rules = [
            None,
            Some(Expiry::OnInactivity(Duration::from_secs(60))),
            Some(Expiry::OnInactivity(Expiry::LONGEST)),
            Some(Expiry::OnSessionEnd(Duration::from_millis(3_999))),
            Some(Expiry::AtDateTime(from_millis(1_767_225_600_123))),
            Some(Expiry::AtDateTime(UNIX_EPOCH)),
        ];
        for rule in rules {
            let record = record(rule);
            let decoded = decode(record.id(), bytes(fields(&record)));
            assert_eq!(decoded, Ok(record), "{rule:?}");
        }
    }

    #[test]
    fn the_rule_field_holds_the_stored_kind_and_milliseconds() {
        let minute = Some(Expiry::OnInactivity(Duration::from_secs(60)));
        assert_eq!(rule_value(minute).as_deref(), Some("1:60000"));
        let at = Some(Expiry::AtDateTime(from_millis(5)));
        assert_eq!(rule_value(at).as_deref(), Some("2:5"));
        let end = Some(Expiry::OnSessionEnd(Duration::from_millis(7)));
        assert_eq!(rule_value(end).as_deref(), Some("3:7"));
        assert_eq!(rule_value(None), None, "the default has no field");
        assert!(!fields(&record(None)).iter().any(|(name, _)| name == RULE));
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
        let malformed = |name, value| (with(fields(), name, value), DecodeError::Malformed(name));
        let cases = [
            (without(fields(), META), DecodeError::Missing(META)),
            malformed(META, "+7:1:2"),
            malformed(META, "7:1e3:2"),
            malformed(META, "7:1:"),
            malformed(META, "7:1"),
            malformed(META, "7:1:2:3"),
            malformed(META, ""),
            malformed(RULE, "0:0"),
            malformed(RULE, "4:60000"),
            malformed(RULE, "256:1"),
            malformed(RULE, "1"),
            malformed(RULE, "1:+6"),
            malformed(RULE, "on_inactivity:60.000000000"),
            (
                with(fields(), "rule_ms", "idle:60000"),
                DecodeError::UnknownField("rule_ms".to_owned()),
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
    fn the_changes_between_two_versions_are_the_entries_that_differ_and_the_rule() {
        let copy = record(None);
        let month = Some(Expiry::OnInactivity(Duration::from_secs(30 * 86_400)));
        let merged = later(
            &copy,
            &[("a", "0"), ("name", "\"é\""), ("version", "2"), ("z", "9")],
            month,
        );
        assert_eq!(
            FieldChanges::between(&copy, &merged),
            FieldChanges {
                entries_set: vec![("a", "0"), ("version", "2"), ("z", "9")],
                entries_deleted: vec!["cart.items"],
                metadata: vec![(RULE, Some("1:2592000000".to_owned()))],
            }
        );
        let back = later(&merged, &[], None);
        assert_eq!(
            FieldChanges::between(&merged, &back),
            FieldChanges {
                entries_set: vec![],
                entries_deleted: vec!["a", "name", "version", "z"],
                metadata: vec![(RULE, None)],
            }
        );
        let same = later(&copy, &[("version", "1"), ("name", "\"é\"")], None);
        assert_eq!(
            FieldChanges::between(&copy, &same),
            FieldChanges {
                entries_deleted: vec!["cart.items"],
                ..FieldChanges::default()
            },
            "an entry written with the value it had, and a rule kept, change no field"
        );
    }

    #[test]
    fn a_binding_round_trips_and_an_unbound_session_has_no_field_of_one() {
        let bound = record(None).with_owner(
            SessionOwner::new("ana@example.com").with_label("Firefox: Linux"),
            from_millis(5_000),
        );
        let fields = fields(&bound);
        let user = format!("{}:ana@example.com", UserTag::of("ana@example.com"));
        assert!(fields.contains(&(USER.to_owned(), user)));
        assert!(fields.contains(&(LABEL.to_owned(), "Firefox: Linux".to_owned())));
        assert!(fields.contains(&(SAVED.to_owned(), "5000".to_owned())));
        assert_eq!(decode(bound.id(), bytes(fields)), Ok(bound.clone()));

        let unlabelled = record(None).with_owner(SessionOwner::new(7), from_millis(1));
        let decoded = decode(unlabelled.id(), bytes(super::fields(&unlabelled)));
        assert_eq!(decoded, Ok(unlabelled));

        let unbound = record(None);
        let names: Vec<String> = super::fields(&unbound)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, ["meta", "k:cart.items", "k:name", "k:version"]);
    }

    #[test]
    fn a_hash_written_before_bindings_reads_as_an_unbound_session() {
        let id = SessionId::generate();
        let hash = [("meta", "3:1000:9000"), ("k:a", "1")]
            .map(|(name, value)| (name.to_owned(), value.to_owned()));
        let record = decode(id, bytes(hash.to_vec())).expect("decodes");
        assert_eq!((record.owner(), record.saved_at()), (None, None));
    }

    #[test]
    fn a_binding_with_a_missing_or_malformed_field_is_a_decode_error() {
        let bound = record(None).with_owner(SessionOwner::new("ana"), from_millis(5_000));
        let id = bound.id();
        let fields = || fields(&bound);
        let forged = format!("{}:bob", UserTag::of("ana"));
        let cases = [
            (without(fields(), USER), DecodeError::Missing(USER)),
            (without(fields(), SAVED), DecodeError::Missing(SAVED)),
            (with(fields(), USER, &forged), DecodeError::Malformed(USER)),
            (with(fields(), USER, "ana"), DecodeError::Malformed(USER)),
            (with(fields(), SAVED, "-1"), DecodeError::Malformed(SAVED)),
            (
                with(super::fields(&record(None)), LABEL, "phone"),
                DecodeError::Missing(USER),
            ),
        ];
        for (hash, error) in cases {
            assert_eq!(decode(id, hash), Err(error.clone()), "{error}");
        }
    }

    #[test]
    fn a_save_of_a_bound_session_changes_only_its_saved_field_of_the_binding() {
        let owner = SessionOwner::new("ana").with_label("phone");
        let copy = record(None).with_owner(owner.clone(), from_millis(5_000));
        let saved = later(&copy, &[("name", "\"é\""), ("version", "1")], None)
            .with_owner(owner, from_millis(6_000));
        assert_eq!(
            FieldChanges::between(&copy, &saved).metadata,
            [(SAVED, Some("6000".to_owned()))]
        );
        let unbound = later(&copy, &[], None);
        assert_eq!(
            FieldChanges::between(&copy, &unbound).metadata,
            [(USER, None), (LABEL, None), (SAVED, None)]
        );
        let plain = record(None);
        assert!(
            FieldChanges::between(&plain, &later(&plain, &[], None))
                .metadata
                .is_empty()
        );
    }

    #[test]
    fn times_are_whole_milliseconds_since_the_epoch() {
        assert_eq!(millis(from_millis(5) + Duration::from_micros(999)), 5);
        assert_eq!(millis(UNIX_EPOCH - Duration::from_secs(1)), 0);
    }
}
