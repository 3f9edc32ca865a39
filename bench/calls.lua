-- The requests of the per-method benchmark (bench/methods), for a store filled by bench/fill.lua
-- with `tasks` tasks in groups of 10 and `ports` ports (1000, 1001, ...) holding a group of the
-- lower half each. Plain Lua 5.1, so that wrk's LuaJIT and lua5.4 (the callgrind client) share
-- it. A plan is one connection's stream of calls:
--
--   local plan = calls.plan("port_cycle", connection, connections, { tasks = 1000000, ports = 300 })
--   local body = plan:next(previous_reply_body)   -- the next methodcall document
--
-- Methods: port_cycle (openport, then openbin and closebin (taskcomplete=0, the task returns)
-- 50 times, closeport; ports 1..8, half of them with three categories), create_taskgroup_1,
-- create_taskgroup_1000, add_task, update_taskgroup, cancel_taskgroup, cancel_task,
-- gettaskinfo_group, gettaskinfo_range (10 groups, 100 tasks), getportstatus. With `paired`
-- (the throughput runs, which may last long enough to drain a small store), a call that takes
-- from the store or adds to it comes with the one that puts it back, a few calls later:
-- create_taskgroup then cancel_taskgroup of that group, add_task then cancel_task of that task,
-- a new one-task group then cancel_task of its task; calls/s then counts both.
local M = {}

local NEW_GROUPS = 100000000    -- ids of the groups the benchmark creates
local NEW_TASKS = 1000000000    -- ids of the tasks it creates (1000 apart for bulk groups)

local function call(name, params)
  return "<?xml version=\"1.0\"?>\n<methodcall>\n  <name>" .. name .. "</name>\n  <params>" .. params
    .. "</params>\n</methodcall>"
end
M.call = call

local function tag(name, value)
  return "<" .. name .. ">" .. value .. "</" .. name .. ">"
end

