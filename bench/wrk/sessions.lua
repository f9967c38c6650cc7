-- wrk script for the kv-sessions load harness.
--
-- Each request carries a random cookie from the file named by the first script argument, one
-- `name=value` pair per line; without a file, requests carry no cookie. When the run ends, one
-- line starting with "kv-sessions-bench:" gives the driver the figures it records.

local cookies = {}

function init(args)
  local file = args[1]
  if file ~= nil and file ~= "" then
    for line in io.lines(file) do
      cookies[#cookies + 1] = line
    end
  end
  math.randomseed(os.time())
end

function request()
  if #cookies == 0 then
    return wrk.format("GET")
  end
  return wrk.format("GET", nil, { ["Cookie"] = cookies[math.random(#cookies)] })
end

function done(summary, latency, requests)
  local e = summary.errors
  local failed = e.connect + e.read + e.write + e.status + e.timeout
  io.write(string.format(
    "kv-sessions-bench: requests=%d duration_us=%d errors=%d p50_us=%.0f p99_us=%.0f\n",
    summary.requests, summary.duration, failed,
    latency:percentile(50), latency:percentile(99)))
end
