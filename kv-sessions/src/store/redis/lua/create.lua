-- create: writes the session that Rust merged from the changes alone (ARGV[2] on) under the
-- fresh id KEYS[1], unless a live session holds that id. ARGV[1] is now.
local now = tonumber(ARGV[1])
if live(KEYS[1], now) then
  return { "in_use", {} }
end
local expires_at, flat = fresh_args(2)
store(KEYS[1], flat, expires_at)
return { "written", {} }
