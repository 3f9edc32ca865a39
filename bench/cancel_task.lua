-- wrk script: every request cancels a distinct existing task (ids 1, 2, 3, ... spread over
-- wrk's threads) and counts replies that are not the success reply.
local threads = {}
local thread_count = 0

function setup(thread)
  thread:set("first", thread_count)
  thread_count = thread_count + 1
  threads[#threads + 1] = thread
end

function init(args)
  first = first or 0
  stride = tonumber(os.getenv("WRK_THREADS") or "2")
  next_id = tonumber(os.getenv("WRK_OFFSET") or "0") + first + 1
  not_ok = 0
end

function request()
  local id = next_id
  next_id = next_id + stride
  local body = "<?xml version=\"1.0\"?>\n<methodcall>\n  <name>cancel_task</name>\n  <params>\n    <task_id>"
    .. id .. "</task_id>\n  </params>\n</methodcall>"
  return wrk.format("POST", "/api/v2/task", { ["Content-Type"] = "application/xml" }, body)
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
