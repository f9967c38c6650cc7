//! What the scripts are told, as their `ARGV`: the notice a write announces and to whom, what it
//! does to the index of sessions by user, a record merged in Rust, written whole or as the fields
//! that changed, and the `meta` field the write expects to find.

use redis::{Cmd, RedisWrite as _};

use super::hash::{self, ENTRY, FieldChanges, META, Meta};
use super::index::Reindex;
use super::mode::Routing;
use crate::record::Record;
use crate::store::Invalidation;

/// The first three `ARGV` of every script that announces its write (`update.lua`, `renew.lua`,
/// `delete.lua`): the channel of `routing`, `notice` in its text form (empty where the channel
/// is, which tells the script that the feed is off), then the writing instance's id, empty but in
/// targeted mode.
pub(super) fn announcement(call: &mut Cmd, routing: &Routing, notice: &Invalidation) {
    call.arg(routing.channel());
    if routing.channel().is_empty() {
        call.arg("");
    } else {
        call.write_arg_fmt(notice);
    }
    call.arg(routing.instance());
}

/// The first three `ARGV` of `revoke_all.lua`, which announces several removals, each with a
/// notice of its own that the script writes: the channel of `routing`, an empty notice, then the
/// writing instance's id, empty but in targeted mode, as in an [`announcement`].
pub(super) fn announcements(call: &mut Cmd, routing: &Routing) {
    call.arg(routing.channel()).arg("").arg(routing.instance());
}

/// The three `ARGV` of every script that may change the index (`create.lua`, `update.lua`,
/// `renew.lua`), after the [`announcement`] or the creator: the plan's tag, then the digest that
/// leaves a set and the digest that joins or stays in one, each empty where none does. The sets themselves
/// are among the call's `KEYS`, as [`Reindex::keys`] orders them.
pub(super) fn reindex(call: &mut Cmd, plan: &Reindex) {
    call.arg(plan.tag());
    for digest in [plan.leaving(), plan.joining()] {
        match digest {
            Some(digest) => call.write_arg_fmt(digest),
            None => call.write_arg(b""),
        }
    }
}

/// The rest of the `ARGV` of `update.lua`, after the [`reindex`] plan. The script writes
/// `merged`, merged in Rust against `base`, as the fields that changed: `meta`, the `meta` field
/// of `base`'s hash as the write expects to find it; `merged`'s deadline in milliseconds; the
/// counts of fields to set and to delete; the fields to set, each name then value, `meta` first;
/// then the names of the fields to delete.
pub(super) fn update(call: &mut Cmd, meta: &[u8], base: &Record, merged: &Record) {
    let changes = FieldChanges::between(base, merged);
    let metadata_set = || {
        let fields = changes.metadata.iter();
        fields.filter_map(|(name, value)| Some((*name, value.as_deref()?)))
    };
    let metadata_deleted = || {
        let fields = changes.metadata.iter();
        fields.filter_map(|(name, value)| value.is_none().then_some(*name))
    };
    let sets = 1 + metadata_set().count() + changes.entries_set.len();
    let deletes = metadata_deleted().count() + changes.entries_deleted.len();
    call.arg(meta)
        .arg(hash::millis(merged.expires_at()))
        .arg(sets)
        .arg(deletes)
        .arg(META);
    call.write_arg_fmt(Meta(merged));
    for (name, value) in metadata_set() {
        call.arg(name).arg(value);
    }
    for (key, json) in &changes.entries_set {
        call.write_arg_fmt(format_args!("{ENTRY}{key}"));
        call.arg(*json);
    }
    for name in metadata_deleted() {
        call.arg(name);
    }
    for key in &changes.entries_deleted {
        call.write_arg_fmt(format_args!("{ENTRY}{key}"));
    }
}

/// The rest of the `ARGV` of `renew.lua`, after the [`reindex`] plan. The script moves a session
/// to a fresh id as `record`: `old_meta`, the `meta` field of the old id's hash as the write
/// expects to find it (empty for none), then `record` as [`fresh`] lays it out.
pub(super) fn renew(call: &mut Cmd, old_meta: &[u8], record: &Record) {
    call.arg(old_meta);
    fresh(call, record);
}

