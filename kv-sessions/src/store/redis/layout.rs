//! The names of a [`RedisStore`](super::RedisStore)'s keys: one place that spells each of them,
//! on a single server and on Redis Cluster.
//!
//! On a single server a session is `<prefix><digest>`, its watcher set `<prefix>w:<digest>` and
//! a user's set `<prefix>u:<user tag>`, as they always were. On a cluster every key of one
//! session carries a hash tag, `{xx}`, the first byte of its digest in hex, so that the session,
//! its watcher set and its place in a user's index share a hash slot with the session a renewal
//! moves it to ([`SessionId::generate_successor`](crate::SessionId::generate_successor) keeps
//! that byte): `<prefix>{xx}<digest>`, `<prefix>w:{xx}<digest>` and `<prefix>u:<user
//! tag>:{xx}`, the user's sessions in that slot. A user's directory, `<prefix>d:<user tag>`, a
//! sorted set of the tags of the user's per-slot sets, has no tag: it lives in a slot of its own.

use std::fmt;

use super::index::UserTag;
use crate::id::SessionDigest;

/// What a watcher set's key holds after the key prefix. Session keys hold only hex digits (or,
/// on a cluster, `{`) there, so no watcher set can take a session's key.
const WATCHERS: &str = "w:";
/// What a user's set key holds after the key prefix, before the user's tag.
const SETS: &str = "u:";
/// What a user's directory key holds after the key prefix, before the user's tag (cluster only).
const DIRECTORIES: &str = "d:";

/// The hash tag of a session's keys on a cluster: the first byte of its digest, which a renewal
/// keeps. Printed as two lowercase hex digits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct SlotTag(u8);

impl SlotTag {
    /// The tag of the session whose digest is `digest`.
    pub(super) fn of(digest: SessionDigest) -> Self {
        Self(digest.first_byte())
    }

    /// The tag that [`Display`](fmt::Display) printed as `text`, where it reads.
    pub(super) fn parse(text: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(text).ok()?;
        let lowercase =
            text.len() == 2 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        lowercase.then(|| u8::from_str_radix(text, 16).ok().map(Self))?
    }
}

impl fmt::Display for SlotTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02x}", self.0)
    }
}

/// How a store names its keys: under its prefix, with hash tags on a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct KeyLayout {
    prefix: String,
    cluster: bool,
}

impl KeyLayout {
    /// The keys of a store on one server, under `prefix`.
    pub(super) fn single(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            cluster: false,
        }
    }

    /// The keys of a store on Redis Cluster, under `prefix`.
    pub(super) fn cluster(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            cluster: true,
        }
    }

    /// Whether the keys carry hash tags, for Redis Cluster.
    pub(super) fn is_cluster(&self) -> bool {
        self.cluster
    }

    /// What every key starts with.
    pub(super) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `{xx}` for `tag` on a cluster, nothing on one server.
    fn hash_tag(&self, tag: SlotTag) -> String {
        if self.cluster {
            format!("{{{tag}}}")
        } else {
            String::new()
        }
    }

    /// The key of the session whose digest is `digest`.
    pub(super) fn session(&self, digest: SessionDigest) -> String {
        format!("{}{digest}", self.sessions_in(SlotTag::of(digest)))
    }

    /// What the keys of the sessions of tag `tag` start with, to which a script appends a
    /// digest: the prefix, then on a cluster the hash tag.
    pub(super) fn sessions_in(&self, tag: SlotTag) -> String {
        format!("{}{}", self.prefix, self.hash_tag(tag))
    }

    /// The key of the watcher set of the session whose digest is `digest` (targeted mode).
    pub(super) fn watchers(&self, digest: SessionDigest) -> String {
        format!("{}{digest}", self.watchers_in(SlotTag::of(digest)))
    }

    /// What the watcher sets of the sessions of tag `tag` start with, to which a script appends
    /// a digest.
    pub(super) fn watchers_in(&self, tag: SlotTag) -> String {
        format!("{}{WATCHERS}{}", self.prefix, self.hash_tag(tag))
    }

    /// The key of the set of `user`'s sessions that holds the session whose digest is `digest`:
    /// the user's only set on one server, the set of its slot on a cluster.
    pub(super) fn user_set(&self, user: &str, digest: SessionDigest) -> String {
        self.user_set_in(user, SlotTag::of(digest))
    }

    /// The key of the set of `user`'s sessions of tag `tag`.
    pub(super) fn user_set_in(&self, user: &str, tag: SlotTag) -> String {
        format!("{}{}", self.sets_prefix(), UserTag::of(user)) + &self.set_suffix(tag)
    }

    /// What every user's set key starts with: a script that deletes a session appends the user
    /// tag it reads from the session, then the [`set_suffix`](Self::set_suffix).
    pub(super) fn sets_prefix(&self) -> String {
        format!("{}{SETS}", self.prefix)
    }

    /// What a user's set key of tag `tag` ends with after the user tag: `:{xx}` on a cluster,
    /// nothing on one server.
    pub(super) fn set_suffix(&self, tag: SlotTag) -> String {
        if self.cluster {
            format!(":{}", self.hash_tag(tag))
        } else {
            String::new()
        }
    }

    /// The key of `user`'s directory on a cluster: the tags of their per-slot sets.
    pub(super) fn directory(&self, user: &str) -> String {
        format!("{}{DIRECTORIES}{}", self.prefix, UserTag::of(user))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::SessionId;

    #[test]
    fn single_server_keys_stay_as_they_were() {
        let keys = KeyLayout::single("shop:");
        let digest = SessionId::generate().digest();
        assert_eq!(keys.session(digest), format!("shop:{digest}"));
        assert_eq!(keys.watchers(digest), format!("shop:w:{digest}"));
        assert_eq!(
            keys.user_set("ana", digest),
            format!("shop:u:{}", UserTag::of("ana"))
        );
        let watchers = keys.watchers(digest);
        assert!(
            !watchers["shop:".len()..]
                .chars()
                .all(|c| c.is_ascii_hexdigit())
        );
    }

    #[test]
    fn every_key_of_a_session_on_a_cluster_carries_its_first_digest_byte_as_a_hash_tag() {
        let keys = KeyLayout::cluster("shop:");
        let digest = SessionId::generate().digest();
        let tag = &digest.to_string()[..2];
        assert_eq!(keys.session(digest), format!("shop:{{{tag}}}{digest}"));
        assert_eq!(keys.watchers(digest), format!("shop:w:{{{tag}}}{digest}"));
        assert_eq!(
            keys.user_set("ana", digest),
            format!("shop:u:{}:{{{tag}}}", UserTag::of("ana"))
        );
        assert_eq!(
            keys.directory("ana"),
            format!("shop:d:{}", UserTag::of("ana"))
        );
        let old = SessionId::generate();
        let new = SessionId::generate_successor(&old);
        let hash_tag = |id: SessionId| {
            let key = keys.session(id.digest());
            key[..=key.find('}').expect("a hash tag")].to_owned()
        };
        assert_eq!(hash_tag(old), hash_tag(new), "a renewal stays in its slot");
    }

    #[test]
    fn a_slot_tag_reads_back_only_from_two_lowercase_hex_digits() {
        let digest = SessionId::generate().digest();
        let tag = SlotTag::of(digest);
        assert_eq!(SlotTag::parse(tag.to_string().as_bytes()), Some(tag));
        for junk in ["", "a", "abc", "AB", "g0", "-1"] {
            assert_eq!(SlotTag::parse(junk.as_bytes()), None, "{junk:?}");
        }
    }
}
