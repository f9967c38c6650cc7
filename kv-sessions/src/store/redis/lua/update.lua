-- update: where the session KEYS[1] still holds the copy that Rust merged against (its meta
-- field equals ARGV[7]), sets and deletes the fields that turn it into the merged session,
-- changes the index as planned, announces its new version to the watchers KEYS[2], and records
-- the writer as a watcher, since it caches what it wrote. ARGV, as `args::announcement`,
-- `args::reindex` and `args::update` lay it out: the channel, the notice and the writer (see
-- announce.lua), the plan for the index over the sets from KEYS[3] on (see index.lua), that
-- meta, the merged deadline, the counts of fields to set and to delete, then those fields.
-- Where another save changed meta, it writes nothing and answers "stale" with the latest hash;
-- where there is no session, "gone".
local meta = redis.call("HGET", KEYS[1], META)
if not meta then
  return "gone"
end
if meta ~= ARGV[7] then
  return { "stale", redis.call("HGETALL", KEYS[1]) }
end
local first_delete = 11 + 2 * tonumber(ARGV[9])
over_args("HSET", KEYS[1], 11, first_delete - 1)
over_args("HDEL", KEYS[1], first_delete, first_delete + tonumber(ARGV[10]) - 1)
redis.call("PEXPIREAT", KEYS[1], ARGV[8])
reindex(3, 4, ARGV[8])
announce(KEYS[2], ARGV[2])
watch(KEYS[1], KEYS[2], ARGV[3])
return "written"
