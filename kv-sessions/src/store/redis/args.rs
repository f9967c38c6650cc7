//! What the scripts are told, as their `ARGV`: the time, the changes of a save, and the inputs of
//! its deadline, settled in Rust wherever they do not depend on the stored session.
//!
//! A merge script knows the stored rule and creation time; everything else the deadline depends
//! on is computed here, with the same arithmetic as
//! [`SessionPolicy::deadline`](crate::SessionPolicy::deadline), so that the script is left with
//! one addition and a few minimums over whole milliseconds.

use std::time::{Duration, SystemTime};

use super::hash::{self, ENTRY, EXPIRES_AT, LONGEST_MS, MAX_SAFE_MS, RULE, RULE_MS, VERSION};
use crate::record::{Changes, Record};

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
pub(super) fn merge(changes: &Changes, now: SystemTime) -> Vec<Vec<u8>> {
    let policy = changes.policy();
    let now_ms = hash::millis(now);
    let (sets_rule, rule, rule_ms) = match changes.expiry() {
        None => ("0", String::new(), String::new()),
        Some(None) => ("1", String::new(), String::new()),
        Some(Some(rule)) => ("1", hash::rule_text(rule), hash::rule_ms(rule)),
    };
    let (cap_ms, overflow) = match policy.absolute_lifetime() {
        None => (String::new(), String::new()),
        Some(lifetime) => (
            whole_ms(lifetime).to_string(),
            overflow_from(lifetime).map_or_else(String::new, |ms| ms.to_string()),
        ),
    };
    let (sets, removes): (Vec<_>, Vec<_>) = changes.writes().partition(|(_, json)| json.is_some());
    let mut argv = vec![
        arg(now_ms),
        arg(now_ms.saturating_add(LONGEST_MS)),
        arg(policy.max_size()),
        arg(if changes.clears_existing() { "1" } else { "0" }),
        arg(sets_rule),
        arg(rule),
        arg(rule_ms),
        arg(hash::rule_ms(policy.default_expiry())),
        arg(cap_ms),
        arg(overflow),
        arg(sets.len()),
        arg(removes.len()),
    ];
    for (key, json) in sets {
        argv.push(arg(key));
        argv.push(arg(json.unwrap_or_default()));
    }
    argv.extend(removes.into_iter().map(|(key, _)| arg(key)));
    argv
}

/// The quick write of an update for want of a merge in Rust: the update script then merges.
pub(super) const NO_QUICK: [&str; 4] = ["", "", "0", "0"];

/// The quick write of an update that Rust merged into `base`, the copy the request loaded, giving
/// `merged`: `base`'s version, the merged deadline, the counts of fields to set and to delete,
/// then those fields. The script writes them only where the stored version is still `base`'s, so
/// they carry only what the changes alter: the version, the deadline, a rule the changes set or
/// reset, and the entries they write or remove.
pub(super) fn quick(changes: &Changes, base: &Record, merged: &Record) -> Vec<Vec<u8>> {
    let mut sets = vec![
        (arg(VERSION), arg(merged.version())),
        (arg(EXPIRES_AT), arg(hash::millis(merged.expires_at()))),
    ];
    let mut deletes = Vec::new();
    match changes.expiry() {
        None => {}
        Some(None) => deletes.extend([arg(RULE), arg(RULE_MS)]),
        Some(Some(rule)) => sets.extend([
            (arg(RULE), arg(hash::rule_text(rule))),
            (arg(RULE_MS), arg(hash::rule_ms(rule))),
        ]),
    }
    for (key, write) in changes.writes() {
        let field = arg(format_args!("{ENTRY}{key}"));
        match write {
            Some(json) => sets.push((field, arg(json))),
            None => deletes.push(field),
        }
    }
    let mut argv = Vec::with_capacity(4 + 2 * sets.len() + deletes.len());
    argv.extend([
        arg(base.version()),
        arg(hash::millis(merged.expires_at())),
        arg(sets.len()),
        arg(deletes.len()),
    ]);
    argv.extend(sets.into_iter().flat_map(|(field, value)| [field, value]));
    argv.extend(deletes);
    argv
}

/// The `ARGV` that writes a record merged in Rust, by `create.lua` and at the end of
/// `renew.lua`: its deadline in milliseconds, then the names and values of its hash's fields.
pub(super) fn fresh(record: &Record) -> Vec<Vec<u8>> {
    let fields = hash::fields(record);
    let mut argv = Vec::with_capacity(1 + 2 * fields.len());
    argv.push(arg(hash::millis(record.expires_at())));
    for (name, value) in fields {
        argv.push(arg(name));
        argv.push(arg(value));
    }
    argv
}

fn arg(value: impl ToString) -> Vec<u8> {
    value.to_string().into_bytes()
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
    use crate::expiry::{Expiry, SessionPolicy};
    use crate::id::SessionId;

    const MINUTE: Duration = Duration::from_secs(60);

    fn text(argv: &[Vec<u8>]) -> Vec<&str> {
        argv.iter()
            .map(|arg| std::str::from_utf8(arg).expect("UTF-8"))
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
        let argv = merge(&changes, now);
        let longest = (1_000 + LONGEST_MS).to_string();
        assert_eq!(
            text(&argv),
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
        let argv = merge(&keep, hash::from_millis(0));
        assert_eq!(
            text(&argv[3..12]),
            ["1", "0", "", "", "idle:3600000", "", "", "0", "0"]
        );
        let mut reset = Changes::new(SessionPolicy::default());
        reset.set_expiry(None);
        let argv = merge(&reset, hash::from_millis(0));
        assert_eq!(text(&argv[3..7]), ["0", "1", "", ""]);
    }

    #[test]
    fn an_empty_value_is_still_a_write() {
        let mut changes = Changes::new(SessionPolicy::default());
        changes.set("k", "");
        let argv = merge(&changes, hash::from_millis(0));
        assert_eq!(text(&argv[10..]), ["1", "0", "k", ""]);
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
    fn a_quick_write_carries_the_base_version_then_only_what_changed() {
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
        let argv = quick(&changes, &base, &merged);
        assert_eq!(
            text(&argv),
            [
                "4",
                "60020",
                "3",
                "3",
                "version",
                "5",
                "expires_at",
                "60020",
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
        let argv = fresh(&record);
        assert_eq!(
            text(&argv),
            [
                "70",
                "version",
                "1",
                "created_at",
                "10",
                "expires_at",
                "70",
                "k:a",
                "1"
            ]
        );
    }
}
