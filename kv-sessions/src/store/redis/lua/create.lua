-- create: writes the session that Rust built from the changes alone under the fresh id KEYS[1],
-- unless that key exists. ARGV is laid out by `args::fresh`.
if redis.call("EXISTS", KEYS[1]) == 1 then
  return "in_use"
end
store_fresh(KEYS[1], 1)
return "written"
