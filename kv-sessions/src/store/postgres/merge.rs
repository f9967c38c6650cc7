//! The parameters a write statement merges with: everything about the [`Changes`] and the
//! moment that does not depend on the stored row, worked out here, so that the SQL only combines
//! them with the row it locked (see `sql/merged.sql`).
//!
//! The deadlines of the rules the changes name (the rule they set, the policy's default) come
//! straight from [`SessionPolicy::deadline`]. Only two terms depend on the row: the deadline of
//! the rule stored with it (whole milliseconds, so `now + rule_ms` is exact), and the absolute
//! lifetime counted from its creation time, which is given to the SQL with the creation time from
//! which `SessionPolicy::deadline` saturates.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio_postgres::types::{ToSql, Type};

use super::columns::{duration_millis, encode_entries, encode_rule, millis};
use crate::changes::Changes;
use crate::changes::SessionPolicy;
use crate::expiry::Expiry;

/// A parameter of a statement with its PostgreSQL type, the type the statement is prepared with.
pub(super) type Param<'a> = (&'a (dyn ToSql + Sync), Type);

/// The parameters `$1` to `$13` of every write statement.
#[derive(Debug)]
pub(super) struct Merge<'a> {
    now: i64,
    furthest: i64,
    clear: bool,
    removed: Vec<&'a str>,
    written: String,
    set_rule: bool,
    rule_kind: i16,
    rule_ms: i64,
    set_deadline: i64,
    default_deadline: i64,
    lifetime: Option<i64>,
    lifetime_saturates_from: Option<i64>,
    max_size: i64,
    created_now: i64,
}

impl<'a> Merge<'a> {
    /// The parameters that apply `changes` at `now`.
    pub(super) fn new(changes: &'a Changes, now: SystemTime) -> Self {
        let policy = changes.policy();
        let uncapped = SessionPolicy::new(policy.default_expiry());
        let set_rule = changes.expiry();
        let (rule_kind, rule_ms) = encode_rule(set_rule.flatten());
        let furthest = now.checked_add(Expiry::LONGEST).map_or(i64::MAX, millis);
        let lifetime = policy.absolute_lifetime();
        Self {
            now: millis(now),
            furthest,
            clear: changes.clears_existing(),
            removed: changes
                .writes()
                .filter_map(|(key, json)| json.is_none().then_some(key))
                .collect(),
            written: encode_entries(
                changes
                    .writes()
                    .filter_map(|(key, json)| json.map(|json| (key, json))),
            ),
            set_rule: set_rule.is_some(),
            rule_kind,
            rule_ms,
            set_deadline: millis(uncapped.deadline(set_rule.flatten(), now, now)),
            default_deadline: millis(uncapped.deadline(None, now, now)),
            lifetime: lifetime.map(duration_millis),
            lifetime_saturates_from: lifetime.and_then(saturates_from),
            max_size: i64::try_from(policy.max_size()).unwrap_or(i64::MAX),
            created_now: millis(changes.created_at().unwrap_or(now)),
        }
    }

