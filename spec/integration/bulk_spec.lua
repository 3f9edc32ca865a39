-- Bulk calls at their limits (10,000 tasks a call, 1 MiB a body), and how the time limit applies
-- to the store work done for a rule: through the real binary.
local gateway = require "helpers.gateway"
local runtime = require "helpers.runtime"

local OK, F = gateway.OK, gateway.fault
local MAX_BODY = 1024 * 1024
-- What a bulk call of the largest size costs under the default limits is measured
-- (docs/performance.md), not asserted: these specs check what is stored, with room to spare
-- on a busy machine (and under the sanitizers, which slow Lua and SQLite several times).
local LIMIT_ARGS = os.getenv("TASKGATE_SANITIZED") and "--lua-time-limit 2000" or "--lua-time-limit 500"

-- The largest methodcall of `head` .. tasks .. `tail` that fits in the body limit, with task ids
-- from `first` on; returns the body and the number of tasks.
local function largest_body(head, tail, first)
  local parts, size, id = { head }, #head + #tail, first
  while true do
    local task = "<task><task_id>" .. id .. "</task_id><bin_id>" .. (id % 9 + 1) .. "</bin_id></task>"
    if size + #task > MAX_BODY then break end
    parts[#parts + 1] = task
    size, id = size + #task, id + 1
  end
  parts[#parts + 1] = tail
  return table.concat(parts), id - first
end

local function post(gw, xml)
  local status, _, body = gw:post(xml)
  assert.equal(200, status)
  return body
end

local function count_tasks(path, taskgroup_id)
  local db = runtime.native.open_store(path)
  local n = db.row("SELECT count(*) AS n FROM task WHERE taskgroup_id = ?", taskgroup_id).n
  db.close()
  return n
end

describe("bulk calls", function()
  local function tasks_xml(first, n)
    local parts = {}
    for id = first, first + n - 1 do
      parts[#parts + 1] = "<task><task_id>" .. id .. "</task_id><bin_id>" .. (id % 9 + 1) .. "</bin_id></task>"
    end
    return table.concat(parts)
  end
  local GROUP = "<taskgroup_id>1</taskgroup_id><category>1</category><req_time>2024-05-01T08:00:00Z</req_time>"
    .. "<priority>1</priority>"

  it("create a group of 10,000 tasks, the most one call carries, and add 10,000 more", function()
    local gw = gateway.start({ args = LIMIT_ARGS })
    assert.equal(OK, gw:call("create_taskgroup", GROUP .. "<tasks>" .. tasks_xml(1, 10000) .. "</tasks>"), gw:log())
    assert.equal(OK, gw:call("add_task", "<taskgroup_id>1</taskgroup_id>" .. tasks_xml(1000001, 10000)), gw:log())
    gw:stop()
    assert.equal(20000, count_tasks(gw.store, 1))
  end)

  it("answer 1931 to more tasks than that, up to a 1 MiB body of them, and store nothing", function()
    local gw = gateway.start({ args = LIMIT_ARGS })
    assert.equal(F(1931), gw:call("create_taskgroup", GROUP .. "<tasks>" .. tasks_xml(1, 10001) .. "</tasks>"))
    local body, carried = largest_body("<methodcall><name>create_taskgroup</name><params>" .. GROUP .. "<tasks>",
      "</tasks></params></methodcall>", 1)
    assert.is_true(carried > 19000)
    assert.equal(F(1931), post(gw, body))
    assert.equal(OK, gw:call("create_taskgroup", GROUP .. "<tasks>" .. tasks_xml(1, 1) .. "</tasks>"))
    body = largest_body("<methodcall><name>add_task</name><params><taskgroup_id>1</taskgroup_id>", "</params></methodcall>", 100)
    assert.equal(F(1931), post(gw, body))
    gw:stop()
    assert.equal(1, count_tasks(gw.store, 1))
  end)

  it("answer 1903 and store nothing when one task of thousands is already in use", function()
    local gw = gateway.start({ args = LIMIT_ARGS })
    assert.equal(OK, gw:call("create_taskgroup", gateway.taskgroup_params(1, { { 7777, 1 } })))
    local tasks = {}
    for i = 1, 5000 do tasks[i] = { i == 4321 and 7777 or 10000 + i, 1 } end
    assert.equal(F(1903), gw:call("create_taskgroup", gateway.taskgroup_params(2, tasks)))
    tasks[4321] = { 10000 + 4321, 1 }
    tasks[5000] = { 10001, 1 } -- the same id twice in one call
    assert.equal(F(1903), gw:call("add_task", "<taskgroup_id>1</taskgroup_id><tasks>" ..
      gateway.taskgroup_params(9, tasks):match("<tasks>(.*)</tasks>") .. "</tasks>"))
    gw:stop()
    assert.equal(1, count_tasks(gw.store, 1))
    assert.equal(0, count_tasks(gw.store, 2))
  end)
end)

describe("the time limit and the store", function()
  -- busy: Lua for 75% of the limit, then the store work of 2 x 20,000 new tasks (some 80 ms,
  -- several times that under the sanitizers or a loaded machine): together over the limit, each
  -- within it, with a quarter of the limit left to either side for the machine's scheduling.
  local limit = os.getenv("TASKGATE_SANITIZED") and 1000 or 300
  local rules = {
    busy_then_bulk = [[
return function(call)
  local started = clock.now()
  local tasks = {}
  for i = 1, 20000 do tasks[i] = { task_id = i, bin_id = 1 } end
  while clock.now() - started < 0.75 * tonumber(call.params.limit_ms) / 1000 do end
  for group = 5, 6 do
    for i = 1, #tasks do tasks[i].task_id = group * 100000 + i end
    store.create_taskgroup({ taskgroup_id = group, category = 1, req_time = "2024-05-01T08:00:00Z",
      req_epoch = 1714550400, priority = 1 }, tasks)
  end
  return {}
end]],
    store_forever = "return function(call) while true do store.task(1) end end",
  }

  it("does not charge the store work done for a rule to the rule's own Lua time", function()
    local gw = gateway.start({ rules = gateway.rules_dir(rules), args = "--lua-time-limit " .. limit })
    assert.equal(OK, gw:call("busy_then_bulk", "<limit_ms>" .. limit .. "</limit_ms>"), gw:log())
    gw:stop()
    for group = 5, 6 do assert.equal(20000, count_tasks(gw.store, group)) end
  end)

  it("stops a rule that keeps the store busy, answers 1999 and keeps the batch's other calls", function()
    local gw = gateway.start({ rules = gateway.rules_dir(rules), args = LIMIT_ARGS })
    assert.equal(OK, gw:call("create_taskgroup", gateway.taskgroup_params(1, { { 10, 1 }, { 11, 1 } })))
    local busy, cancel = gw:connect(), gw:connect()
    busy:send(gateway.post_request(gateway.methodcall("store_forever", "")))
    cancel:send(gateway.post_request(gateway.methodcall("cancel_task", "<task_id>10</task_id>")))
    local _, _, stopped = gateway.read_response(busy)
    local _, _, cancelled = gateway.read_response(cancel)
    assert.equal(F(1999), stopped)
    assert.equal(OK, cancelled)
    assert.equal(F(1017), gw:call("cancel_task", "<task_id>10</task_id>"))
    assert.matches("time limit of %d+ ms exceeded", gw:log())
    gw:stop()
  end)
end)
