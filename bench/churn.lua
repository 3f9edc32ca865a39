-- wrk script for the store-size runs: keeps the store at its size while working it. Requests
-- alternate: cancel the existing task k, then create a task group with the new task k + pool,
-- for k = 1, 2, 3, ... (spread over wrk's threads): the store always holds about `pool` tasks.
-- Counts replies that are not success.
dofile("bench/wrk_report.lua") -- setup, response, done: thread numbers and the RESULT line

function init(args)
  stride = tonumber(os.getenv("WRK_THREADS") or "2")
  pool = tonumber(os.getenv("CHURN_POOL") or "10000") -- tasks 1..pool exist at the start
  next_task = first + 1
  next_group = 1000000000 + first * 100000000
  cancelling = true
  not_ok = 0
end

local function call(name, params)
  return wrk.format("POST", "/api/v2/task", { ["Content-Type"] = "application/xml" },
    "<methodcall><name>" .. name .. "</name><params>" .. params .. "</params></methodcall>")
end

function request()
  local task = next_task
  if cancelling then
    cancelling = false
    return call("cancel_task", "<task_id>" .. task .. "</task_id>")
  end
  cancelling = true
  next_task = next_task + stride
  next_group = next_group + 1
  return call("create_taskgroup", "<taskgroup_id>" .. next_group .. "</taskgroup_id><category>1</category>" ..
    "<req_time>2024-05-01T08:00:00Z</req_time><priority>1</priority><tasks><task><task_id>" .. (task + pool) ..
    "</task_id><bin_id>1</bin_id></task></tasks>")
end
