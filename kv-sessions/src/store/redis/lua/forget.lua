-- forget (Redis Cluster only): takes out of the user's directory KEYS[1] each hash tag from
-- ARGV[2] on, whose set a listing found gone, where the tag was last recorded before ARGV[1]
-- (milliseconds since the Unix epoch). A tag recorded since, by a bind in flight whose script
-- has yet to put the session in the set, stays.
for i = 2, #ARGV do
  local recorded = redis.call("ZSCORE", KEYS[1], ARGV[i])
  if recorded and tonumber(recorded) < tonumber(ARGV[1]) then
    redis.call("ZREM", KEYS[1], ARGV[i])
  end
end
return 1
