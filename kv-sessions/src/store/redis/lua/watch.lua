-- Records `instance` in `watchers`, the watcher set of the session `key`, so that the next write
-- of that session tells it; the set expires with the session. Nothing where `instance` is empty:
-- the store is not in targeted mode.
local function watch(key, watchers, instance)
  if instance == "" then
    return
  end
  redis.call("SADD", watchers, instance)
  local deadline = redis.call("PEXPIRETIME", key)
  if deadline > 0 then
    redis.call("PEXPIREAT", watchers, deadline)
  end
end
