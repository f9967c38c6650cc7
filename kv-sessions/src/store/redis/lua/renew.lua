-- renew: moves a session from KEYS[1] to the fresh id KEYS[2]; KEYS[3] and KEYS[4] are their
-- watcher sets. ARGV[1] to ARGV[3] announce the old id's removal (see announce.lua). Where
-- KEYS[1] still holds the copy that Rust merged against (its meta field equals ARGV[4], empty for
-- no session) and KEYS[2] holds nothing, writes the merged session under KEYS[2], laid out by
-- `args::fresh` from ARGV[5] on, deletes KEYS[1], and records the writer as a watcher of the new
-- id, since it caches what it wrote. Where another save changed KEYS[1], it writes nothing and
-- answers "stale" with the latest hash.
if redis.call("EXISTS", KEYS[2]) == 1 then
  return "in_use"
end
if (redis.call("HGET", KEYS[1], META) or "") ~= ARGV[4] then
  return { "stale", redis.call("HGETALL", KEYS[1]) }
end
store_fresh(KEYS[2], 5)
redis.call("DEL", KEYS[1])
announce(KEYS[3])
watch(KEYS[2], KEYS[4], ARGV[3])
return "written"
