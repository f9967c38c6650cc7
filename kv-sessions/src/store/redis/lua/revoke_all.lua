-- revoke_all: deletes every session in the user's set KEYS[1] whose USER field is ARGV[4], the
-- user's, but the session whose digest is ARGV[5] (empty for none), in one step, so that no
-- renewal or save can come in between. Each removal is announced as delete announces it
-- (ARGV[1] and ARGV[3], see announce.lua), with the notice of the removal of that digest: its
-- text form, the digest, a space and "-". ARGV[6] is what the keys of the set's sessions start
-- with, to which a digest appends to name its session (the key prefix, then on Redis Cluster the
-- set's hash tag), and ARGV[7] the same for their watcher sets. Members whose hash is gone
-- or another user's are trimmed, as sessions_of.lua trims them. It returns, flat, each revoked
-- digest and the META field its session held, for Rust to keep those that were live.
--
-- The session keys and watcher sets are not among KEYS: they are read from the set.
local revoked = {}
for _, member in ipairs(redis.call("SMEMBERS", KEYS[1])) do
  local key = ARGV[6] .. member
  local fields = redis.call("HMGET", key, USER, META)
  if fields[1] ~= ARGV[4] then
    redis.call("SREM", KEYS[1], member)
  elseif member ~= ARGV[5] then
    redis.call("DEL", key)
    redis.call("SREM", KEYS[1], member)
    announce(ARGV[7] .. member, member .. " -")
    revoked[#revoked + 1] = member
    revoked[#revoked + 1] = fields[2]
  end
end
return revoked
