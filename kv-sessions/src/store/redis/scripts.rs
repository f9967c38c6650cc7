//! The Lua scripts that carry out each write as one atomic step inside Redis, and their replies.
//!
//! Each states one rule: create writes unless the key exists; update writes the changed fields
//! where `meta` is still the one Rust merged against; renew moves a session on the same
//! condition; delete takes the hash and deletes it; revoke deletes a session where its `user`
//! field is the user's, and revoke-all every such session in the user's set. None of them
//! merges: Rust does, with [`Changes::apply_to`](crate::Changes::apply_to), and the scripts only
//! check and write. The load script, run in targeted mode only, reads a hash and records the
//! reader as its watcher; the listing reads the sessions in a user's set, trimming those that
//! are no longer the user's. On Redis Cluster, two more keep a user's directory of per-slot sets:
//! one records a set's hash tag, the other forgets those whose sets are gone.
//!
//! The sources sit beside this file, in `lua/`. Every script but load starts with a prelude
//! generated here from the names in [`hash`](super::hash), so the layout is spelled out once.
//! The scripts that write a session (create, update, renew) share `fields.lua`, and change the
//! index of sessions by user as Rust planned through `index.lua`. Every script that changes or
//! removes a session (all but create) announces it on the store's invalidation feed, through
//! `announce.lua`: a create needs no notice, since no cache can hold a session under an id that
//! was just generated. Create, update, renew and load record watchers through `watch.lua`.

use std::sync::LazyLock;

use redis::{Cmd, FromRedisValue, Script, Value};

use super::hash::{LABEL, META, SAVED, USER};

/// The scripts, hashed once per process. Redis keeps them by that hash; where it has lost them
/// (a restart, `SCRIPT FLUSH`), [`Script`] sends the source again.
pub(super) static SCRIPTS: LazyLock<Scripts> = LazyLock::new(|| Scripts {
    create: LuaScript::writing(include_str!("lua/create.lua")),
    update: LuaScript::writing(include_str!("lua/update.lua")),
    renew: LuaScript::writing(include_str!("lua/renew.lua")),
    delete: LuaScript::announcing(include_str!("lua/delete.lua")),
    load: LuaScript::new(&[WATCH, include_str!("lua/load.lua")]),
    sessions_of: LuaScript::new(&[&prelude(), include_str!("lua/sessions_of.lua")]),
    revoke: LuaScript::announcing(include_str!("lua/revoke.lua")),
    revoke_all: LuaScript::announcing(include_str!("lua/revoke_all.lua")),
    directory: LuaScript::new(&[include_str!("lua/directory.lua")]),
    forget: LuaScript::new(&[include_str!("lua/forget.lua")]),
});

/// Every script the store runs.
pub(super) struct Scripts {
    /// Writes a new session.
    pub(super) create: LuaScript,
    /// Writes an update merged in Rust, where the copy it was merged against is still stored.
    pub(super) update: LuaScript,
    /// Moves a session merged in Rust to a new id, where the old id still holds the copy it was
    /// merged against.
    pub(super) renew: LuaScript,
    /// Deletes a session and returns it.
    pub(super) delete: LuaScript,
    /// Reads a session and records the reader among its watchers (targeted mode).
    pub(super) load: LuaScript,
    /// Reads the sessions in a user's set that are still the user's, and trims the others.
    pub(super) sessions_of: LuaScript,
    /// Deletes a session where it is the user's.
    pub(super) revoke: LuaScript,
    /// Deletes every session of a user but one.
    pub(super) revoke_all: LuaScript,
    /// Records a hash tag in a user's directory (Redis Cluster).
    pub(super) directory: LuaScript,
    /// Takes out of a user's directory the tags whose sets are gone (Redis Cluster).
    pub(super) forget: LuaScript,
}

/// The function that publishes a write's notice, shared by every script that announces one.
const ANNOUNCE: &str = include_str!("lua/announce.lua");
/// The function that records an instance as a watcher of a session, shared by every script that
/// leaves an instance with a copy.
const WATCH: &str = include_str!("lua/watch.lua");
/// The functions that change the index of sessions by user, shared by every script that writes a
/// session.
const INDEX: &str = include_str!("lua/index.lua");

/// The arguments a call has room for before its buffers grow: enough for the keys, the metadata
/// and a few entries, so that most calls allocate once.
const CALL_ARGS: usize = 32;
/// The bytes of arguments a call has room for before its buffer grows.
const CALL_BYTES: usize = 512;

/// A script's source and its SHA-1, by which it is called.
pub(super) struct LuaScript {
    source: String,
    hash: String,
}

impl LuaScript {
    /// The script made of `parts`, one after the other.
    fn new(parts: &[&str]) -> Self {
        let source = parts.join("\n");
        let hash = Script::new(&source).get_hash().to_owned();
        Self { source, hash }
    }

    /// A script that writes a session: the prelude that names the fields, `fields.lua`,
    /// `announce.lua`, `watch.lua`, `index.lua`, then `body`.
    fn writing(body: &str) -> Self {
        let fields = include_str!("lua/fields.lua");
        Self::new(&[&prelude(), fields, ANNOUNCE, WATCH, INDEX, body])
    }

    /// A script that removes sessions and announces it: the prelude, `announce.lua`, then
    /// `body`.
    fn announcing(body: &str) -> Self {
        Self::new(&[&prelude(), ANNOUNCE, body])
    }

