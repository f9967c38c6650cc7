//! What the scripts are told, as their `ARGV`: the time, the changes of a save, and the inputs of
//! its deadline, settled in Rust wherever they do not depend on the stored session.
//!
//! A merge script knows the stored rule and creation time; everything else the deadline depends
//! on is computed here, with the same arithmetic as
//! [`SessionPolicy::deadline`](crate::SessionPolicy::deadline), so that the script is left with
//! one addition and a few minimums over whole milliseconds.

use std::time::{Duration, SystemTime};

use super::hash::{self, ENTRY, LONGEST_MS, MAX_SAFE_MS, META, Meta, RULE, RULE_MS};
use redis::{Cmd, RedisWrite as _};

use crate::changes::Changes;
use crate::record::Record;

/// The `ARGV` of the merge scripts (`update.lua` and the first part of `renew.lua`), in order:
///
/// 1. now, in milliseconds since the epoch;
/// 2. the furthest deadline, now plus [`Expiry::LONGEST`](crate::Expiry::LONGEST);
/// 3. the size cap, in bytes of keys and values;
/// 4. `1` where the changes clear the stored entries, else `0`;
/// 5. `1` where the changes set the session's rule, else `0` (the stored rule stays);
/// 6. the rule they set, as [`hash::rule_text`], empty for the default;
/// 7. the rule they set, as [`hash::rule_ms`], empty for the default;
/// 8. the default rule of the policy, as [`hash::rule_ms`];
/// 9. the absolute lifetime in milliseconds, empty where there is none;
/// 10. the first creation time from which the creation time plus the lifetime overflows
///     [`SystemTime`], empty where none below [`MAX_SAFE_MS`] does (see [`overflow_from`]);
/// 11. the number of keys written, then 12. the number of keys removed;
/// 13. each written key and its value, then each removed key.
pub(super) fn merge(call: &mut Cmd, changes: &Changes, now: SystemTime) {
    let policy = changes.policy();
    let now_ms = hash::millis(now);
    let rule = match changes.expiry() {
        None => ("0", String::new(), String::new()),
        Some(None) => ("1", String::new(), String::new()),
        Some(Some(rule)) => ("1", hash::rule_text(rule), hash::rule_ms(rule)),
    };
    let removes = changes.writes().filter(|(_, json)| json.is_none()).count();
    call.arg(now_ms)
        .arg(now_ms.saturating_add(LONGEST_MS))
        .arg(policy.max_size())
        .arg(if changes.clears_existing() { "1" } else { "0" })
        .arg(rule.0)
        .arg(rule.1)
        .arg(rule.2)
        .arg(hash::rule_ms(policy.default_expiry()));
    match policy.absolute_lifetime() {
        None => call.arg("").arg(""),
        Some(lifetime) => match overflow_from(lifetime) {
            None => call.arg(whole_ms(lifetime)).arg(""),
            Some(from) => call.arg(whole_ms(lifetime)).arg(from),
        },
    };
    call.arg(changes.writes().len() - removes).arg(removes);
    for (key, json) in changes.writes() {
        if let Some(json) = json {
            call.arg(key).arg(json);
        }
    }
    for (key, json) in changes.writes() {
        if json.is_none() {
            call.arg(key);
        }
    }
}

