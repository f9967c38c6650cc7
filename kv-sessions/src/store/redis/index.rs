//! The index of sessions by user: one Redis set per user, holding the digests of the sessions
//! bound to them, and what a write does to it.
//!
//! The set of user `u` is `<key prefix>u:<tag>`, where the tag is the hex of the first 16 bytes
//! of SHA-256 of `u`: a user id may be an e-mail address, and key names show up in `SCAN`,
//! `MONITOR` and slow logs, so it stays out of them. The tag is also the start of a bound
//! session's `user` field, `<tag>:<user>`, so that a script that deletes a session finds its
//! set without hashing, and whoever reads the set checks each member's `user` field against the
//! whole value: that is what makes a member a session of `u`, and two users whose tags collide
//! still never see each other's sessions.
//!
//! On Redis Cluster a script may touch only the keys of one hash slot, so `u` has one set per
//! slot that holds a session of theirs, `<key prefix>u:<tag>:{xx}`, in the slot of the sessions'
//! hash tag (see [`layout`](super::layout)), which the write scripts change exactly as they
//! change the one set on a single server. A directory, `<key prefix>d:<tag>`, lists the hash tags
//! of those sets, each scored with the moment it was last recorded: [`Directory`] holds its rules.

use std::fmt;
use std::time::{Duration, SystemTime};

use sha2::{Digest as _, Sha256};

use super::hash::{digits, from_millis, parse_meta};
use super::layout::{KeyLayout, SlotTag};
use crate::id::SessionDigest;
use crate::owner::{SessionOwner, UserSession};

/// The first 16 bytes of SHA-256 of a user id, printed as 32 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct UserTag([u8; 16]);

impl UserTag {
    /// The tag of `user`.
    pub(super) fn of(user: &str) -> Self {
        let full = Sha256::digest(user.as_bytes());
        let mut tag = [0; 16];
        tag.copy_from_slice(&full[..16]);
        Self(tag)
    }
}

impl fmt::Display for UserTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

/// The value of a bound session's `user` field: the user's tag, `:`, then the user id.
pub(super) struct UserField<'u>(pub(super) &'u str);

impl fmt::Display for UserField<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", UserTag::of(self.0), self.0)
    }
}

/// The user id in a `user` field that [`UserField`] wrote, where its tag is that user's.
pub(super) fn parse_user_field(text: &str) -> Option<&str> {
    let (tag, user) = text.split_once(':')?;
    (!user.is_empty() && UserTag::of(user).to_string() == tag).then_some(user)
}

/// A session in a user's set: the set's key, and the session's digest, which is the member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Member {
    set: String,
    digest: SessionDigest,
}

/// What a write does to the index, decided in Rust from the binding of the copy it merged
/// against and the binding of what it writes, and carried out by `index.lua` in the write's
/// script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Reindex {
    /// Neither is bound: the write touches no set.
    Untouched,
    /// The session stays in the same user's set under the same digest; the set's expiry is
    /// pushed out to the session's deadline where that lies beyond it, and where the set is gone
    /// (evicted, or deleted from outside), the session goes back in.
    Hold(Member),
    /// The session leaves a set, joins one, or both (a bind, an unbind, a rebind to another
    /// user, a renewal of a bound session); the set it joins is held as above.
    Move {
        leave: Option<Member>,
        join: Option<Member>,
    },
}

impl Reindex {
    /// The change from the session `before` (its owner and digest, where it was bound) to the
    /// session `after`, with keys named by `keys`.
    pub(super) fn between(
        keys: &KeyLayout,
        before: Option<(&SessionOwner, SessionDigest)>,
        after: Option<(&SessionOwner, SessionDigest)>,
    ) -> Self {
        let member = |(owner, digest): (&SessionOwner, SessionDigest)| Member {
            set: keys.user_set(owner.user(), digest),
            digest,
        };
        match (before.map(member), after.map(member)) {
            (None, None) => Self::Untouched,
            (Some(leave), Some(join)) if leave == join => Self::Hold(join),
            (leave, join) => Self::Move { leave, join },
        }
    }

