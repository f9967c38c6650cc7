-- update: merges the changes into the live session KEYS[1], and writes nothing where there is
-- none, since an update never creates.
--
-- ARGV starts with the quick write of `args::quick`: where Rust merged the changes already,
-- against the copy the request loaded, ARGV[1] is that copy's version, ARGV[2] the merged
-- deadline, and ARGV[3] and ARGV[4] count the fields to set and to delete, which follow. While the
-- stored version is still the one Rust merged against, those writes are the whole merge. Where
-- it moved, or ARGV[1] is empty, the script merges the changes itself, from the merge's
-- arguments after the quick write's.
local sets, deletes = tonumber(ARGV[3]), tonumber(ARGV[4])
local first_delete = 5 + 2 * sets
local merge_from = first_delete + deletes
if ARGV[1] ~= "" and redis.call("HGET", KEYS[1], VERSION) == ARGV[1] then
  over_args("HSET", KEYS[1], 5, first_delete - 1)
  over_args("HDEL", KEYS[1], first_delete, merge_from - 1)
  redis.call("PEXPIREAT", KEYS[1], ARGV[2])
  return { "written", {} }
end
local a = merge_args(merge_from)
local base = live(KEYS[1], a.now)
if not base then
  return { "gone", {} }
end
local merged, size = merge(base, a)
if not merged then
  return too_large(size)
end
local flat = flatten(merged)
store(KEYS[1], flat, merged[EXPIRES_AT])
return { "stored", flat }