/// The `ARGV` of the quick update script (`quick_update.lua`), for an update that Rust merged
/// into `base`, the copy the request loaded, giving `merged`: `base`'s metadata (the [`META`]
/// field, which holds its version), the merged deadline, the counts of fields to set and to
/// delete, then those fields. The script writes them only where the stored metadata is still
/// `base`'s, so they carry only what the changes alter: the metadata, a rule the changes set or
/// reset, and the entries they write or remove.
pub(super) fn quick(call: &mut Cmd, changes: &Changes, base: &Record, merged: &Record) {
    let deadline = hash::millis(merged.expires_at());
    let removes = changes.writes().filter(|(_, json)| json.is_none()).count();
    let (rule_sets, rule_deletes) = match changes.expiry() {
        None => (0, 0),
        Some(None) => (0, 2),
        Some(Some(_)) => (2, 0),
    };
    call.write_arg_fmt(Meta(base));
    call.arg(deadline)
        .arg(1 + rule_sets + changes.writes().len() - removes)
        .arg(rule_deletes + removes)
        .arg(META);
    call.write_arg_fmt(Meta(merged));
    if let Some(Some(rule)) = changes.expiry() {
        call.arg(RULE)
            .arg(hash::rule_text(rule))
            .arg(RULE_MS)
            .arg(hash::rule_ms(rule));
    }
    for (key, json) in changes.writes() {
        if let Some(json) = json {
            call.write_arg_fmt(format_args!("{ENTRY}{key}"));
            call.arg(json);
        }
    }
    if rule_deletes > 0 {
        call.arg(RULE).arg(RULE_MS);
    }
    for (key, json) in changes.writes() {
        if json.is_none() {
            call.write_arg_fmt(format_args!("{ENTRY}{key}"));
        }
    }
}

/// The `ARGV` that writes a record merged in Rust, by `create.lua` and at the end of
/// `renew.lua`: its deadline in milliseconds, then the names and values of its hash's fields.
pub(super) fn fresh(call: &mut Cmd, record: &Record) {
    call.arg(hash::millis(record.expires_at()));
    hash::write_fields(record, call);
}

/// `duration` in whole milliseconds, at most [`MAX_SAFE_MS`]: a longer lifetime caps no deadline
/// that [`Expiry::LONGEST`](crate::Expiry::LONGEST) does not cap first.
fn whole_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).map_or(MAX_SAFE_MS, |ms| ms.min(MAX_SAFE_MS))
}

