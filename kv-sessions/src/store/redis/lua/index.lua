-- The index of sessions by user (see index.rs): one set per user, holding the digests of the
-- sessions bound to that user. A write that changes a session's binding changes the sets in its
-- own script, as Rust planned it (`args::reindex`): ARGV[plan] is the plan's tag, ARGV[plan + 1]
-- the digest that leaves a set and ARGV[plan + 2] the digest that joins one; the sets are
-- KEYS[first] on, the set left before the set joined. A write that leaves the binding alone
-- plans nothing, or "hold" for a bound session, which touches only its set's expiry (and puts
-- the session back where the set is gone); its digest is then ARGV[plan + 2].
--
-- A set expires at the latest deadline of its members, so it never expires while one of them is
-- live, and goes at the latest with the last of them.

-- Pushes the expiry of `set` out to `deadline` (milliseconds since the Unix epoch) where it lies
-- earlier, or where the set has none because this script created it. Where there is no set,
-- though `member`, a session in it, is being saved (Redis evicted the set under `maxmemory`, or
-- a client outside kv-sessions deleted it), the session goes back in: PEXPIRETIME answers -2
-- for no key and -1 for no expiry, both earlier than any deadline.
local function hold(set, deadline, member)
  local current = redis.call("PEXPIRETIME", set)
  if current == -2 then
    redis.call("SADD", set, member)
  end
  if current < tonumber(deadline) then
    redis.call("PEXPIREAT", set, deadline)
  end
end

-- Carries out the plan at ARGV[plan] over the sets from KEYS[first] on, for a session whose
-- deadline is `deadline`.
local function reindex(first, plan, deadline)
  local tag = ARGV[plan]
  if tag == "" then
    return
  end
  if tag == "hold" then
    hold(KEYS[first], deadline, ARGV[plan + 2])
    return
  end
  local join = first
  if tag ~= "join" then
    redis.call("SREM", KEYS[first], ARGV[plan + 1])
    join = first + 1
  end
  if tag ~= "leave" then
    redis.call("SADD", KEYS[join], ARGV[plan + 2])
    hold(KEYS[join], deadline, ARGV[plan + 2])
  end
end
