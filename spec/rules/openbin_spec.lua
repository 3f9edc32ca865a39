-- How openbin picks the next task, with the real rules on a real store.
local runtime = require "helpers.runtime"

describe("rule openbin selection order", function()
  local rt
  local function group(id, req_time, priority, extra)
    local p = { taskgroup_id = tostring(id), category = "1", req_time = req_time, priority = tostring(priority),
      tasks = { task = { task_id = tostring(id * 10), bin_id = tostring(id) } } }
    for k, v in pairs(extra or {}) do p[k] = v end
    assert.same({ params = {} }, rt.call("create_taskgroup", p))
  end
  local function next_task()
    local reply = rt.call("openbin", { port_id = "1" })
    if reply.fault then return reply.fault.code end
    rt.call("closebin", { port_id = "1", bin_id = tostring(reply.params.bin_id), task_id = tostring(reply.params.task_id) })
    return reply.params.task_id
  end

  before_each(function()
    rt = runtime.new()
    assert.same({ params = {} }, rt.call("openport", { port_id = "1" }))
  end)
  after_each(function() runtime.close(rt) end)

  it("serves the earliest req_time first, then the lowest priority, then the lower group id", function()
    group(1, "2024-01-02T00:00:00Z", 1)
    group(2, "2024-01-01T00:00:00Z", 9)
    group(3, "2024-01-01T00:00:00Z", 2)
    group(4, "2024-01-01T00:00:00Z", 2)
    assert.same({ 30, 40, 20, 10, 1015 }, { next_task(), next_task(), next_task(), next_task(), next_task() })
  end)

  it("skips suspended groups and groups whose start_time lies ahead", function()
    group(1, "2024-01-01T00:00:00Z", 1, { suspended = "1" })
    group(2, "2024-01-01T00:00:00Z", 1, { start_time = "2038-01-01T00:00:00Z" })
    group(3, "2024-01-01T00:00:00Z", 1, { start_time = "2024-01-01T00:00:00Z" })
    assert.same({ 30, 1015 }, { next_task(), next_task() })
  end)

  it("serves a group again after update_taskgroup resumes it", function()
    group(1, "2024-01-01T00:00:00Z", 1, { suspended = "1" })
    assert.equal(1015, next_task())
    rt.call("update_taskgroup", { taskgroup_id = "1", category = "1", req_time = "2024-01-01T00:00:00Z", priority = "1", suspended = "0" })
    assert.equal(10, next_task())
  end)

  it("honours the port's categories", function()
    rt.call("closeport", { port_id = "1" })
    rt.call("openport", { port_id = "1", select = { category = { "5", "6" } } })
    group(1, "2024-01-01T00:00:00Z", 1)
    group(2, "2024-01-01T00:00:00Z", 1, { category = "6" })
    assert.same({ 20, 1015 }, { next_task(), next_task() })
  end)
end)