local function group_params(id, first_task, n)
  local tasks = {}
  for i = 0, n - 1 do
    tasks[#tasks + 1] = "<task>" .. tag("task_id", first_task + i) .. tag("bin_id", 1 + (first_task + i) % 4000000) .. "</task>"
  end
  return tag("taskgroup_id", id) .. tag("category", 1 + id % 50) .. tag("req_time", "2024-05-01T08:00:00Z")
    .. tag("priority", 3) .. "<tasks>" .. table.concat(tasks) .. "</tasks>"
end

local Plan = {}
Plan.__index = Plan

-- The k-th call number of this connection, spread over all connections: 0, 1, 2, ...
function Plan:serial()
  local n = self.connection + self.k * self.connections
  self.k = self.k + 1
  return n
end

local steps = {}

function steps.port_cycle(plan, reply)
  local port = tag("port_id", plan.connection + 1)
  if plan.state == "closed" then
    plan.state, plan.picks = "open", 0
    local select = plan.connection < 4 and ("<select>" .. tag("category", plan.connection + 1)
      .. tag("category", plan.connection + 11) .. tag("category", plan.connection + 21) .. "</select>") or ""
    return call("openport", port .. select)
  end
  if plan.state == "bin" then
    plan.state = "open"
    local bin = reply and reply:match("<bin_id>(%d+)</bin_id>")
    if bin then return call("closebin", port .. tag("bin_id", bin) .. tag("taskcomplete", 0)) end
  end
  if plan.picks == 50 then
    plan.state = "closed"
    return call("closeport", port)
  end
  plan.state, plan.picks = "bin", plan.picks + 1
  return call("openbin", port)
end

function steps.create_taskgroup_1(plan)
  local n = plan:serial()
  return call("create_taskgroup", group_params(NEW_GROUPS + n, NEW_TASKS + n * 1000, 1)), NEW_GROUPS + n
end

function steps.create_taskgroup_1000(plan)
  local n = plan:serial()
  return call("create_taskgroup", group_params(NEW_GROUPS + n, NEW_TASKS + n * 1000, 1000)), NEW_GROUPS + n
end

-- Groups of the upper half, from the top: no port holds them.
local function upper_group(plan, n)
  return plan.groups - n % math.floor(plan.groups / 2)
end

function steps.add_task(plan)
  local n = plan:serial()
  local task = NEW_TASKS + n * 1000
  return call("add_task", tag("taskgroup_id", upper_group(plan, n)) .. "<task>" .. tag("task_id", task)
    .. tag("bin_id", 1 + task % 4000000) .. "</task>"), task
end

function steps.update_taskgroup(plan)
  local n = plan:serial()
  local id = upper_group(plan, n)
  return call("update_taskgroup", tag("taskgroup_id", id) .. tag("category", 1 + id % 50)
    .. tag("req_time", "2024-05-01T08:00:00Z") .. tag("priority", 1 + n % 5))
end

function steps.cancel_taskgroup(plan)
  return call("cancel_taskgroup", tag("taskgroup_id", upper_group(plan, plan:serial())))
end

function steps.cancel_task(plan)
  local n = plan:serial()
  return call("cancel_task", tag("task_id", plan.tasks - n % math.floor(plan.tasks / 2))), n
end

function steps.gettaskinfo_group(plan)
  return call("gettaskinfo", tag("taskgroup_id", 1 + (plan:serial() * 7919) % plan.groups))
end

function steps.gettaskinfo_range(plan)
  local from = 1 + (plan:serial() * 7919) % math.max(1, plan.groups - 10)
  return call("gettaskinfo", tag("min_taskgroup_id", from) .. tag("max_taskgroup_id", from + 9))
end

function steps.getportstatus(plan)
  return call("getportstatus", tag("port_id", 1000 + plan:serial() % math.max(1, plan.ports)))
end

-- Paired (see the header): the call and the one that puts the store back, in the order sent.
local pairs_of = {
  create_taskgroup_1 = function(plan)
    local body, group = steps.create_taskgroup_1(plan)
    return body, call("cancel_taskgroup", tag("taskgroup_id", group))
  end,
  create_taskgroup_1000 = function(plan)
    local body, group = steps.create_taskgroup_1000(plan)
    return body, call("cancel_taskgroup", tag("taskgroup_id", group))
  end,
  add_task = function(plan)
    local body, task = steps.add_task(plan)
    return body, call("cancel_task", tag("task_id", task))
  end,
  cancel_task = function(plan) -- a new one-task group, then cancel_task of its task
    local body, group = steps.create_taskgroup_1(plan)
    return body, call("cancel_task", tag("task_id", NEW_TASKS + (group - NEW_GROUPS) * 1000))
  end,
}

-- A paired plan sends the call that puts the store back LAG calls later: wrk spreads a plan's
-- calls over the connections of its thread, so an undo sent at once could overtake its call.
local LAG = 16

--- The next methodcall document of this connection (reply: the previous call's reply body).
function Plan:next(reply)
  if not (self.paired and pairs_of[self.method]) then return (steps[self.method](self, reply)) end
  self.undo_turn = not self.undo_turn
  if self.undo_turn and #self.undos > LAG then return table.remove(self.undos, 1) end
  local body, undo = pairs_of[self.method](self)
  self.undos[#self.undos + 1] = undo
  return body
end

M.METHODS = { "port_cycle", "create_taskgroup_1", "create_taskgroup_1000", "add_task", "update_taskgroup",
  "cancel_taskgroup", "cancel_task", "gettaskinfo_group", "gettaskinfo_range", "getportstatus" }

--- A plan for one connection of `connections` (numbered from 0). store: {tasks=, ports=};
--- paired: see the header.
function M.plan(method, connection, connections, store, paired)
  assert(steps[method], "unknown method " .. tostring(method))
  return setmetatable({ method = method, connection = connection, connections = connections, k = 0,
    tasks = store.tasks, groups = math.ceil(store.tasks / 10), ports = store.ports or 0, paired = paired,
    state = "closed", picks = 0, undos = {} }, Plan)
end

--- Whether a reply is a success (no fault; a port cycle's openbin may find nothing: 1015).
function M.ok(body)
  return body ~= nil and not body:find("<fault>", 1, true)
end

return M
