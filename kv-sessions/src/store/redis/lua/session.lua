-- What the merging scripts (update, renew) share, after fields.lua: reading a stored session
-- and merging changes into it.
--
-- Lua numbers are doubles: every time and size here stays below 2^53, where they are exact.

-- `text` as a number, where it is nothing but decimal digits; else nil.
local function whole(text)
  if text and string.match(text, "^%d+$") then
    return tonumber(text)
  end
end

-- The kind ("idle" or "at") and the milliseconds of a rule as `hash::rule_ms` writes it; nil
-- where `text` is not one.
local function parse_rule(text)
  local kind, ms = string.match(text or "", "^(%l+):(%d+)$")
  if kind == "idle" or kind == "at" then
    return kind, tonumber(ms)
  end
end

-- The session stored under `key`, where it is live at `now`: its fields, version and creation
-- time. A hash whose metadata does not read counts as no session, as a record that does not
-- decode does in the sled store; the load that meets it reports it as corrupt.
local function live(key, now)
  local flat = redis.call("HGETALL", key)
  local fields = {}
  for i = 1, #flat, 2 do
    fields[flat[i]] = flat[i + 1]
  end
  local version, created_at, expires_at =
    string.match(fields[META] or "", "^(%d+):(%d+):(%d+)$")
  if not version or tonumber(expires_at) <= now then
    return nil
  end
  if fields[RULE] and not parse_rule(fields[RULE_MS]) then
    return nil
  end
  return { fields = fields, version = tonumber(version), created_at = tonumber(created_at) }
end

-- The arguments of a merge, as `args::merge` writes them from ARGV[first] on, and the index of
-- the first argument after them.
local function merge_args(first)
  local a = {
    now = tonumber(ARGV[first]),
    furthest = tonumber(ARGV[first + 1]),
    max_size = tonumber(ARGV[first + 2]),
    clears = ARGV[first + 3] == "1",
    sets_rule = ARGV[first + 4] == "1",
    rule = ARGV[first + 5],
    rule_ms = ARGV[first + 6],
    default_rule_ms = ARGV[first + 7],
    cap_ms = whole(ARGV[first + 8]),
    overflow_from = whole(ARGV[first + 9]),
    sets = {},
    removes = {},
  }
  local at = first + 12
  for _ = 1, tonumber(ARGV[first + 10]) do
    a.sets[#a.sets + 1] = { ARGV[at], ARGV[at + 1] }
    at = at + 2
  end
  for _ = 1, tonumber(ARGV[first + 11]) do
    a.removes[#a.removes + 1] = ARGV[at]
    at = at + 1
  end
  return a, at
end

-- The deadline of a session that follows the rule `rule_ms` and was created at `created_at`,
-- merged at `a.now`: `SessionPolicy::deadline` over whole milliseconds. The rule's own deadline,
-- capped by the absolute lifetime from creation, and by LONGEST_MS from now. Where creation plus
-- the lifetime would overflow Rust's SystemTime, the policy caps at creation plus LONGEST_MS
-- instead, and so does this.
local function deadline(rule_ms, created_at, a)
  local kind, ms = parse_rule(rule_ms)
  local at = ms
  if kind == "idle" then
    at = a.now + ms
  end
  if a.cap_ms then
    local lifetime = a.cap_ms
    if a.overflow_from and created_at >= a.overflow_from then
      lifetime = LONGEST_MS
    end
    at = math.min(at, created_at + lifetime)
  end
  return math.min(at, a.furthest)
end

-- The fields of the live session `base` with the changes `a` merged in, as `Changes::apply_to`
-- merges them: entries cleared, then written, then removed; the rule the changes set, else the
-- stored one; the deadline from that rule; the version one up; the creation time kept. Returns
-- the merged fields, the size of their entries and their deadline; where that size passes the
-- cap, nil and the size.
local function merge(base, a)
  local merged = {}
  if not a.clears then
    for name, value in pairs(base.fields) do
      if string.sub(name, 1, #ENTRY) == ENTRY then
        merged[name] = value
      end
    end
  end
  for _, write in ipairs(a.sets) do
    merged[ENTRY .. write[1]] = write[2]
  end
  for _, key in ipairs(a.removes) do
    merged[ENTRY .. key] = nil
  end
  local size = 0
  for name, value in pairs(merged) do
    size = size + #name - #ENTRY + #value
  end
  if size > a.max_size then
    return nil, size
  end
  local rule, rule_ms = base.fields[RULE], base.fields[RULE_MS]
  if a.sets_rule then
    rule, rule_ms = a.rule, a.rule_ms
  end
  if rule == "" then
    rule, rule_ms = nil, nil
  end
  merged[RULE], merged[RULE_MS] = rule, rule_ms
  local expires_at = deadline(rule_ms or a.default_rule_ms, base.created_at, a)
  merged[META] = string.format("%d:%d:%d", base.version + 1, base.created_at, expires_at)
  return merged, size, expires_at
end

-- `fields` (name to value) as one flat list of names and values.
local function flatten(fields)
  local flat = {}
  for name, value in pairs(fields) do
    flat[#flat + 1] = name
    flat[#flat + 1] = value
  end
  return flat
end

-- Replaces the hash at `key` with the flat fields `flat`, and has Redis delete it at
-- `expires_at`, at once where that has passed.
local function store(key, flat, expires_at)
  redis.call("DEL", key)
  for first = 1, #flat, CHUNK do
    redis.call("HSET", key, unpack(flat, first, math.min(first + CHUNK - 1, #flat)))
  end
  redis.call("PEXPIREAT", key, expires_at)
end

-- The reply of a merge that the size cap refused.
local function too_large(size)
  return { "too_large", { string.format("%d", size) } }
end
