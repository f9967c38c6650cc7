-- The index of sessions by user (see index.rs): one set per user, holding the digests of the
-- sessions bound to that user. A write that changes a session's binding changes the sets in its
-- own script, as Rust planned it (`args::reindex`): ARGV[plan] is the plan's tag, ARGV[plan + 1]
-- the digest that leaves a set and ARGV[plan + 2] the digest that joins one; the sets are
-- KEYS[first] on, the set left before the set joined. A write that leaves the binding alone
-- plans nothing, or "hold" for a bound session, which touches only its set's expiry.
--
-- A set expires at the latest deadline of its members, so it never expires while one of them is
-- live, and goes at the latest with the last of them.

-- Pushes the expiry of `set` out to `deadline` (milliseconds since the Unix epoch) where it lies
-- earlier, or where the set has none because this script created it. Nothing where there is no
-- set.
local function hold(set, deadline)
  local current = redis.call("PEXPIRETIME", set)
  if current == -1 or current >= 0 and current < tonumber(deadline) then
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
    hold(KEYS[first], deadline)
    return
  end
  local join = first
  if tag ~= "join" then
    redis.call("SREM", KEYS[first], ARGV[plan + 1])
    join = first + 1
  end
  if tag ~= "leave" then
    redis.call("SADD", KEYS[join], ARGV[plan + 2])
    hold(KEYS[join], deadline)
  end
end
