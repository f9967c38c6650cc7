-- renew: moves the live session KEYS[1], with the changes merged in, to the fresh id KEYS[2],
-- and deletes KEYS[1]. Where KEYS[1] is gone, none of its data moves: KEYS[2] gets the session
-- that Rust merged from the changes alone, which it sends after the merge's arguments only when
-- the changes write a value and fit the cap. A refusal leaves both ids as they were.
local a, rest = merge_args(1)
if live(KEYS[2], a.now) then
  return "in_use"
end
local base = live(KEYS[1], a.now)
if base then
  local merged, size, expires_at = merge(base, a)
  if not merged then
    return too_large(size)
  end
  local flat = flatten(merged)
  store(KEYS[2], flat, expires_at)
  redis.call("DEL", KEYS[1])
  return { "stored", flat }
end
if ARGV[rest] == nil then
  return "gone"
end
redis.call("DEL", KEYS[2])
store_fresh(KEYS[2], rest)
return "written"
