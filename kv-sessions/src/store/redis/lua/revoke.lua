-- revoke: deletes the session KEYS[1] where its USER field is ARGV[4], the user's, removes its
-- digest ARGV[5] from the user's set KEYS[3], announces the removal as delete does (ARGV[1] to
-- ARGV[3], and the watcher set KEYS[2]; see announce.lua), and returns the META field the
-- session held, for Rust to check that it was live. Where the session is gone or another user's,
-- it deletes and announces nothing, trims the digest from the set if it is there, and returns
-- nil.
if redis.call("HGET", KEYS[1], USER) ~= ARGV[4] then
  redis.call("SREM", KEYS[3], ARGV[5])
  return false
end
local meta = redis.call("HGET", KEYS[1], META)
redis.call("DEL", KEYS[1])
redis.call("SREM", KEYS[3], ARGV[5])
announce(KEYS[2], ARGV[2])
return meta
