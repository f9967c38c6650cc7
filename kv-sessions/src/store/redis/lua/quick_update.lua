-- quick update: writes an update that Rust merged against the copy its request loaded, where the
-- session KEYS[1] still holds that copy's metadata (its `meta` field: version, creation time and
-- deadline). ARGV, as `args::quick` lays it out: that metadata, the merged deadline, the counts
-- of fields to set and to delete, then those fields. Where another save moved the version on,
-- or the session is gone, it writes nothing and answers "stale": the store then merges with the
-- update script, against the latest copy.
if redis.call("HGET", KEYS[1], META) ~= ARGV[1] then
  return "stale"
end
local first_delete = 5 + 2 * tonumber(ARGV[3])
over_args("HSET", KEYS[1], 5, first_delete - 1)
over_args("HDEL", KEYS[1], first_delete, first_delete + tonumber(ARGV[4]) - 1)
redis.call("PEXPIREAT", KEYS[1], ARGV[2])
return "written"
