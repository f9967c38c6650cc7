-- renew: moves a session from KEYS[1] to the fresh id KEYS[2]. ARGV[1] and ARGV[2] announce the
-- old id's removal (see announce.lua). Where KEYS[1] still holds the copy that Rust merged
-- against (its meta field equals ARGV[3], empty for no session) and KEYS[2] holds nothing,
-- writes the merged session under KEYS[2], laid out by `args::fresh` from ARGV[4] on, and
-- deletes KEYS[1]. Where another save changed KEYS[1], it writes nothing and answers "stale"
-- with the latest hash.
if redis.call("EXISTS", KEYS[2]) == 1 then
  return "in_use"
end
if (redis.call("HGET", KEYS[1], META) or "") ~= ARGV[3] then
  return { "stale", redis.call("HGETALL", KEYS[1]) }
end
store_fresh(KEYS[2], 4)
redis.call("DEL", KEYS[1])
announce()
return "written"