    /// What `index.lua` takes as the plan: `""`, `"hold"`, `"leave"`, `"join"` or `"move"`.
    pub(super) fn tag(&self) -> &'static str {
        match self {
            Self::Untouched => "",
            Self::Hold(_) => "hold",
            Self::Move {
                leave: Some(_),
                join: None,
            } => "leave",
            Self::Move {
                leave: None,
                join: Some(_),
            } => "join",
            Self::Move { .. } => "move",
        }
    }

    /// The sets the write touches, in the order `index.lua` reads them from `KEYS`: the set
    /// held, or the set left and then the set joined.
    pub(super) fn keys(&self) -> Vec<&str> {
        match self {
            Self::Untouched => Vec::new(),
            Self::Hold(member) => vec![&member.set],
            Self::Move { leave, join } => [leave, join]
                .into_iter()
                .flatten()
                .map(|member| member.set.as_str())
                .collect(),
        }
    }

    /// The digest that leaves a set, if one does.
    pub(super) fn leaving(&self) -> Option<SessionDigest> {
        match self {
            Self::Move {
                leave: Some(member),
                ..
            } => Some(member.digest),
            _ => None,
        }
    }

    /// The digest that joins a set, or that stays in one, if one does.
    pub(super) fn joining(&self) -> Option<SessionDigest> {
        match self {
            Self::Hold(member)
            | Self::Move {
                join: Some(member), ..
            } => Some(member.digest),
            _ => None,
        }
    }
}

/// The rules of a user's directory on Redis Cluster: the sorted set of the hash tags of the
/// user's per-slot sets, each scored with when it was last recorded, in milliseconds since the
/// Unix epoch.
///
/// - **Recorded before the session.** Before a write that puts a session in a user's set it was
///   not in (a create of a bound session, a bind, a rebind), the store records the session's tag
///   in the user's directory, with a call of its own (`directory.lua`): the session's tag is in
///   the directory before the session is bound, so a listing that reads the directory never
///   misses a bound session.
/// - **Expiry.** The same call pushes the directory's expiry out to at least
///   [`expiry_for`](Self::expiry_for) the session's deadline: the deadline rounded up to the
///   hour, plus an hour. A save of a bound session whose deadline moves into a later hour than
///   the copy it merged against records it again. So the directory never expires before a
///   session it leads to, and a session saved on every request costs this extra round trip once
///   an hour, not on every save.
/// - **Forgetting a tag.** A listing that finds a tag's set gone forgets the tag, but only where
///   it was last recorded more than [`GRACE`](Self::GRACE) ago (`forget.lua` checks the score
///   again in Redis): a bind in flight records its tag a moment before its script runs, and far
///   less than the grace before.
pub(super) struct Directory;

impl Directory {
    /// How long a tag stays in a directory after it was last recorded, though its set is gone:
    /// far longer than any operation may take.
    pub(super) const GRACE: Duration = Duration::from_secs(600);

    /// The expiry a directory needs for a session whose deadline is `deadline`: that deadline,
    /// rounded up to the hour, plus an hour.
    pub(super) fn expiry_for(deadline: SystemTime) -> SystemTime {
        const HOUR: u64 = 3600;
        let seconds = deadline
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        SystemTime::UNIX_EPOCH + Duration::from_secs((seconds / HOUR + 2) * HOUR)
    }

    /// Whether a write from the bound session `before` (its owner and deadline, where it was
    /// bound) to `after` must record `after`'s tag in its user's directory first: where it joins
    /// the user's sessions, and where its deadline needs a later directory expiry.
    pub(super) fn must_record(
        before: Option<(&SessionOwner, SystemTime)>,
        after: (&SessionOwner, SystemTime),
    ) -> bool {
        match before {
            Some((owner, deadline)) if owner.user() == after.0.user() => {
                Self::expiry_for(after.1) > Self::expiry_for(deadline)
            }
            _ => true,
        }
    }

    /// The tags, and the moments each was last recorded, of a directory as `ZRANGE … WITHSCORES`
    /// gives it; a member that is not a tag is skipped, with a warning.
    pub(super) fn entries(flat: &[Vec<u8>]) -> Vec<(SlotTag, SystemTime)> {
        let entry = |pair: &[Vec<u8>]| {
            let tag = SlotTag::parse(&pair[0])?;
            let score: f64 = std::str::from_utf8(&pair[1]).ok()?.parse().ok()?;
            Some((tag, from_millis(score as u64)))
        };
        let entries = flat.chunks_exact(2).filter_map(|pair| {
            let read = entry(pair);
            if read.is_none() {
                tracing::warn!("a user's directory held a member that is not a hash tag");
            }
            read
        });
        entries.collect()
    }
}

/// A reply of `sessions_of.lua` or `revoke_all.lua` that does not hold the same number of values
/// for each session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a script over a user's sessions gave {len} values, not {each} for each session")]
pub(super) struct UnevenReply {
    len: usize,
    each: usize,
}

/// `flat` in chunks of `each` values, one for each session, where it divides evenly.
fn per_session(
    flat: &[Option<Vec<u8>>],
    each: usize,
) -> Result<std::slice::ChunksExact<'_, Option<Vec<u8>>>, UnevenReply> {
    if !flat.len().is_multiple_of(each) {
        return Err(UnevenReply {
            len: flat.len(),
            each,
        });
    }
    Ok(flat.chunks_exact(each))
}

/// `value` as text, where it is present and UTF-8.
fn text(value: &Option<Vec<u8>>) -> Option<&str> {
    std::str::from_utf8(value.as_deref()?).ok()
}

