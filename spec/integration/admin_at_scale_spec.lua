-- /status and /metrics on a store of a million tasks: exact counts, and store work that does not
-- grow with the store. Every statement they run (src/admin_sql.h) reads the counts the schema's
-- triggers keep per category, the port table, or the index of the tasks at ports: its plan never
-- steps through the tasks or groups.
local gateway = require "helpers.gateway"
local runtime = require "helpers.runtime"

local root = os.getenv("TASKGATE_ROOT") or "."
local fill = dofile(root .. "/bench/fill.lua")

local TASKS, PORTS = 1000005, 50 -- past a million: /status once stopped counting there

-- What a plan may scan: tables of one row per category or per open port, and the partial index
-- of the tasks at ports (as many as ports). Anything else must be an index search.
local function small_scan(detail)
  return detail:match("^SCAN category_counts") or detail:match("^SCAN port") or
    detail:find("USING COVERING INDEX task_selected", 1, true)
end

describe("/status and /metrics on a store of a million tasks", function()
  local gw, db, groups

  setup(function()
    local dir = gateway.tmpdir()
    local store = dir .. "/taskgate.db"
    db = runtime.native.open_store(store)
    groups = fill.groups(db, { tasks = TASKS, categories = 50, suspended_pct = 80, future_pct = 10 })
    fill.selected(db, { ports = PORTS, first_port = 1000, categories = 50, categories_per_port = 3 })
    gw = gateway.start({ dir = dir, store = store })
  end)
  teardown(function()
    gw:stop()
    db.close()
  end)

  local function status()
    local code, body = gw:admin("/status")
    assert.equal(200, code)
    return tonumber(body:match('"taskgroups":(%d+)')), tonumber(body:match('"tasks":(%d+)')),
      tonumber(body:match('"open_ports":(%d+)'))
  end

  it("counts every group, task and open port exactly", function()
    local taskgroups, tasks, ports = status()
    assert.same({ groups, TASKS, PORTS }, { taskgroups, tasks, ports })
  end)

  it("keeps the counts as calls change the store", function()
    assert.equal(gateway.OK, gw:call("create_taskgroup", gateway.taskgroup_params(5000001,
      { { 90000001, 1 }, { 90000002, 1 }, { 90000003, 1 } })))
    assert.same({ groups + 1, TASKS + 3, PORTS }, { status() })
    assert.equal(gateway.OK, gw:call("cancel_taskgroup", "<taskgroup_id>5000001</taskgroup_id>"))
    assert.same({ groups, TASKS, PORTS }, { status() })
  end)

  it("shows the floor in /metrics: every open port, and every task waiting or at a port", function()
    local code, text = gw:admin("/metrics")
    assert.equal(200, code)
    local open = select(2, text:gsub("\ntaskgate_port_open{", ""))
    assert.equal(PORTS, open)
    local waiting = 0
    for n in text:gmatch("\ntaskgate_tasks_waiting{category=\"%d+\"} (%d+)") do waiting = waiting + tonumber(n) end
    assert.equal(TASKS - PORTS, waiting) -- each port holds one task of its group
  end)

  it("runs no statement whose plan steps through the tasks or groups", function()
    local statements = runtime.native.admin_statements()
    assert.is_true(#statements >= 7)
    for _, sql in ipairs(statements) do
      for _, line in ipairs(db.rows("EXPLAIN QUERY PLAN " .. sql)) do
        local detail = line.detail
        if detail:match("^SCAN") then
          assert(small_scan(detail), "a scan in the plan of " .. sql .. ": " .. detail)
        elseif detail:find("TEMP B-TREE", 1, true) then
          assert(sql:find("t.port_id IS NOT NULL", 1, true), "a sort in the plan of " .. sql .. ": " .. detail)
        else
          assert(detail:match("^SEARCH"), "in the plan of " .. sql .. ": " .. detail)
        end
      end
    end
  end)
end)