/// The `ARGV` of `create.lua`: the creating instance's id, empty but in targeted mode, the
/// [`reindex`] `plan`, then `record` as [`fresh`] lays it out.
pub(super) fn create(call: &mut Cmd, routing: &Routing, plan: &Reindex, record: &Record) {
    call.arg(routing.instance());
    reindex(call, plan);
    fresh(call, record);
}

/// The `ARGV` that writes a whole record merged in Rust, at the end of `create.lua` and of
/// `renew.lua`: its deadline in milliseconds, then the names and values of its hash's fields.
pub(super) fn fresh(call: &mut Cmd, record: &Record) {
    call.arg(hash::millis(record.expires_at()));
    hash::write_fields(record, call);
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::changes::{Changes, SessionPolicy};
    use crate::expiry::Expiry;
    use crate::id::SessionId;
    use crate::owner::SessionOwner;
    use crate::store::redis::index::UserTag;
    use crate::store::redis::layout::KeyLayout;
    use crate::store::redis::mode::InvalidationMode;

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

    fn base(expiry: Option<Expiry>) -> Record {
        Record::new(
            SessionId::generate(),
            4,
            hash::from_millis(10),
            hash::from_millis(70),
            [
                ("a".to_owned(), "1".to_owned()),
                ("b".to_owned(), "2".to_owned()),
            ],
        )
        .with_expiry(expiry)
    }

    #[test]
    fn an_update_carries_the_copy_meta_then_only_the_fields_that_changed() {
        let base = base(Some(Expiry::OnInactivity(MINUTE * 5)));
        let mut changes = Changes::new(SessionPolicy::new(Expiry::OnInactivity(MINUTE)));
        changes
            .set("c", "3")
            .set("b", "2")
            .remove("a")
            .set_expiry(None);
        let merged = changes
            .apply_to(base.id(), Some(&base), hash::from_millis(20))
            .expect("fits");
        let meta = Meta(&base).to_string();
        let argv = text(|call| update(call, meta.as_bytes(), &base, &merged));
        assert_eq!(
            argv,
            [
                "4:10:70",
                "60020",
                "2",
                "2",
                "meta",
                "5:10:60020",
                "k:c",
                "3",
                "rule",
                "k:a"
            ]
        );
    }

    #[test]
    fn an_update_that_clears_deletes_every_entry_of_the_copy_it_does_not_write_again() {
        let base = base(None);
        let mut changes = Changes::new(SessionPolicy::new(Expiry::OnInactivity(MINUTE)));
        changes
            .clear()
            .set("b", "20")
            .set_expiry(Some(Expiry::OnSessionEnd(MINUTE)));
        let merged = changes
            .apply_to(base.id(), Some(&base), hash::from_millis(20))
            .expect("fits");
        let meta = Meta(&base).to_string();
        let argv = text(|call| update(call, meta.as_bytes(), &base, &merged));
        assert_eq!(
            argv,
            [
                "4:10:70",
                "60020",
                "3",
                "1",
                "meta",
                "5:10:60020",
                "rule",
                "3:60000",
                "k:b",
                "20",
                "k:a"
            ]
        );
    }

    #[test]
    fn an_announcement_carries_the_channel_the_notice_and_the_writer_or_nothing_where_the_feed_is_off()
     {
        let digest = SessionId::generate().digest();
        let notice = Invalidation::saved(digest, 7);
        let broadcast = Routing::new(InvalidationMode::Broadcast, "shop:");
        let argv = text(|call| announcement(call, &broadcast, &notice));
        assert_eq!(argv, ["shop:invalidations", &format!("{digest} 7"), ""]);
        let targeted = Routing::new(InvalidationMode::Targeted, "shop:");
        let argv = text(|call| announcement(call, &targeted, &notice));
        assert_eq!(
            argv,
            [
                "shop:invalidations:",
                &format!("{digest} 7"),
                targeted.instance()
            ]
        );
        let argv = text(|call| announcement(call, &Routing::off(), &Invalidation::removed(digest)));
        assert_eq!(argv, ["", "", ""]);
    }

    #[test]
    fn a_fresh_record_carries_its_deadline_then_its_fields() {
        let record = base(Some(Expiry::AtDateTime(hash::from_millis(70))));
        let argv = text(|call| fresh(call, &record));
        assert_eq!(
            argv,
            [
                "70", "meta", "4:10:70", "rule", "2:70", "k:a", "1", "k:b", "2"
            ]
        );
    }

    #[test]
    fn a_create_carries_the_creator_in_targeted_mode_the_plan_then_the_record() {
        let record = base(None);
        let untouched = Reindex::Untouched;
        let targeted = Routing::new(InvalidationMode::Targeted, "shop:");
        let argv = text(|call| create(call, &targeted, &untouched, &record));
        assert_eq!(argv[..6], [targeted.instance(), "", "", "", "70", "meta"]);
        let broadcast = Routing::new(InvalidationMode::Broadcast, "shop:");
        let argv = text(|call| create(call, &broadcast, &untouched, &record));
        assert_eq!(argv[..6], ["", "", "", "", "70", "meta"]);
    }

    #[test]
    fn a_plan_carries_its_tag_then_the_digests_that_leave_and_join() {
        let owner = SessionOwner::new("ana");
        let (old, new) = (
            SessionId::generate().digest(),
            SessionId::generate().digest(),
        );
        let renewal = Reindex::between(
            &KeyLayout::single("shop:"),
            Some((&owner, old)),
            Some((&owner, new)),
        );
        let argv = text(|call| reindex(call, &renewal));
        assert_eq!(argv, ["move", &old.to_string(), &new.to_string()]);
        let bind = Reindex::between(&KeyLayout::single("shop:"), None, Some((&owner, new)));
        assert_eq!(
            text(|call| reindex(call, &bind)),
            ["join", "", &new.to_string()]
        );
        let hold = Reindex::between(
            &KeyLayout::single("shop:"),
            Some((&owner, old)),
            Some((&owner, old)),
        );
        assert_eq!(
            text(|call| reindex(call, &hold)),
            ["hold", "", &old.to_string()]
        );
    }

    #[test]
    fn an_update_that_binds_sets_the_binding_and_one_that_unbinds_deletes_it() {
        let base = base(None);
        let mut changes = Changes::new(SessionPolicy::new(Expiry::OnInactivity(MINUTE)));
        changes.bind(SessionOwner::new("ana").with_label("phone"));
        let bound = changes
            .apply_to(base.id(), Some(&base), hash::from_millis(20))
            .expect("fits");
        let meta = Meta(&base).to_string();
        let argv = text(|call| update(call, meta.as_bytes(), &base, &bound));
        let user = format!("{}:ana", UserTag::of("ana"));
        assert_eq!(
            argv,
            [
                "4:10:70",
                "60020",
                "4",
                "0",
                "meta",
                "5:10:60020",
                "user",
                &user,
                "label",
                "phone",
                "saved",
                "20"
            ]
        );
        let mut changes = Changes::new(SessionPolicy::new(Expiry::OnInactivity(MINUTE)));
        changes.unbind();
        let unbound = changes
            .apply_to(base.id(), Some(&bound), hash::from_millis(30))
            .expect("fits");
        let meta = Meta(&bound).to_string();
        let argv = text(|call| update(call, meta.as_bytes(), &bound, &unbound));
        assert_eq!(
            argv,
            [
                "5:10:60020",
                "60030",
                "1",
                "3",
                "meta",
                "6:10:60030",
                "user",
                "label",
                "saved"
            ]
        );
    }

    #[test]
    fn a_renewal_carries_the_old_meta_or_nothing_then_the_moved_record() {
        let record = base(None);
        let argv = text(|call| renew(call, b"3:10:70", &record));
        assert_eq!(argv[..3], ["3:10:70", "70", "meta"]);
        let argv = text(|call| renew(call, b"", &record));
        assert_eq!(argv[..3], ["", "70", "meta"]);
    }
}
