-- What every write script shares: writing a hash's fields from the arguments. The prelude before
-- this file, generated from hash.rs, names the fields the scripts look at (META, and the USER,
-- SAVED and LABEL of a binding), so that the layout has one owner.
--
-- The scripts merge nothing: Rust merges, and a script writes the result only where the stored
-- META is the one Rust merged against. They run on every request, and Lua builds every function
-- a script defines on every call, so they define few functions (these two, announce.lua's,
-- watch.lua's and index.lua's two) and answer with a bare tag but where a write found a newer
-- copy.

-- Commands take a hash's fields this many values at a time, because unpack is limited by Lua's
-- stack. It must stay even.
local CHUNK = 1000

-- Runs `command` on `key` with the arguments ARGV[first] to ARGV[last], CHUNK at a time. CHUNK
-- is even, so that the field and value of a pair always go together.
local function over_args(command, key, first, last)
  for from = first, last, CHUNK do
    redis.call(command, key, unpack(ARGV, from, math.min(from + CHUNK - 1, last)))
  end
end

-- Writes the record that Rust built, as `args::fresh` lays it out from ARGV[first] on (its
-- deadline, then its fields), under `key`, which holds nothing.
local function store_fresh(key, first)
  over_args("HSET", key, first + 1, #ARGV)
  redis.call("PEXPIREAT", key, ARGV[first])
end
