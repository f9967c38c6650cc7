-- delete: removes the session KEYS[1] and returns the hash it held, flat, for Rust to decode
-- and to check that it was live.
local flat = redis.call("HGETALL", KEYS[1])
redis.call("DEL", KEYS[1])
return flat