/// The live sessions at `now` among those `sessions_of.lua` listed, four values each: the
/// digest, then the `meta`, `saved` and `label` fields. A session whose fields do not read is
/// left out, with a warning: a load of it reports it as corrupt.
pub(super) fn listed(
    flat: &[Option<Vec<u8>>],
    now: SystemTime,
) -> Result<Vec<UserSession>, UnevenReply> {
    let mut sessions = Vec::with_capacity(flat.len() / 4);
    for fields in per_session(flat, 4)? {
        match user_session(fields) {
            Some(session) if session.expires_at() > now => sessions.push(session),
            Some(_) => {}
            None => tracing::warn!("leaving out of a listing a session whose fields do not read"),
        }
    }
    Ok(sessions)
}

/// The session of one listing's four values, where they read.
fn user_session(fields: &[Option<Vec<u8>>]) -> Option<UserSession> {
    let [digest, meta, saved, label] = fields else {
        return None;
    };
    let digest = text(digest)?.parse().ok()?;
    let (_, created_at, expires_at) = parse_meta(text(meta)?)?;
    let saved_at = digits(text(saved)?)?;
    let label = match label {
        Some(bytes) => Some(std::str::from_utf8(bytes).ok()?),
        None => None,
    };
    Some(UserSession::new(
        digest,
        from_millis(created_at),
        from_millis(saved_at),
        from_millis(expires_at),
        label,
    ))
}

/// Whether a session whose `meta` field was `meta` was live at `now`; `false` where there was
/// none, or it does not read.
pub(super) fn was_live(meta: &Option<Vec<u8>>, now: SystemTime) -> bool {
    let deadline = text(meta)
        .and_then(parse_meta)
        .map(|(_, _, expires_at)| from_millis(expires_at));
    deadline.is_some_and(|deadline| deadline > now)
}

