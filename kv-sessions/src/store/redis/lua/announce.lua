-- What a write that changed or removed a session tells the cache of every app instance. ARGV[1]
-- is the channel of the store's invalidation feed, empty where the feed is off, and ARGV[2] the
-- notice, in the text form of `Invalidation`. The notice goes out from inside the script, so it
-- is published exactly when the write is made: a script that writes nothing publishes nothing.
local function announce()
  if ARGV[1] ~= "" then
    redis.call("PUBLISH", ARGV[1], ARGV[2])
  end
end
