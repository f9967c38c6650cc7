-- delete: removes the session KEYS[1] and returns the hash it held, flat, for Rust to decode
-- and to check that it was live. It announces the removal (KEYS[2] is the watcher set, see
-- announce.lua) even where it found nothing, since a cache elsewhere may still hold a copy of a
-- session Redis evicted or expired.
local flat = redis.call("HGETALL", KEYS[1])
redis.call("DEL", KEYS[1])
announce(KEYS[2])
return flat
