-- sessions_of: the sessions in the user's set KEYS[1] whose USER field is still ARGV[1], that
-- user's (see index.rs), as a flat list of four values each: the digest, then the META, SAVED
-- and LABEL fields (nil for none); ARGV[2] is what the keys of the set's sessions start with, to
-- which a digest appends to name its session (the key prefix, then on Redis Cluster the set's
-- hash tag). Rust keeps those that are live.
--
-- Members are trimmed here: one whose hash is gone (Redis expired it, or something outside
-- kv-sessions deleted it) or now holds another user's session leaves the set. A member whose
-- hash has passed its deadline by the app's clock but is still in Redis stays until Redis
-- deletes the hash; Rust leaves it out of the answer meanwhile.
--
-- The session keys are not among KEYS: they are read from the set.
local found = {}
for _, member in ipairs(redis.call("SMEMBERS", KEYS[1])) do
  local fields = redis.call("HMGET", ARGV[2] .. member, USER, META, SAVED, LABEL)
  if fields[1] == ARGV[1] then
    found[#found + 1] = member
    found[#found + 1] = fields[2]
    found[#found + 1] = fields[3]
    found[#found + 1] = fields[4]
  else
    redis.call("SREM", KEYS[1], member)
  end
end
return found
