-- directory (Redis Cluster only): records the hash tag ARGV[1] in the user's directory KEYS[1],
-- the sorted set of the tags of the user's per-slot sets (see index.rs, `Directory`), scored
-- with ARGV[2], now in milliseconds since the Unix epoch; GT keeps the later score where
-- instances' clocks differ. Then pushes the directory's expiry out to ARGV[3] where it lies
-- earlier: PEXPIRETIME answers -1 for a directory this call created, which has none yet.
redis.call("ZADD", KEYS[1], "GT", ARGV[2], ARGV[1])
if redis.call("PEXPIRETIME", KEYS[1]) < tonumber(ARGV[3]) then
  redis.call("PEXPIREAT", KEYS[1], ARGV[3])
end
return 1
