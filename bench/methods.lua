-- wrk script of bench/methods: METHOD's calls (bench/calls.lua, paired), one plan per wrk
-- thread, each with one connection (wrk -tN -cN), so that a plan sees its own replies. Counts
-- replies that are faults and prints the RESULT line the bench scripts read. SKIP: the plans
-- start past their first SKIP calls, so that a run after a warm-up sends calls of its own.
package.path = "bench/?.lua;" .. package.path
local calls = require "calls"
dofile("bench/wrk_report.lua") -- setup, done: thread numbers and the RESULT line

function init(args)
  not_ok = 0
  plan = calls.plan(os.getenv("METHOD"), first, tonumber(os.getenv("WRK_THREADS")),
    { tasks = tonumber(os.getenv("TASKS")), ports = tonumber(os.getenv("PORTS")) }, true)
  plan.k = math.floor((tonumber(os.getenv("SKIP")) or 0) / tonumber(os.getenv("WRK_THREADS")))
end

function request()
  return wrk.format("POST", "/api/v2/task", { ["Content-Type"] = "application/xml" }, plan:next(last_reply))
end

-- In place of wrk_report's: a method's success is not always <params/> (calls.ok says), and the
-- plan reads the last reply for its next call.
function response(status, headers, body)
  last_reply = body
  if status ~= 200 or not calls.ok(body) then not_ok = not_ok + 1 end
end
