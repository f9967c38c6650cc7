-- load: returns the hash of the session KEYS[1], flat, and where there is one records the
-- loading instance ARGV[1] in its watcher set KEYS[2] (see watch.lua), in the same step, so that
-- no write can come between the read and the record and go untold.
local flat = redis.call("HGETALL", KEYS[1])
if #flat > 0 then
  watch(KEYS[1], KEYS[2], ARGV[1])
end
return flat
