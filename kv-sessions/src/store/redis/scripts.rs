//! The Lua scripts that carry out each write as one atomic step inside Redis, and their replies.
//!
//! The sources sit beside this file, in `lua/`. Every script but delete starts with a prelude
//! generated here from the field names of [`hash`](super::hash), so the layout is spelled out
//! once, and with `fields.lua`; the merging scripts (update, renew) add `session.lua`.

use std::sync::LazyLock;

use redis::{Cmd, FromRedisValue, Script, Value};

use super::hash::{ENTRY, LONGEST_MS, META, RULE, RULE_MS};

/// The scripts, hashed once per process. Redis keeps them by that hash; where it has lost them
/// (a restart, `SCRIPT FLUSH`), [`Script`] sends the source again.
pub(super) static SCRIPTS: LazyLock<Scripts> = LazyLock::new(|| Scripts {
    create: LuaScript::writing(include_str!("lua/create.lua")),
    quick_update: LuaScript::writing(include_str!("lua/quick_update.lua")),
    update: LuaScript::merging(include_str!("lua/update.lua")),
    renew: LuaScript::merging(include_str!("lua/renew.lua")),
    delete: LuaScript::new(include_str!("lua/delete.lua").to_owned()),
});

/// Every script the store runs.
pub(super) struct Scripts {
    /// Writes a new session.
    pub(super) create: LuaScript,
    /// Writes an update merged in Rust, where the version it was merged against is still stored.
    pub(super) quick_update: LuaScript,
    /// Merges an update into the latest stored copy.
    pub(super) update: LuaScript,
    /// Moves a session to a new id.
    pub(super) renew: LuaScript,
    /// Deletes a session and returns it.
    pub(super) delete: LuaScript,
}

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
    fn new(source: String) -> Self {
        let hash = Script::new(&source).get_hash().to_owned();
        Self { source, hash }
    }

    /// A script that writes fields: the prelude that names them, `fields.lua`, then `body`.
    fn writing(body: &str) -> Self {
        Self::new(format!(
            "{}\n{}\n{body}",
            prelude(),
            include_str!("lua/fields.lua")
        ))
    }

    /// A script that merges into a stored session: as [`LuaScript::writing`], with
    /// `session.lua` before `body`.
    fn merging(body: &str) -> Self {
        Self::writing(&format!("{}\n{body}", include_str!("lua/session.lua")))
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

fn prelude() -> String {
    format!(
        "local META, RULE, RULE_MS, ENTRY = \"{META}\", \"{RULE}\", \"{RULE_MS}\", \"{ENTRY}\"\n\
         local LONGEST_MS = {LONGEST_MS}\n"
    )
}

/// What a write script answered: a tag and its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Reply {
    /// The script merged the changes and stored this hash, as a flat list of names and values.
    Stored(Vec<Vec<u8>>),
    /// The script stored the record merged in Rust that it was sent.
    Written,
    /// There was no live session to merge into, and nothing was written.
    Gone,
    /// The merged session would hold this many bytes, past the cap; nothing was written.
    TooLarge(usize),
    /// A live session already holds the fresh id; nothing was written.
    InUse,
    /// The stored version is not the one the quick update was merged against, or there is no
    /// session; nothing was written.
    Stale,
}

/// A reply no script gives.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a session script gave an unexpected reply, tagged {0:?}")]
pub(super) struct UnexpectedReply(String);

impl UnexpectedReply {
    /// The reply tagged `tag`, where the script should not have given it.
    pub(super) fn new(tag: &str) -> Self {
        Self(tag.to_owned())
    }
}

impl Reply {
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
    fn parse(tag: String, mut payload: Vec<Vec<u8>>) -> Result<Self, UnexpectedReply> {
        match tag.as_str() {
            "stored" => Ok(Self::Stored(payload)),
            "written" => Ok(Self::Written),
            "gone" => Ok(Self::Gone),
            "in_use" => Ok(Self::InUse),
            "stale" => Ok(Self::Stale),
            "too_large" => payload
                .pop()
                .and_then(|size| String::from_utf8(size).ok()?.parse().ok())
                .map(Self::TooLarge)
                .ok_or(UnexpectedReply(tag)),
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
        assert_eq!(
            reply("stored", &["meta", "1:2:3"]),
            Ok(Reply::Stored(vec![b"meta".to_vec(), b"1:2:3".to_vec()]))
        );
        assert_eq!(reply("written", &[]), Ok(Reply::Written));
        assert_eq!(reply("gone", &[]), Ok(Reply::Gone));
        assert_eq!(reply("in_use", &[]), Ok(Reply::InUse));
        assert_eq!(reply("stale", &[]), Ok(Reply::Stale));
        assert_eq!(reply("too_large", &["70000"]), Ok(Reply::TooLarge(70_000)));
    }

    #[test]
    fn a_bare_tag_or_a_tagged_payload_is_read() {
        let bulk = |text: &str| Value::BulkString(text.as_bytes().to_vec());
        assert_eq!(Reply::read(bulk("written")), Ok(Reply::Written));
        assert_eq!(
            Reply::read(Value::SimpleString("stale".to_owned())),
            Ok(Reply::Stale)
        );
        assert_eq!(
            Reply::read(Value::Array(vec![
                bulk("too_large"),
                Value::Array(vec![bulk("70000")])
            ])),
            Ok(Reply::TooLarge(70_000))
        );
        assert!(Reply::read(Value::Int(1)).is_err());
        assert!(Reply::read(Value::Array(vec![bulk("stored")])).is_err());
    }

    #[test]
    fn an_unknown_tag_or_a_sizeless_refusal_is_unexpected() {
        let unexpected = |tag: &str| Err(UnexpectedReply(tag.to_owned()));
        assert_eq!(reply("merged", &[]), unexpected("merged"));
        assert_eq!(reply("too_large", &[]), unexpected("too_large"));
        assert_eq!(reply("too_large", &["-1"]), unexpected("too_large"));
    }

    #[test]
    fn the_prelude_names_the_fields_of_the_hash() {
        assert_eq!(
            prelude(),
            "local META, RULE, RULE_MS, ENTRY = \"meta\", \"rule\", \"rule_ms\", \"k:\"\n\
             local LONGEST_MS = 34560000000\n"
        );
    }
}
