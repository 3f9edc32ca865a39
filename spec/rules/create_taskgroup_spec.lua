local runtime = require "helpers.runtime"

local function params(overrides)
  local p = {
    taskgroup_id = "1", category = "5", req_time = "2024-05-01T08:00:00Z", priority = "3",
    tasks = { task = { { task_id = "10", bin_id = "100" } } },
  }
  for k, v in pairs(overrides or {}) do
    if v == "nil" then p[k] = nil else p[k] = v end
  end
  return p
end

describe("rule create_taskgroup", function()
  local rt
  before_each(function() rt = runtime.new() end)
  after_each(function() runtime.close(rt) end)

  it("creates a group with its tasks and all optional fields", function()
    local reply = rt.call("create_taskgroup", params({
      shipment = "77", start_time = "2024-05-01T07:00:00Z", suspended = "1",
      tasks = { task = { task_id = "10", bin_id = "100", item = "sku-1", order = "o-9", estpicktime = "30" } },
    }))
    assert.same({ params = {} }, reply)
    local group = rt.store.taskgroup(1)
    assert.equal(77, group.shipment)
    assert.is_true(group.suspended)
    local task = rt.store.task(10)
    assert.same({ task_id = 10, taskgroup_id = 1, bin_id = 100, item = "sku-1", order = "o-9", estpicktime = 30 }, task)
  end)

  local cases = {
    { "taskgroup_id missing", { taskgroup_id = "nil" }, 1904 },
    { "taskgroup_id invalid", { taskgroup_id = "x" }, 1013 },
    { "shipment invalid", { shipment = "0" }, 1014 },
    { "category missing", { category = "nil" }, 1905 },
    { "category out of range", { category = "10000001" }, 1007 },
    { "req_time missing", { req_time = "nil" }, 1906 },
    { "req_time invalid", { req_time = "2024-05-01" }, 1008 },
    { "req_time before 1971", { req_time = "1970-06-01T00:00:00Z" }, 1008 },
    { "priority missing", { priority = "nil" }, 1907 },
    { "priority invalid", { priority = "high" }, 1908 },
    { "start_time invalid", { start_time = "tomorrow" }, 1912 },
    { "suspended invalid", { suspended = "maybe" }, 1913 },
    { "tasks missing", { tasks = "nil" }, 1909 },
    { "tasks empty", { tasks = "" }, 1909 },
    { "tasks without task", { tasks = { other = "1" } }, 1909 },
    { "task is text", { tasks = { task = "10" } }, 1910 },
    { "task_id missing", { tasks = { task = { bin_id = "1" } } }, 1040 },
    { "task_id invalid", { tasks = { task = { task_id = "1.5", bin_id = "1" } } }, 1012 },
    { "bin_id missing", { tasks = { task = { task_id = "10" } } }, 1911 },
    { "bin_id out of range", { tasks = { task = { task_id = "10", bin_id = "4000001" } } }, 1010 },
    { "item too long", { tasks = { task = { task_id = "10", bin_id = "1", item = string.rep("x", 256) } } }, 1914 },
    { "order nested", { tasks = { task = { task_id = "10", bin_id = "1", order = { x = "1" } } } }, 1915 },
    { "estpicktime invalid", { tasks = { task = { task_id = "10", bin_id = "1", estpicktime = "-1" } } }, 1916 },
    { "duplicate task_id in the call", { tasks = { task = { { task_id = "10", bin_id = "1" }, { task_id = "10", bin_id = "2" } } } }, 1903 },
  }
  for _, case in ipairs(cases) do
    it("answers " .. case[3] .. " when " .. case[1] .. " and stores nothing", function()
      assert.same({ fault = { code = case[3] } }, rt.call("create_taskgroup", params(case[2])))
      assert.is_nil(rt.store.taskgroup(1))
      assert.is_nil(rt.store.task(10))
    end)
  end

  it("answers 1902 for an existing taskgroup_id", function()
    rt.call("create_taskgroup", params())
    assert.same({ fault = { code = 1902 } }, rt.call("create_taskgroup", params({ tasks = { task = { task_id = "11", bin_id = "1" } } })))
  end)

  it("answers 1903 for a task_id used by another group, creating nothing", function()
    rt.call("create_taskgroup", params())
    assert.same({ fault = { code = 1903 } }, rt.call("create_taskgroup", params({
      taskgroup_id = "2", tasks = { task = { { task_id = "12", bin_id = "1" }, { task_id = "10", bin_id = "1" } } } })))
    assert.is_nil(rt.store.taskgroup(2))
    assert.is_nil(rt.store.task(12))
  end)
end)
