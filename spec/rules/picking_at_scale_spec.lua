-- Picking and the store's query plans on a store of a million tasks, most groups suspended or
-- held: the real rules against a real store filled through the store's own schema
-- (bench/fill.lua). The order is checked against a plain scan of the whole store.
local runtime = require "helpers.runtime"

local root = os.getenv("TASKGATE_ROOT") or "."
local fill = dofile(root .. "/bench/fill.lua")

local NOW = fill.BASE_EPOCH
local TASKS, PER_GROUP = 1000000, 10

-- The groups a port may pick at `now`, in the documented order, found by scanning every group
-- with the definitions themselves (no derived column, no picking index): the first `limit`
-- as {taskgroup_id, task_id} with the group's lowest task id.
local ORACLE = [[
SELECT g.taskgroup_id, (SELECT min(task_id) FROM task t WHERE t.taskgroup_id = g.taskgroup_id) AS task_id
FROM taskgroup g NOT INDEXED
WHERE g.suspended = 0 AND (g.start_epoch IS NULL OR g.start_epoch <= :now)
  AND g.taskgroup_id NOT IN (SELECT taskgroup_id FROM task NOT INDEXED WHERE port_id IS NOT NULL)
  AND (g.category IN (SELECT category FROM port_category WHERE port_id = :port)
       OR NOT EXISTS (SELECT 1 FROM port_category WHERE port_id = :port))
ORDER BY g.req_epoch, g.priority, g.taskgroup_id LIMIT :limit]]

