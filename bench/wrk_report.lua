-- Shared by the wrk scripts in bench/: numbers the threads, counts replies that are not the
-- success reply, and prints one RESULT line that the bench scripts read.
local threads = {}
local thread_count = 0

function setup(thread)
  thread:set("first", thread_count)
  thread_count = thread_count + 1
  threads[#threads + 1] = thread
end

function response(status, headers, body)
  if status ~= 200 or not body:find("<params/>", 1, true) then not_ok = not_ok + 1 end
end

function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do bad = bad + (thread:get("not_ok") or 0) end
  io.write(string.format("RESULT requests=%d rps=%.0f p50_ms=%.3f p99_ms=%.3f not_ok=%d errors=%d\n",
    summary.requests, summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, bad, summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout + summary.errors.status))
end
