-- wrk script: every request cancels a distinct existing task (ids 1, 2, 3, ... spread over
-- wrk's threads) and counts replies that are not the success reply.
dofile("bench/wrk_report.lua") -- setup, response, done: thread numbers and the RESULT line

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
