-- update: merges the changes into the live session KEYS[1], and writes nothing where there is
-- none, since an update never creates.
local a = merge_args(1)
local base = live(KEYS[1], a.now)
if not base then
  return "gone"
end
local merged, size, expires_at = merge(base, a)
if not merged then
  return too_large(size)
end
local flat = flatten(merged)
store(KEYS[1], flat, expires_at)
return { "stored", flat }
