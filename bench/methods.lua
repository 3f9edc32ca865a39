-- wrk script of bench/methods: METHOD's calls (bench/calls.lua, paired), one plan per wrk
-- thread, each with one connection (wrk -tN -cN), so that a plan sees its own replies. Counts
-- replies that are faults and prints the RESULT line the bench scripts read.
package.path = "bench/?.lua;" .. package.path
local calls = require "calls"

local threads = {}

function setup(thread)
  thread:set("connection", #threads)
  threads[#threads + 1] = thread
end

function init(args)
  not_ok = 0
  plan = calls.plan(os.getenv("METHOD"), connection, tonumber(os.getenv("WRK_THREADS")),
    { tasks = tonumber(os.getenv("TASKS")), ports = tonumber(os.getenv("PORTS")) }, true)
end

function request()
  return wrk.format("POST", "/api/v2/task", { ["Content-Type"] = "application/xml" }, plan:next(last_reply))
end

function response(status, headers, body)
  last_reply = body
  if status ~= 200 or not calls.ok(body) then not_ok = not_ok + 1 end
end

function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do bad = bad + (thread:get("not_ok") or 0) end
  io.write(string.format("RESULT requests=%d rps=%.0f p50_ms=%.3f p99_ms=%.3f not_ok=%d errors=%d\n",
    summary.requests, summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, bad, summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout + summary.errors.status))
end
