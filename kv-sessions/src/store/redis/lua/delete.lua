-- delete: removes the session KEYS[1] and returns the hash it held, flat, for Rust to decode
-- and to check that it was live. It announces the removal (KEYS[2] is the watcher set, see
-- announce.lua) even where it found nothing, since a cache elsewhere may still hold a copy of a
-- session Redis evicted or expired.
--
-- A bound session also leaves its user's set: the set's key is ARGV[4], the start of every set
-- key, followed by the tag that starts the session's USER field, then ARGV[6] (on Redis Cluster
-- the session's hash tag, `:{xx}`, so that the set is the one in the session's slot; empty on
-- one server), and the member is the session's digest, ARGV[5]. That key is not among KEYS,
-- since Rust cannot know it without reading the session first.
local flat = redis.call("HGETALL", KEYS[1])
local user = redis.call("HGET", KEYS[1], USER)
redis.call("DEL", KEYS[1])
local tag = user and string.match(user, "^(%x+):")
if tag then
  redis.call("SREM", ARGV[4] .. tag .. ARGV[6], ARGV[5])
end
announce(KEYS[2], ARGV[2])
return flat