    /// `$1` to `$13`, in order, followed by a statement's own parameters from `$14` on.
    pub(super) fn params_with<'p>(&'p self, own: &[Param<'p>]) -> Vec<Param<'p>> {
        let merge: [Param<'p>; 13] = [
            (&self.now, Type::INT8),
            (&self.furthest, Type::INT8),
            (&self.clear, Type::BOOL),
            (&self.removed, Type::TEXT_ARRAY),
            (&self.written, Type::TEXT),
            (&self.set_rule, Type::BOOL),
            (&self.rule_kind, Type::INT2),
            (&self.rule_ms, Type::INT8),
            (&self.set_deadline, Type::INT8),
            (&self.default_deadline, Type::INT8),
            (&self.lifetime, Type::INT8),
            (&self.lifetime_saturates_from, Type::INT8),
            (&self.max_size, Type::INT8),
        ];
        merge.into_iter().chain(own.iter().cloned()).collect()
    }

    /// The creation time of a session these changes create, in milliseconds: the one they carry
    /// for a moved session, or now.
    pub(super) fn created_now(&self) -> &i64 {
        &self.created_now
    }
}

/// The first creation time, in milliseconds, for which `created_at + lifetime` no longer fits in
/// a [`SystemTime`]; `None` where no `bigint` creation time gets there.
///
/// From there on [`SessionPolicy::deadline`] counts [`Expiry::LONGEST`] from the creation time in
/// place of the lifetime. Where that happens depends on the platform's `SystemTime`, so it is
/// found by asking `SystemTime` itself, with a binary search: overflowing is monotonic in the
/// creation time.
fn saturates_from(lifetime: Duration) -> Option<i64> {
    let saturates = |created: i64| {
        let created = Duration::from_millis(created.unsigned_abs());
        UNIX_EPOCH
            .checked_add(created)
            .and_then(|at| at.checked_add(lifetime))
            .is_none()
    };
    if !saturates(i64::MAX) {
        return None;
    }
    if saturates(0) {
        return Some(0);
    }
    let (mut fits, mut overflows) = (0, i64::MAX);
    while overflows - fits > 1 {
        let middle = fits + (overflows - fits) / 2;
        if saturates(middle) {
            overflows = middle;
        } else {
            fits = middle;
        }
    }
    Some(overflows)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn writes_and_removals_are_split_and_a_cleared_session_says_so() {
        let mut changes = Changes::new(SessionPolicy::default());
        changes.set("b", "2").remove("a").set("c", "\"x\"");
        let now = UNIX_EPOCH + Duration::from_millis(5_500);
        let merge = Merge::new(&changes, now);
        assert_eq!(merge.removed, ["a"]);
        assert_eq!(merge.written, r#"{"b":"2","c":"\"x\""}"#);
        assert!(!merge.clear);
        assert!(!merge.set_rule);
        assert_eq!(merge.now, 5_500);
        assert_eq!(merge.created_now, 5_500);
        changes.clear();
        assert!(Merge::new(&changes, now).clear);
    }

    #[test]
    fn the_deadlines_of_named_rules_are_the_policy_s_to_the_millisecond() {
        let now = UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_999_999);
        let mut changes = Changes::new(SessionPolicy::new(Expiry::OnInactivity(MINUTE)));
        changes.set_expiry(Some(Expiry::OnSessionEnd(Duration::from_micros(1_500))));
        let merge = Merge::new(&changes, now);
        assert!(merge.set_rule);
        assert_eq!((merge.rule_kind, merge.rule_ms), (3, 1));
        assert_eq!(
            merge.set_deadline, 1_700_000_000_125,
            "1.5 ms after .123999999"
        );
        assert_eq!(merge.default_deadline, 1_700_000_060_123);
        assert_eq!(merge.furthest, 1_700_000_000_123 + 400 * 86_400_000);
    }

    #[test]
    fn a_rule_set_back_to_the_default_is_a_set_rule_of_kind_zero() {
        let mut changes = Changes::new(SessionPolicy::default());
        changes.set_expiry(None);
        let merge = Merge::new(&changes, SystemTime::now());
        assert!(merge.set_rule);
        assert_eq!((merge.rule_kind, merge.rule_ms), (0, 0));
        assert_eq!(merge.set_deadline, merge.default_deadline);
    }

    #[test]
    fn only_lifetimes_near_the_end_of_time_saturate() {
        assert_eq!(saturates_from(Duration::from_secs(3600)), None);
        assert_eq!(saturates_from(Expiry::LONGEST * 1_000_000), None);
        assert_eq!(saturates_from(Duration::MAX), Some(0));
    }

    #[test]
    fn the_saturation_point_is_where_system_time_overflows() {
        let Some(point) = (0..64)
            .map(|shift| Duration::from_secs(u64::MAX >> shift))
            .find_map(|lifetime| {
                saturates_from(lifetime)
                    .filter(|&p| p > 0)
                    .map(|p| (lifetime, p))
            })
        else {
            // This platform's SystemTime overflows for every lifetime that gets that far.
            return;
        };
        let (lifetime, from) = point;
        let at = |ms: i64| UNIX_EPOCH.checked_add(Duration::from_millis(ms.unsigned_abs()));
        assert!(at(from - 1).and_then(|t| t.checked_add(lifetime)).is_some());
        assert!(at(from).and_then(|t| t.checked_add(lifetime)).is_none());
    }
}
