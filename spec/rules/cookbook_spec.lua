-- The recipes of docs/rules.md, dropped into a copy of the shipped rules exactly as a site
-- engineer would, and tested the way docs/rules.md shows: with taskgate.testing.
local runtime = require "helpers.runtime" -- sets package.path/cpath for this checkout
local testing = require "taskgate.testing"

local root = os.getenv("TASKGATE_ROOT") or "."
local SUNDAY_0230 = 1714876200 -- 2024-05-05T02:30:00Z, inside the maintenance window
local SATURDAY_NOON = 1714824000 -- 2024-05-04T12:00:00Z

-- A rules directory: the shipped rules plus one recipe's files.
local function rules_with(recipe)
  local dir = io.popen("mktemp -d /tmp/taskgate-cookbook.XXXXXX"):read("l")
  os.execute(string.format("cp %s/rules/*.lua %s/ && cp %s/docs/cookbook/%s/*.lua %s/", root, dir, root, recipe, dir))
  return dir
end

local GROUP = { taskgroup_id = "1", category = "3", req_time = "2024-05-01T08:00:00Z", priority = "1",
  tasks = { task = { { task_id = "10", bin_id = "100" }, { task_id = "11", bin_id = "101" } } } }

describe("cookbook", function()
  local site
  after_each(function() if site then site.close() end end)

  it("client_allowlist refuses cancels from unknown addresses", function()
    site = testing.open(rules_with("client_allowlist"))
    site.call("create_taskgroup", GROUP)
    assert.same({ fault = { code = 1921 } }, site.call("cancel_task", { task_id = "10" }, "192.0.2.9"))
    assert.same({ params = {} }, site.call("cancel_task", { task_id = "10" }, "10.20.0.15"))
  end)

  it("maintenance_window refuses changes on Sunday 02:00-04:00 UTC but answers queries", function()
    site = testing.open(rules_with("maintenance_window"), { clock = function() return SATURDAY_NOON end })
    site.call("create_taskgroup", GROUP)
    local real_now = site.clock.source
    site.clock.source = function() return site.clock.parse("2024-05-05T02:30:00Z") end -- a Sunday
    assert.same({ fault = { code = 1921 } }, site.call("cancel_task", { task_id = "10" }))
    assert.is_table(site.call("gettaskinfo", {}).params)
    site.clock.source = function() return site.clock.parse("2024-05-05T04:00:00Z") end
    assert.same({ params = {} }, site.call("cancel_task", { task_id = "10" }))
    site.clock.source = real_now
  end)

  it("maintenance_window loads at any hour: the self-checks run at a fixed time", function()
    site = testing.open(rules_with("maintenance_window"), { clock = function() return SUNDAY_0230 end })
    assert.same({ fault = { code = 1921 } }, site.call("create_taskgroup", GROUP))
    assert.same({ fault = { code = 1921 } }, site.call("cancel_task", { task_id = "10" }))
  end)

  it("rate_limit allows 20 calls per second per client", function()
    site = testing.open(rules_with("rate_limit"))
    site.clock.source = function() return 1714550400.5 end
    for _ = 1, 20 do assert.same({ fault = { code = 1017 } }, site.call("cancel_task", { task_id = "99" }, "10.0.0.1")) end
    assert.same({ fault = { code = 1921 } }, site.call("cancel_task", { task_id = "99" }, "10.0.0.1"))
    assert.same({ fault = { code = 1017 } }, site.call("cancel_task", { task_id = "99" }, "10.0.0.2"))
    site.clock.source = function() return 1714550401.5 end
    assert.same({ fault = { code = 1017 } }, site.call("cancel_task", { task_id = "99" }, "10.0.0.1"))
  end)

  it("audit_fields records the bin, the group and the WMS's reason", function()
    site = testing.open(rules_with("audit_fields"))
    site.call("create_taskgroup", GROUP)
    site.call("cancel_task", { task_id = "11", reason = "short pick" })
    assert.equal('{"bin_id":101,"reason":"short pick","task_id":11,"taskgroup_id":1}', site.audit.recent(1)[1].params)
  end)

  it("custom_method answers a site's own method", function()
    site = testing.open(rules_with("custom_method"))
    site.call("create_taskgroup", GROUP)
    assert.same({ params = { taskgroups = 1, tasks = 2 } }, site.call("taskcount", {}))
    assert.same({ params = { taskgroups = 0, tasks = 0 } }, site.call("taskcount", { category = "4" }))
    assert.same({ fault = { code = 1007 } }, site.call("taskcount", { category = "x" }))
  end)

  it("every recipe passes `taskgate check`", function()
    for _, recipe in ipairs({ "client_allowlist", "maintenance_window", "rate_limit", "audit_fields", "custom_method" }) do
      assert.is_true(os.execute(string.format("%s/build/taskgate check %s >/dev/null", root, rules_with(recipe))), recipe)
    end
  end)
end)