/// The digests of the sessions `revoke_all.lua` deleted that were live at `now`, from its reply:
/// each digest, then the `meta` field its session held.
pub(super) fn revoked(
    flat: &[Option<Vec<u8>>],
    now: SystemTime,
) -> Result<Vec<SessionDigest>, UnevenReply> {
    let mut revoked = Vec::with_capacity(flat.len() / 2);
    for pair in per_session(flat, 2)? {
        let [digest, meta] = pair else { continue };
        match text(digest).and_then(|digest| digest.parse().ok()) {
            Some(digest) if was_live(meta, now) => revoked.push(digest),
            Some(_) => {}
            None => tracing::warn!("a user's set held a member that is not a session digest"),
        }
    }
    Ok(revoked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::SessionId;

    fn owner(user: &str) -> SessionOwner {
        SessionOwner::new(user)
    }

    fn set_key(prefix: &str, user: &str) -> String {
        KeyLayout::single(prefix).user_set(user, SessionId::generate().digest())
    }

    #[test]
    fn a_set_key_names_the_user_by_a_tag_and_cannot_be_a_session_key() {
        let key = set_key("shop:", "ana@example.com");
        assert_eq!(key, format!("shop:u:{}", UserTag::of("ana@example.com")));
        assert_eq!(key.len(), "shop:u:".len() + 32);
        assert!(!key.contains("ana"));
        assert!(!key["shop:".len()..].chars().all(|c| c.is_ascii_hexdigit()));
        // The first 16 bytes of SHA-256("a"), ca978112ca1bbdcafac231b39a23dc4d…
        assert_eq!(
            UserTag::of("a").to_string(),
            "ca978112ca1bbdcafac231b39a23dc4d"
        );
    }

    #[test]
    fn a_user_field_reads_back_only_where_its_tag_is_the_users() {
        let field = UserField("ana:42").to_string();
        assert_eq!(field, format!("{}:ana:42", UserTag::of("ana:42")));
        assert_eq!(parse_user_field(&field), Some("ana:42"));
        let forged = format!("{}:bob", UserTag::of("ana"));
        assert_eq!(parse_user_field(&forged), None);
        assert_eq!(parse_user_field("ana"), None);
        assert_eq!(parse_user_field(&format!("{}:", UserTag::of(""))), None);
    }

    #[test]
    fn a_write_touches_the_index_only_where_the_binding_changes() {
        let (ana, bob) = (owner("ana"), owner("bob"));
        let labelled = owner("ana").with_label("phone");
        let (one, two) = (
            SessionId::generate().digest(),
            SessionId::generate().digest(),
        );
        let keys = KeyLayout::single("p:");
        let plan = |before, after| Reindex::between(&keys, before, after);
        let (ana_set, bob_set) = (set_key("p:", "ana"), set_key("p:", "bob"));

        let untouched = plan(None, None);
        assert_eq!((untouched.tag(), untouched.keys()), ("", vec![]));
        let hold = plan(Some((&ana, one)), Some((&labelled, one)));
        assert_eq!((hold.tag(), hold.keys()), ("hold", vec![ana_set.as_str()]));
        assert_eq!((hold.leaving(), hold.joining()), (None, Some(one)));

        let bind = plan(None, Some((&ana, one)));
        assert_eq!((bind.tag(), bind.keys()), ("join", vec![ana_set.as_str()]));
        assert_eq!((bind.leaving(), bind.joining()), (None, Some(one)));
        let unbind = plan(Some((&ana, one)), None);
        assert_eq!(
            (unbind.tag(), unbind.keys()),
            ("leave", vec![ana_set.as_str()])
        );
        assert_eq!((unbind.leaving(), unbind.joining()), (Some(one), None));

        let rebind = plan(Some((&ana, one)), Some((&bob, one)));
        assert_eq!(
            (rebind.tag(), rebind.keys()),
            ("move", vec![ana_set.as_str(), bob_set.as_str()])
        );
        let renewal = plan(Some((&ana, one)), Some((&ana, two)));
        assert_eq!(
            (renewal.tag(), renewal.keys()),
            ("move", vec![ana_set.as_str(), ana_set.as_str()])
        );
        assert_eq!(
            (renewal.leaving(), renewal.joining()),
            (Some(one), Some(two))
        );
    }

    #[test]
    fn a_directory_outlives_its_sessions_by_the_hour_and_is_recorded_only_where_needed() {
        let at = |seconds: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(seconds);
        assert_eq!(Directory::expiry_for(at(0)), at(7200));
        assert_eq!(Directory::expiry_for(at(3599)), at(7200));
        assert_eq!(Directory::expiry_for(at(3600)), at(10800));
        let (ana, bob) = (owner("ana"), owner("bob"));
        assert!(Directory::must_record(None, (&ana, at(10))));
        assert!(Directory::must_record(Some((&bob, at(10))), (&ana, at(10))));
        assert!(!Directory::must_record(
            Some((&ana, at(10))),
            (&ana, at(3000))
        ));
        assert!(Directory::must_record(
            Some((&ana, at(10))),
            (&ana, at(3700))
        ));
        assert!(!Directory::must_record(
            Some((&ana, at(3700))),
            (&ana, at(10))
        ));
    }

    #[test]
    fn a_directory_reads_as_tags_and_moments() {
        let digest = SessionId::generate().digest();
        let tag = SlotTag::of(digest);
        let flat = [
            tag.to_string().into_bytes(),
            b"1500".to_vec(),
            b"zz".to_vec(),
            b"1".to_vec(),
        ];
        assert_eq!(Directory::entries(&flat), [(tag, from_millis(1500))]);
    }

    #[test]
    fn a_listing_keeps_the_live_sessions_that_read_and_refuses_an_uneven_reply() {
        let digest = SessionId::generate().digest();
        let value = |text: &str| Some(text.as_bytes().to_vec());
        let session =
            |meta: &str, label| [value(&digest.to_string()), value(meta), value("15"), label];
        let now = from_millis(50);
        let flat: Vec<_> = [
            session("3:10:90", value("phone")),
            session("3:10:50", None),
            session("3:10:x", None),
            session("3:10:99", None),
        ]
        .concat();
        let listed = listed(&flat, now).expect("even");
        assert_eq!(
            listed,
            [
                UserSession::new(
                    digest,
                    from_millis(10),
                    from_millis(15),
                    from_millis(90),
                    Some("phone")
                ),
                UserSession::new(
                    digest,
                    from_millis(10),
                    from_millis(15),
                    from_millis(99),
                    None
                ),
            ]
        );
        assert_eq!(
            super::listed(&flat[..3], now),
            Err(UnevenReply { len: 3, each: 4 })
        );
    }

    #[test]
    fn a_revoked_session_counts_where_its_meta_shows_it_was_live() {
        let now = from_millis(50);
        let meta = |text: &str| Some(text.as_bytes().to_vec());
        assert!(was_live(&meta("1:10:51"), now));
        assert!(!was_live(&meta("1:10:50"), now));
        assert!(!was_live(&meta("1:10"), now));
        assert!(!was_live(&None, now));
        let (live, dead) = (
            SessionId::generate().digest(),
            SessionId::generate().digest(),
        );
        let flat = [
            meta(&live.to_string()),
            meta("1:10:51"),
            meta(&dead.to_string()),
            meta("1:10:50"),
            meta("junk"),
            meta("1:10:51"),
        ];
        assert_eq!(revoked(&flat, now), Ok(vec![live]));
        assert_eq!(
            revoked(&flat[..1], now),
            Err(UnevenReply { len: 1, each: 2 })
        );
    }
}