/// The earliest creation time, in milliseconds, for which `created_at + lifetime` overflows
/// [`SystemTime`]; `None` where no creation time up to [`MAX_SAFE_MS`] does.
///
/// [`SessionPolicy::deadline`](crate::SessionPolicy::deadline) caps a session at
/// `created_at + lifetime`, and where that sum overflows it caps at `created_at +`
/// [`Expiry::LONGEST`](crate::Expiry::LONGEST) instead. Where the sum overflows depends on the
/// platform's [`SystemTime`], so this asks it, by bisection, rather than assume a limit.
fn overflow_from(lifetime: Duration) -> Option<u64> {
    let overflows = |ms: u64| hash::from_millis(ms).checked_add(lifetime).is_none();
    if !overflows(MAX_SAFE_MS) {
        return None;
    }
    let (mut fits, mut overflowing) = (0, MAX_SAFE_MS);
    if overflows(fits) {
        return Some(0);
    }
    while overflowing - fits > 1 {
        let middle = fits + (overflowing - fits) / 2;
        if overflows(middle) {
            overflowing = middle;
        } else {
            fits = middle;
        }
    }
    Some(overflowing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changes::SessionPolicy;
    use crate::expiry::Expiry;
    use crate::id::SessionId;

    const MINUTE: Duration = Duration::from_secs(60);

    /// The arguments that `write` gives a call, as text.
    fn text(write: impl FnOnce(&mut Cmd)) -> Vec<String> {
        let mut call = Cmd::new();
        write(&mut call);
        call.args_iter()
            .map(|arg| match arg {
                redis::Arg::Simple(bytes) => String::from_utf8(bytes.to_vec()).expect("UTF-8"),
                other => panic!("only plain arguments are written, not {other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_merge_carries_the_time_the_rules_and_every_write() {
        let policy = SessionPolicy::new(Expiry::OnInactivity(MINUTE))
            .with_absolute_lifetime(Some(MINUTE * 10))
            .with_max_size(100);
        let mut changes = Changes::new(policy);
        changes
            .set("b", "2")
            .remove("gone")
            .set("a", "\"x\"")
            .set_expiry(Some(Expiry::OnSessionEnd(Duration::from_millis(1_500))));
        let now = hash::from_millis(1_000) + Duration::from_micros(999);
        let argv = text(|call| merge(call, &changes, now));
        let longest = (1_000 + LONGEST_MS).to_string();
        assert_eq!(
            argv,
            [
                "1000",
                longest.as_str(),
                "100",
                "0",
                "1",
                "on_session_end:1.500000000",
                "idle:1500",
                "idle:60000",
                "600000",
                "",
                "2",
                "1",
                "a",
                "\"x\"",
                "b",
                "2",
                "gone",
            ]
        );
    }

    #[test]
    fn a_merge_that_keeps_or_resets_the_rule_says_so() {
        let mut keep = Changes::new(SessionPolicy::default());
        keep.clear();
        let argv = text(|call| merge(call, &keep, hash::from_millis(0)));
        assert_eq!(
            argv[3..12],
            ["1", "0", "", "", "idle:3600000", "", "", "0", "0"]
        );
        let mut reset = Changes::new(SessionPolicy::default());
        reset.set_expiry(None);
        let argv = text(|call| merge(call, &reset, hash::from_millis(0)));
        assert_eq!(argv[3..7], ["0", "1", "", ""]);
    }

    #[test]
    fn an_empty_value_is_still_a_write() {
        let mut changes = Changes::new(SessionPolicy::default());
        changes.set("k", "");
        let argv = text(|call| merge(call, &changes, hash::from_millis(0)));
        assert_eq!(argv[10..], ["1", "0", "k", ""]);
    }

    #[test]
    fn lifetimes_are_whole_milliseconds_within_the_safe_range() {
        assert_eq!(whole_ms(Duration::from_micros(2_999)), 2);
        assert_eq!(whole_ms(Duration::MAX), MAX_SAFE_MS);
    }

    #[test]
    fn lifetimes_that_never_overflow_have_no_overflow_point() {
        assert_eq!(overflow_from(MINUTE), None);
        assert_eq!(overflow_from(Duration::MAX), Some(0));
    }

    /// On Unix a [`SystemTime`] holds whole seconds in an `i64`, so the point is known exactly.
    #[test]
    #[cfg(unix)]
    fn the_overflow_point_of_a_lifetime_is_where_system_time_overflows() {
        let created_secs = 1_767_225_600;
        let lifetime = Duration::new(i64::MAX as u64 - created_secs, 500_000_000);
        let from = overflow_from(lifetime);
        assert_eq!(from, Some(created_secs * 1000 + 500));
        let at = |ms| hash::from_millis(ms).checked_add(lifetime);
        assert!(at(created_secs * 1000 + 500).is_none());
        assert!(at(created_secs * 1000 + 499).is_some());
    }

    #[test]
    fn a_quick_write_carries_the_base_metadata_then_only_what_changed() {
        let policy = SessionPolicy::new(Expiry::OnInactivity(MINUTE));
        let base = Record::new(
            SessionId::generate(),
            4,
            hash::from_millis(10),
            hash::from_millis(70),
            [
                ("a".to_owned(), "1".to_owned()),
                ("b".to_owned(), "2".to_owned()),
            ],
        );
        let mut changes = Changes::new(policy);
        changes.set("c", "3").remove("a").set_expiry(None);
        let merged = changes
            .apply_to(base.id(), Some(&base), hash::from_millis(20))
            .expect("fits");
        let argv = text(|call| quick(call, &changes, &base, &merged));
        assert_eq!(
            argv,
            [
                "4:10:70",
                "60020",
                "2",
                "3",
                "meta",
                "5:10:60020",
                "k:c",
                "3",
                "rule",
                "rule_ms",
                "k:a"
            ]
        );
    }

    #[test]
    fn a_fresh_record_carries_its_deadline_then_its_fields() {
        let record = Record::new(
            SessionId::generate(),
            1,
            hash::from_millis(10),
            hash::from_millis(70),
            [("a".to_owned(), "1".to_owned())],
        );
        let argv = text(|call| fresh(call, &record));
        assert_eq!(argv, ["70", "meta", "1:10:70", "k:a", "1"]);
    }
}
