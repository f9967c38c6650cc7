-- renew: moves a session from KEYS[1] to the fresh id KEYS[2]; KEYS[3] and KEYS[4] are their
-- watcher sets. ARGV[1] to ARGV[3] announce the old id's removal (see announce.lua), and ARGV[4]
-- to ARGV[6] are the plan for the index over the sets from KEYS[5] on (see index.lua: a bound
-- session's digest moves in its user's set). Where KEYS[1] still holds the copy that Rust merged
-- against (its meta field equals ARGV[7], empty for no session) and KEYS[2] holds nothing,
-- writes the merged session under KEYS[2], laid out by `args::fresh` from ARGV[8] on, deletes
-- KEYS[1], changes the index, and records the writer as a watcher of the new id, since it caches
-- what it wrote. Where another save changed KEYS[1], it writes nothing and answers "stale" with
-- the latest hash.
if redis.call("EXISTS", KEYS[2]) == 1 then
  return "in_use"
end
if (redis.call("HGET", KEYS[1], META) or "") ~= ARGV[7] then
  return { "stale", redis.call("HGETALL", KEYS[1]) }
end
store_fresh(KEYS[2], 8)
redis.call("DEL", KEYS[1])
reindex(5, 4, ARGV[8])
announce(KEYS[3], ARGV[2])
watch(KEYS[2], KEYS[4], ARGV[3])
return "written"
