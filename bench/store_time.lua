-- The store work of each method, timed call by call on a filled store: the real rules run
-- through the runtime (taskgate.testing, no HTTP) and every statement they run is timed. CPU
-- time inside SQLite is hardly swayed by other work on the machine, unlike requests/s.
-- Everything happens in one transaction that is rolled back: the store is left as it was.
--
--   lua5.4 bench/store_time.lua STORE [CALLS]     (a store filled by bench/fill.lua)
--
-- Prints one line per method: calls, store time per call (median, p99, max) and the whole
-- call's time (Lua and store) per call, in microseconds.
local root = os.getenv("TASKGATE_ROOT") or "."
package.path = root .. "/lua/?.lua;" .. package.path
package.cpath = (os.getenv("TASKGATE_BUILD") or (root .. "/build")) .. "/?.so;" .. package.cpath

local testing = require "taskgate.testing"
local fill = dofile(root .. "/bench/fill.lua")

local path, calls = arg[1], math.tointeger(tonumber(arg[2] or "200"))
assert(path and calls, "usage: lua5.4 bench/store_time.lua STORE [CALLS]")

local now = fill.BASE_EPOCH
local site = testing.open(root .. "/rules", { store = path, clock = function() return now end })
local db = site.db

-- Time inside the store: every db function the runtime calls adds to `spent`.
local spent = 0
for _, name in ipairs({ "exec", "row", "rows", "rows_upto", "insert_rows" }) do
  local f = db[name]
  if f then
    db[name] = function(...)
      local t0 = os.clock()
      local a, b, c = f(...)
      spent = spent + (os.clock() - t0)
      return a, b, c
    end
  end
end

local function percentile(sorted, p)
  return sorted[math.max(1, math.ceil(#sorted * p))]
end

local results = {}
-- Runs `step(i)` n times; each step returns the call's reply (a fault is an error here).
local function measure(name, n, step)
  local store_us, call_us = {}, {}
  for i = 1, n do
    spent = 0
    local t0 = os.clock()
    local reply = step(i)
    local total = os.clock() - t0
    assert(reply and not reply.fault, name .. ": " .. (reply and reply.fault and tostring(reply.fault.code) or "no reply"))
    store_us[i], call_us[i] = spent * 1e6, total * 1e6
  end
  table.sort(store_us)
  table.sort(call_us)
  results[#results + 1] = string.format("%-34s %6d calls  store us/call: median %8.1f  p99 %8.1f  max %8.1f   whole call: median %8.1f",
    name, n, percentile(store_us, 0.5), percentile(store_us, 0.99), store_us[#store_us], percentile(call_us, 0.5))
end

local call = site.call
local tasks = db.row("SELECT count(*) AS n FROM task").n
local last_task = db.row("SELECT max(task_id) AS n FROM task").n
local last_group = db.row("SELECT max(taskgroup_id) AS n FROM taskgroup").n
assert(db.begin_turn())

-- Ports: 8 new ports (4 with three categories, 4 with all), beside those the store has open.
for port = 1, 8 do
  local select = port <= 4 and { category = { tostring(port), tostring(port + 10), tostring(port + 20) } } or nil
  assert(not call("openport", { port_id = tostring(port), select = select }).fault)
end
measure("openbin (next task) + closebin", calls, function(i)
  local port = tostring(1 + i % 8)
  local opened = call("openbin", { port_id = port })
  if opened.fault then return opened end
  return call("closebin", { port_id = port, bin_id = tostring(opened.params.bin_id) })
end)
measure("getportstatus", calls, function(i) return call("getportstatus", { port_id = tostring(1 + i % 8) }) end)

local next_id = last_task + 1
local function new_tasks(n)
  local list = {}
  for k = 1, n do
    list[k] = { task_id = tostring(next_id), bin_id = tostring(1 + next_id % 4000000) }
    next_id = next_id + 1
  end
  return list
end
local function group_params(id, n)
  return { taskgroup_id = tostring(id), category = tostring(1 + id % 50), req_time = "2024-05-01T08:00:00Z",
    priority = "3", tasks = { task = new_tasks(n) } }
end
measure("create_taskgroup, 1 task", calls, function(i) return call("create_taskgroup", group_params(last_group + i, 1)) end)
local first_bulk_task = next_id
measure("create_taskgroup, 1000 tasks", math.max(1, calls // 20), function(i)
  return call("create_taskgroup", group_params(last_group + calls + i, 1000))
end)
measure("add_task, 1 task", calls, function(i)
  return call("add_task", { taskgroup_id = tostring(last_group + i), task = new_tasks(1)[1] })
end)
measure("update_taskgroup", calls, function(i)
  return call("update_taskgroup", { taskgroup_id = tostring(last_group + i), category = "7", req_time = "2024-05-01T09:00:00Z",
    priority = "2", suspended = "0" })
end)
measure("cancel_task", calls, function(i) return call("cancel_task", { task_id = tostring(first_bulk_task + i) }) end)
measure("gettaskinfo, one group", calls, function(i)
  return call("gettaskinfo", { taskgroup_id = tostring(1 + (i * 7919) % last_group) })
end)
measure("gettaskinfo, range of 10 groups", calls, function(i)
  local from = 1 + (i * 7919) % (last_group - 10)
  return call("gettaskinfo", { min_taskgroup_id = tostring(from), max_taskgroup_id = tostring(from + 9) })
end)
measure("cancel_taskgroup", calls, function(i) return call("cancel_taskgroup", { taskgroup_id = tostring(last_group + i) }) end)

db.abort_turn()
site.close()
print(string.format("store %s: %d tasks; %s", path, tasks, os.date("!%Y-%m-%d")))
for _, line in ipairs(results) do print(line) end