    /// A call of the script by its SHA-1 over `keys`, to which the caller adds the `ARGV`.
    pub(super) fn call(&self, keys: &[&str]) -> Cmd {
        let mut call = Cmd::with_capacity(CALL_ARGS, CALL_BYTES);
        call.arg("EVALSHA")
            .arg(&self.hash)
            .arg(keys.len())
            .arg(keys);
        call
    }

    /// The command that hands Redis the script's source, for a server that has lost it (after a
    /// restart or `SCRIPT FLUSH`).
    pub(super) fn load(&self) -> Cmd {
        let mut load = redis::cmd("SCRIPT");
        load.arg("LOAD").arg(&self.source);
        load
    }
}

/// The Lua that names the fields the scripts look at, from the constants of the layout.
fn prelude() -> String {
    [
        ("META", META),
        ("USER", USER),
        ("SAVED", SAVED),
        ("LABEL", LABEL),
    ]
    .map(|(name, field)| format!("local {name} = \"{field}\"\n"))
    .concat()
}

/// What a write script answered: a tag, and the latest hash where the write found a newer copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Reply {
    /// The script wrote the record merged in Rust that it was sent.
    Written,
    /// There was no session to update, and nothing was written.
    Gone,
    /// The fresh id's key exists; nothing was written.
    InUse,
    /// The stored `meta` is not the one the write was merged against, so nothing was written;
    /// this is the hash as the script found it, a flat list of names and values.
    Stale(Vec<Vec<u8>>),
}

/// A reply no script gives.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a session script gave an unexpected reply, tagged {0:?}")]
pub(super) struct UnexpectedReply(String);

impl Reply {
    /// The error of a script that gave this reply where it should not have.
    pub(super) fn unexpected(&self) -> UnexpectedReply {
        let tag = match self {
            Self::Written => "written",
            Self::Gone => "gone",
            Self::InUse => "in_use",
            Self::Stale(_) => "stale",
        };
        UnexpectedReply(tag.to_owned())
    }

    /// Reads what a write script returns: a bare tag, or a `{tag, payload}` pair.
    pub(super) fn read(value: Value) -> Result<Self, UnexpectedReply> {
        let tagged = match value {
            Value::BulkString(_) | Value::SimpleString(_) => {
                String::from_redis_value(value).map(|tag| (tag, Vec::new()))
            }
            value => <(String, Vec<Vec<u8>>)>::from_redis_value(value),
        };
        let (tag, payload) =
            tagged.map_err(|error| UnexpectedReply(format!("(unreadable: {error})")))?;
        Self::parse(tag, payload)
    }

    /// The reply tagged `tag`, with `payload`.
    fn parse(tag: String, payload: Vec<Vec<u8>>) -> Result<Self, UnexpectedReply> {
        match tag.as_str() {
            "written" => Ok(Self::Written),
            "gone" => Ok(Self::Gone),
            "in_use" => Ok(Self::InUse),
            "stale" => Ok(Self::Stale(payload)),
            _ => Err(UnexpectedReply(tag)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(tag: &str, payload: &[&str]) -> Result<Reply, UnexpectedReply> {
        let payload = payload.iter().map(|s| s.as_bytes().to_vec()).collect();
        Reply::parse(tag.to_owned(), payload)
    }

    #[test]
    fn every_tag_a_script_returns_is_understood() {
        assert_eq!(reply("written", &[]), Ok(Reply::Written));
        assert_eq!(reply("gone", &[]), Ok(Reply::Gone));
        assert_eq!(reply("in_use", &[]), Ok(Reply::InUse));
        assert_eq!(
            reply("stale", &["meta", "1:2:3"]),
            Ok(Reply::Stale(vec![b"meta".to_vec(), b"1:2:3".to_vec()]))
        );
        assert_eq!(reply("stale", &[]), Ok(Reply::Stale(Vec::new())));
    }

    #[test]
    fn a_bare_tag_or_a_tagged_hash_is_read() {
        let bulk = |text: &str| Value::BulkString(text.as_bytes().to_vec());
        assert_eq!(Reply::read(bulk("written")), Ok(Reply::Written));
        assert_eq!(
            Reply::read(Value::SimpleString("gone".to_owned())),
            Ok(Reply::Gone)
        );
        assert_eq!(
            Reply::read(Value::Array(vec![
                bulk("stale"),
                Value::Array(vec![bulk("meta"), bulk("2:1:9")])
            ])),
            Ok(Reply::Stale(vec![b"meta".to_vec(), b"2:1:9".to_vec()]))
        );
        assert!(Reply::read(Value::Int(1)).is_err());
        assert!(Reply::read(Value::Array(vec![bulk("stale")])).is_err());
    }

    #[test]
    fn an_unknown_tag_is_unexpected() {
        let unexpected = |tag: &str| Err(UnexpectedReply(tag.to_owned()));
        assert_eq!(reply("stored", &[]), unexpected("stored"));
        assert_eq!(reply("too_large", &["1"]), unexpected("too_large"));
        assert_eq!(Reply::Gone.unexpected(), UnexpectedReply("gone".to_owned()));
    }

    #[test]
    fn the_prelude_names_the_fields_the_scripts_look_at() {
        assert_eq!(
            prelude(),
            "local META = \"meta\"\nlocal USER = \"user\"\nlocal SAVED = \"saved\"\n\
             local LABEL = \"label\"\n"
        );
    }
}
