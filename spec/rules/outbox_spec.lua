-- outbox.send tested the way a site tests its rules (taskgate.testing): what a call queues is in
-- the store's outbox table exactly when the call's change is.
local runtime = require "helpers.runtime" -- sets package.path/cpath for this checkout
local testing = require "taskgate.testing"

local root = os.getenv("TASKGATE_ROOT") or "."

-- The shipped rules plus a cancel_task that tells the ERP about each cancel.
local function rules_dir()
  local dir = io.popen("mktemp -d /tmp/taskgate-outbox.XXXXXX"):read("l")
  os.execute(string.format("cp %s/rules/*.lua %s/", root, dir))
  local file = assert(io.open(dir .. "/cancel_task.lua", "w"))
  file:write([[
return function(call)
  local task_id = check.int(call.params.task_id, { min = 1, max = 2147483647, missing = 1040, invalid = 1012 })
  local task = store.task(task_id)
  if not task then return fault(1017) end
  store.cancel_task(task_id)
  outbox.send{ target = "erp", body = { event = "task_cancelled", task_id = task_id } }
  return {}
end
]])
  file:close()
  return dir
end

describe("outbox.send in a site's rules", function()
  local site
  before_each(function()
    site = testing.open(rules_dir(), { outbox_targets = { "erp" } })
    site.call("create_taskgroup", { taskgroup_id = "1", category = "1", req_time = "2024-05-01T08:00:00Z",
      priority = "1", tasks = { task = { task_id = "10", bin_id = "100" } } })
  end)
  after_each(function() site.close() end)

  it("queues the message with the change", function()
    assert.same({ params = {} }, site.call("cancel_task", { task_id = "10" }))
    local rows = site.db.rows("SELECT target, body, content_type, state, attempts FROM outbox")
    assert.same({ { target = "erp", body = '{"event":"task_cancelled","task_id":10}', content_type = "application/json",
      state = "pending", attempts = 0 } }, rows)
  end)

  it("queues nothing when the call changes nothing", function()
    assert.same({ fault = { code = 1017 } }, site.call("cancel_task", { task_id = "99" }))
    assert.same({}, site.db.rows("SELECT message_id FROM outbox"))
  end)
end)
