local runtime = require "helpers.runtime"

describe("rule gettaskinfo", function()
  local rt
  local function group(id, category, tasks, extra)
    local list = {}
    for i, t in ipairs(tasks) do list[i] = { task_id = tostring(t), bin_id = "5" } end
    local p = { taskgroup_id = tostring(id), category = tostring(category), req_time = "2024-05-01T08:00:00Z",
      priority = "1", tasks = { task = list } }
    for k, v in pairs(extra or {}) do p[k] = v end
    assert.same({ params = {} }, rt.call("create_taskgroup", p))
  end
  local function ids(reply)
    local result = {}
    for _, g in ipairs(reply.params.taskgroups.taskgroup) do
      local tasks = {}
      for _, t in ipairs(g.tasks.task) do tasks[#tasks + 1] = t.task_id end
      result[#result + 1] = { g.taskgroup_id, tasks }
    end
    return result
  end

  before_each(function()
    rt = runtime.new()
    group(1, 10, { 100, 101 })
    group(2, 20, { 200 }, { suspended = "true", shipment = "9" })
    group(3, 10, { 300 })
  end)
  after_each(function() runtime.close(rt) end)

  it("lists every group with its tasks when no filter is given", function()
    assert.same({ { 1, { 100, 101 } }, { 2, { 200 } }, { 3, { 300 } } }, ids(rt.call("gettaskinfo", {})))
  end)

  it("filters by taskgroup_id, range, category, suspended and shipment", function()
    assert.same({ { 2, { 200 } } }, ids(rt.call("gettaskinfo", { taskgroup_id = "2" })))
    assert.same({ { 2, { 200 } }, { 3, { 300 } } }, ids(rt.call("gettaskinfo", { min_taskgroup_id = "2" })))
    assert.same({ { 1, { 100, 101 } } }, ids(rt.call("gettaskinfo", { max_taskgroup_id = "1" })))
    assert.same({ { 1, { 100, 101 } }, { 3, { 300 } } }, ids(rt.call("gettaskinfo", { category = "10" })))
    assert.same({ { 2, { 200 } } }, ids(rt.call("gettaskinfo", { suspended = "1" })))
    assert.same({ { 2, { 200 } } }, ids(rt.call("gettaskinfo", { shipment = "9" })))
  end)

  it("lists only the named task under its group for a task_id filter", function()
    assert.same({ { 1, { 101 } } }, ids(rt.call("gettaskinfo", { task_id = "101" })))
  end)

  it("shows a selected task's state and port", function()
    rt.store.select_task(100, 7)
    local task = rt.call("gettaskinfo", { task_id = "100" }).params.taskgroups.taskgroup[1].tasks.task[1]
    assert.equal("selected", task.state)
    assert.equal(7, task.port_id)
  end)

  it("answers an empty list when nothing matches", function()
    assert.same({}, rt.call("gettaskinfo", { taskgroup_id = "99" }).params.taskgroups.taskgroup)
  end)

  it("refuses task_id together with taskgroup_id (1917)", function()
    assert.same({ fault = { code = 1917 } }, rt.call("gettaskinfo", { task_id = "100", taskgroup_id = "1" }))
  end)

  for _, case in ipairs({ { "taskgroup_id", "x", 1013 }, { "min_taskgroup_id", "0", 1013 }, { "max_taskgroup_id", "-1", 1013 },
    { "task_id", "1.0", 1012 }, { "category", "abc", 1007 }, { "suspended", "2", 1913 }, { "shipment", "0", 1014 } }) do
    it("answers " .. case[3] .. " for an invalid " .. case[1], function()
      assert.same({ fault = { code = case[3] } }, rt.call("gettaskinfo", { [case[1]] = case[2] }))
    end)
  end

  describe("on a store of 300,000 groups", function()
    local fill = dofile((os.getenv("TASKGATE_ROOT") or ".") .. "/bench/fill.lua")
    before_each(function()
      fill.groups(rt.db, { tasks = 300000, per_group = 1, first_task = 1000, first_group = 1000, categories = 1,
        suspended_pct = 100 })
    end)

    it("lists up to 10,000 tasks", function()
      local reply = rt.call("gettaskinfo", { min_taskgroup_id = "1000", max_taskgroup_id = "10999" })
      assert.equal(10000, #reply.params.taskgroups.taskgroup)
    end)

    it("answers 1931 when more than 10,000 tasks match, with no filter at all too", function()
      assert.same({ fault = { code = 1931 } }, rt.call("gettaskinfo", { min_taskgroup_id = "1000", max_taskgroup_id = "11000" }))
      assert.same({ fault = { code = 1931 } }, rt.call("gettaskinfo", {}))
      assert.same({ fault = { code = 1931 } }, rt.call("gettaskinfo", { suspended = "1" }))
    end)

    it("answers 1932 when the filters would make the store look through far more than it lists", function()
      -- Every suspended group must be looked at to find those of category 2 (there are none).
      assert.same({ fault = { code = 1932 } }, rt.call("gettaskinfo", { suspended = "1", category = "2" }))
      local narrowed = rt.call("gettaskinfo", { suspended = "1", category = "2", max_taskgroup_id = "20000" })
      assert.same({}, narrowed.params.taskgroups.taskgroup) -- a range narrows it enough to answer
    end)
  end)
end)
