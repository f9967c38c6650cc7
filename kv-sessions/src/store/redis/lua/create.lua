-- create: writes the session that Rust built from the changes alone under the fresh id KEYS[1],
-- unless that key exists, and records the creating instance ARGV[1] (empty but in targeted mode)
-- in its watcher set KEYS[2], since the creator caches what it created. ARGV[2] to ARGV[4] are
-- the plan for the index (see index.lua; a bound session joins its user's set, KEYS[3]), and
-- ARGV from ARGV[5] on is laid out by `args::fresh`.
if redis.call("EXISTS", KEYS[1]) == 1 then
  return "in_use"
end
store_fresh(KEYS[1], 5)
reindex(3, 2, ARGV[5])
watch(KEYS[1], KEYS[2], ARGV[1])
return "written"
