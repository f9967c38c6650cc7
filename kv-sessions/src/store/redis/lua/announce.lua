-- What a write that changed or removed a session tells the caches of the app's instances, and
-- which instances it tells. ARGV[1] is the channel of the store's invalidation feed (empty where
-- the feed is off) and ARGV[3] the writing instance's id in targeted mode, empty in broadcast
-- mode; `notice` is in the text form of `Invalidation`, ARGV[2] for a script that announces one
-- write. The notice goes out from inside the script, so it is published exactly when the write
-- is made: a script that writes nothing publishes nothing.
--
-- In broadcast mode the notice goes to the one channel every instance hears. In targeted mode
-- ARGV[1] is the start of each instance's own channel, and the notice goes to every instance in
-- the session's watcher set `watchers` (those that loaded it since its last write), which is
-- then emptied: they will read the session again, and be recorded again, before they cache it.
-- The writer is told too where it is in the set: its cache follows its own writes, but a clone
-- of its store used without the cache writes under the same instance id, and the cache must hear
-- those writes.
local function announce(watchers, notice)
  if ARGV[1] == "" then
    return
  end
  if ARGV[3] == "" then
    redis.call("PUBLISH", ARGV[1], notice)
    return
  end
  for _, instance in ipairs(redis.call("SMEMBERS", watchers)) do
    redis.call("PUBLISH", ARGV[1] .. instance, notice)
  end
  redis.call("DEL", watchers)
end