describe("picking among a million tasks", function()
  local rt, now, rows

  setup(function()
    rt = runtime.new()
    rt.clock.source = function() return now end
    now = NOW
    rows = rt.db.rows -- the oracle's own queries are not among the statements recorded below
    fill.groups(rt.db, { tasks = TASKS, per_group = PER_GROUP, categories = 50, suspended_pct = 80,
      future_pct = 10, past_start_pct = 5, now = NOW })
    fill.selected(rt.db, { ports = 200, first_port = 1000, categories = 50, categories_per_port = 3 })
    assert.same({ params = {} }, rt.call("openport", { port_id = "1", select = { category = { "3", "7", "11" } } }))
    assert.same({ params = {} }, rt.call("openport", { port_id = "2" }))
  end)
  teardown(function() runtime.close(rt) end)

  local function expected(port_id, limit)
    return rows(ORACLE, now, port_id, limit)
  end

  -- Opens the port's next bin, returns it to its group and suspends the group, so that the next
  -- openbin moves on to the next group. Returns the task id opened (or the fault code).
  local function pick_and_set_aside(port_id)
    local reply = rt.call("openbin", { port_id = tostring(port_id) })
    if reply.fault then return reply.fault.code end
    assert.same({ params = {} }, rt.call("closebin", { port_id = tostring(port_id), bin_id = tostring(reply.params.bin_id),
      taskcomplete = "0" }))
    local task = rt.store.task(reply.params.task_id)
    rt.store.suspend_taskgroup(task.taskgroup_id)
    return reply.params.task_id, task.taskgroup_id
  end

  local function picks(port_id, n)
    local got = {}
    for i = 1, n do got[i] = pick_and_set_aside(port_id) end
    return got
  end

  local function task_ids(rows)
    local ids = {}
    for i, row in ipairs(rows) do ids[i] = row.task_id end
    return ids
  end

  it("serves a port of three categories in the documented order, skipping suspended, held and selected groups", function()
    local want = task_ids(expected(1, 60))
    assert.equal(60, #want)
    assert.same(want, picks(1, 60))
  end)

  it("serves a port of every category in the documented order", function()
    local want = task_ids(expected(2, 60))
    assert.same(want, picks(2, 60))
  end)

  it("serves the groups whose start_time has come, in order among the others, once the clock reaches it", function()
    now = NOW + 24 * 3600
    local want = expected(2, 200)
    local promoted = rt.db.row("SELECT count(*) AS n FROM taskgroup WHERE start_epoch > ? AND start_epoch <= ?", NOW, now).n
    assert.is_true(promoted > 1000)
    assert.same(task_ids(want), picks(2, 200))
    local started_late = 0
    for _, row in ipairs(want) do
      local start = rt.db.row("SELECT start_epoch FROM taskgroup WHERE taskgroup_id = ?", row.taskgroup_id).start_epoch
      if start and start > NOW then started_late = started_late + 1 end
    end
    assert.is_true(started_late > 0) -- the check saw promoted groups, not only the old ones
  end)

  it("serves a group's tasks in task_id order, then the next group", function()
    local want = expected(1, 2)
    local first, second = want[1].taskgroup_id, want[2].taskgroup_id
    local tasks = rt.db.rows("SELECT task_id FROM task WHERE taskgroup_id = ? ORDER BY task_id", first)
    for _, task in ipairs(tasks) do
      local reply = rt.call("openbin", { port_id = "1" })
      assert.equal(task.task_id, reply.params.task_id)
      assert.same({ params = {} }, rt.call("closebin", { port_id = "1", bin_id = tostring(reply.params.bin_id), task_id = tostring(task.task_id) }))
    end
    assert.is_nil(rt.store.taskgroup(first))
    assert.equal(want[2].task_id, rt.call("openbin", { port_id = "1" }).params.task_id)
    assert.equal(1019, rt.call("openbin", { port_id = "2", taskgroup_id = tostring(second) }).fault.code)
    assert.same({ params = {} }, rt.call("closeport", { port_id = "1" }))
    assert.same({ params = {} }, rt.call("openport", { port_id = "1", select = { category = { "3", "7", "11" } } }))
  end)

  it("lists a category's queue for the console in the order openbin serves it, due groups included", function()
    now = NOW + 24 * 3600 -- groups have come due since the last pick
    assert.same({ params = {} }, rt.call("openport", { port_id = "4", select = { category = { "7" } } }))
    local listed = {}
    for i, group in ipairs(rt.ports.queue(7, now, 50)) do listed[i] = group.taskgroup_id end
    local want = {}
    for i, row in ipairs(expected(4, 50)) do want[i] = row.taskgroup_id end
    assert.equal(50, #want)
    assert.same(want, listed)
    local any = {}
    for i, group in ipairs(rt.ports.queue(nil, now, 20)) do any[i] = group.taskgroup_id end
    local want_any = {}
    for i, row in ipairs(expected(2, 20)) do want_any[i] = row.taskgroup_id end
    assert.same(want_any, any)
    assert.same({ params = {} }, rt.call("closeport", { port_id = "4" }))
  end)

  it("answers 1015 to a port whose categories hold nothing to pick", function()
    assert.same({ params = {} }, rt.call("openport", { port_id = "3", select = { category = { "9999999" } } }))
    assert.equal(1015, rt.call("openbin", { port_id = "3" }).fault.code)
  end)

  describe("every statement a method runs", function()
    local original = {}
    local recorded -- sql -> its first values

    before_each(function()
      recorded = {}
      for _, name in ipairs({ "exec", "row", "rows" }) do
        original[name] = rt.db[name]
        rt.db[name] = function(sql, ...)
          if not recorded[sql] then recorded[sql] = table.pack(...) end
          return original[name](sql, ...)
        end
      end
      original.rows_upto = rt.db.rows_upto
      rt.db.rows_upto = function(max_rows, sql, ...)
        if not recorded[sql] then recorded[sql] = table.pack(...) end
        return original.rows_upto(max_rows, sql, ...)
      end
      original.rows_text = rt.db.rows_text
      rt.db.rows_text = function(form, element, depth, max_rows, sql, ...)
        if not recorded[sql] then recorded[sql] = table.pack(...) end
        return original.rows_text(form, element, depth, max_rows, sql, ...)
      end
    end)
    after_each(function()
      for name, f in pairs(original) do rt.db[name] = f end
    end)

    -- Every plan line of every recorded statement: a search in an index, or a scan that
    -- stops at the statement's LIMIT because its index gives the order (no sort; a DISTINCT
    -- remembers only the rows it let through, bounded by the LIMIT).
    local function assert_searches_only(what)
      local n = 0
      for sql, values in pairs(recorded) do
        n = n + 1
        for _, line in ipairs(original.rows("EXPLAIN QUERY PLAN " .. sql, table.unpack(values, 1, values.n))) do
          local detail = line.detail
          local distinct = detail == "USE TEMP B-TREE FOR DISTINCT" and sql:find("LIMIT", 1, true)
          assert(distinct or not detail:find("TEMP B-TREE", 1, true), what .. ": a sort in the plan of " .. sql .. ": " .. detail)
          if detail:match("^SCAN") and detail ~= "SCAN CONSTANT ROW" then
            assert(detail:find("USING", 1, true) or sql:find("LIMIT", 1, true),
              what .. ": a scan of a whole table in the plan of " .. sql .. ": " .. detail)
            assert(sql:find("LIMIT", 1, true), what .. ": an unbounded scan in the plan of " .. sql .. ": " .. detail)
          end
        end
      end
      assert.is_true(n > 0, what .. ": nothing recorded")
    end

    local group = { taskgroup_id = "2000000", category = "3", req_time = "2024-05-01T08:00:00Z", priority = "1",
      shipment = "77", start_time = "2024-05-01T09:00:00Z",
      tasks = { task = { { task_id = "20000001", bin_id = "5" }, { task_id = "20000002", bin_id = "6" } } } }

    it("openbin, automatic and named, and closebin use indexes", function()
      assert.same({ params = {} }, rt.call("openport", { port_id = "20", select = { category = { "3", "4" } } }))
      local reply = rt.call("openbin", { port_id = "20" })
      rt.call("closebin", { port_id = "20", bin_id = tostring(reply.params.bin_id), taskcomplete = "0" })
      reply = rt.call("openbin", { port_id = "20", task_id = tostring(reply.params.task_id) })
      rt.call("closebin", { port_id = "20", bin_id = tostring(reply.params.bin_id), task_id = tostring(reply.params.task_id) })
      reply = rt.call("openbin", { port_id = "2", taskgroup_id = tostring(expected(2, 1)[1].taskgroup_id) })
      rt.call("closebin", { port_id = "2", bin_id = tostring(reply.params.bin_id), task_id = tostring(reply.params.task_id),
        taskcomplete = "0" })
      reply = rt.call("openbin", { port_id = "2", bin_id = tostring(reply.params.bin_id) })
      rt.call("closebin", { port_id = "2", bin_id = tostring(reply.params.bin_id), taskcomplete = "0" })
      reply = rt.call("openbin", { port_id = "2", shipment = "20" })
      rt.call("closebin", { port_id = "2", bin_id = tostring(reply.params.bin_id), task_id = tostring(reply.params.task_id),
        taskcomplete = "0" })
      rt.call("closeport", { port_id = "20", suspend_taskgroup = "1" })
      assert_searches_only("the port cycle")
    end)

    it("the task-group methods use indexes", function()
      assert.same({ params = {} }, rt.call("create_taskgroup", group))
      assert.same({ params = {} }, rt.call("add_task", { taskgroup_id = "2000000", task = { task_id = "20000003", bin_id = "7" } }))
      assert.same({ params = {} }, rt.call("update_taskgroup", { taskgroup_id = "2000000", category = "4",
        req_time = "2024-05-01T08:00:00Z", priority = "2", start_time = "2024-05-02T09:00:00Z", suspended = "0" }))
      assert.same({ params = {} }, rt.call("cancel_task", { task_id = "20000003" }))
      assert.same({ params = {} }, rt.call("cancel_taskgroup", { taskgroup_id = "2000000" }))
      rt.call("getportstatus", { port_id = "1000" })
      assert_searches_only("the task-group methods")
    end)

    it("gettaskinfo uses an index for each filter", function()
      for _, filter in ipairs({ { taskgroup_id = "500" }, { task_id = "5000" }, { min_taskgroup_id = "400", max_taskgroup_id = "420" },
        { min_taskgroup_id = "99990" }, { category = "7", max_taskgroup_id = "3000" }, { shipment = "20" },
        { suspended = "1", min_taskgroup_id = "100", max_taskgroup_id = "300" }, { category = "7", suspended = "0", min_taskgroup_id = "50000", max_taskgroup_id = "52000" },
        {}, { category = "7" }, { suspended = "0" } }) do
        rt.call("gettaskinfo", filter)
      end
      assert_searches_only("gettaskinfo")
    end)

    it("the console's views of the store use indexes and stop at their limits", function()
      for _, view in ipairs({ { "queue", "" }, { "queue", "category=7&limit=100" }, { "queue", "limit=100" }, { "ports", "" },
        { "ports", "offset=10&limit=5" }, { "ports", "port=1" }, { "ports", "port=1999" },
        { "search", "task=5000" }, { "search", "group=500&bin=8" }, { "audit", "task=5000" }, { "audit", "group=500" }, { "audit", "port=1" },
        { "audit", "" } }) do
        assert.is_string(rt.host.console(view[1], view[2]))
      end
      assert_searches_only("the console's views")
    end)

    it("the bin queries use indexes", function()
      for _, range in ipairs({ {}, { bin_id = "8" }, { min_bin_id = "100", max_bin_id = "200" }, { min_bin_id = "3999000" } }) do
        rt.call("getbininfo", range, nil, "bin")
        rt.call("getbinstate", range, nil, "bin")
      end
      assert_searches_only("the bin queries")
    end)
  end)

  it("keeps the group's selection state in step with its tasks: a trigger looks it up by index", function()
    local plan = rt.db.rows("EXPLAIN QUERY PLAN SELECT port_id FROM task WHERE taskgroup_id = ? AND port_id IS NOT NULL LIMIT 1", 5)
    assert.matches("USING COVERING INDEX task_selected", plan[1].detail)
  end)
end)
