-- The recipes of docs/rules.md, dropped into a copy of the shipped rules exactly as a site
-- engineer would (cp -R docs/cookbook/<recipe>/. rules/), and tested the way docs/rules.md shows:
-- with taskgate.testing, standalone and in bridge mode (a controller stands in for the network:
-- it answers what the shipped rules forward, and remembers what reached it).
-- spec/integration/cookbook_spec.lua runs them again through two real gateways.
local runtime = require "helpers.runtime" -- sets package.path/cpath for this checkout
local testing = require "taskgate.testing"

local root = os.getenv("TASKGATE_ROOT") or "."
local SUNDAY_0230 = 1714869000 -- 2024-05-05T02:30:00+02:00 (Berlin summer time), inside the maintenance window
local SATURDAY_NOON = 1714824000 -- 2024-05-04T12:00:00Z
local UPSTREAM = "http://controller.example/api/v2/task"

local function tmpdir()
  local p = io.popen("mktemp -d /tmp/taskgate-cookbook.XXXXXX")
  local dir = p:read("l")
  p:close()
  return dir
end

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

-- A rules directory: the shipped rules plus the recipes' files.
local function rules_with(...)
  local dir = tmpdir()
  os.execute(string.format("cp -R %s/rules/. %s/", root, dir))
  for _, recipe in ipairs({ ... }) do os.execute(string.format("cp -R %s/docs/cookbook/%s/. %s/", root, recipe, dir)) end
  return dir
end

local GROUP = { taskgroup_id = "1", category = "3", req_time = "2024-05-01T08:00:00Z", priority = "1",
  tasks = { task = { { task_id = "10", bin_id = "100" }, { task_id = "11", bin_id = "101" } } } }

local OK = '<?xml version="1.0"?>\n<response>\n  <params/>\n</response>\n'

-- A controller for bridge mode: answers every forwarded call with `<params/>` (gettaskinfo with
-- one group of two tasks); `sent` lists the methods that reached it, in order.
local function controller(site)
  local sent = {}
  site.outbound = function(request)
    local method = request.body:match("<name>(.-)</name>")
    sent[#sent + 1] = method
    if method == "gettaskinfo" then
      return { status = 200, body = '<?xml version="1.0"?><response><params><taskgroups><taskgroup><taskgroup_id>1</taskgroup_id>'
        .. '<tasks><task><task_id>10</task_id></task><task><task_id>11</task_id></task></tasks></taskgroup></taskgroups></params></response>' }
    end
    return { status = 200, body = OK }
  end
  return sent
end

local REFUSED = { fault = { code = 1921 } }

-- Each recipe runs twice: standalone, and in bridge mode with a controller.
local modes = {
  standalone = function(dir, options) return testing.open(dir, options), nil end,
  bridge = function(dir, options)
    options = options or {}
    options.upstream = UPSTREAM
    local site = testing.open(dir, options)
    return site, controller(site)
  end,
}

for mode, open in pairs(modes) do
  describe("cookbook, " .. mode .. ":", function()
    local site, sent
    after_each(function()
      if site then site.close() end
      site = nil
    end)

    -- What a change answers when it goes through: standalone the store decides, in bridge mode
    -- the controller (which says yes to everything here), its reply passed on byte for byte.
    local PASSED = mode == "standalone" and { params = {} } or { raw = OK }
    local function changed(reply)
      assert.same(PASSED, reply)
    end
    local function answered(reply)
      assert.is_nil(reply.fault)
    end

    it("client_allowlist refuses changes from unknown addresses, names itself, and lets queries through", function()
      site, sent = open(rules_with("client_allowlist"))
      if mode == "standalone" then site.call("create_taskgroup", GROUP) end
      assert.same(REFUSED, site.call("cancel_task", { task_id = "10" }, "192.0.2.9"))
      assert.same({ method = "cancel_task", outcome = "1921", reason = "client_allowlist" }, site.last)
      if sent then assert.same({}, sent) end -- nothing reached the controller
      answered(site.call("gettaskinfo", {}, "192.0.2.9"))
      changed(site.call("cancel_task", { task_id = "10" }, "10.20.0.15"))
      if sent then assert.same({ "gettaskinfo", "cancel_task" }, sent) end
    end)

    it("client_allowlist's refusal is in the audit trail with its reason", function()
      site = open(rules_with("client_allowlist"))
      site.call("cancel_task", { task_id = "10" }, "192.0.2.9")
      local record = site.audit.recent(1)[1]
      assert.same({ "cancel_task", "192.0.2.9", "1921", "client_allowlist", '{"task_id":"10"}' },
        { record.method, record.client, record.outcome, record.reason, record.params })
    end)

    it("maintenance_window refuses changes on Sunday 02:00-04:00 Berlin time but answers queries", function()
      site, sent = open(rules_with("maintenance_window"), { clock = function() return SATURDAY_NOON end })
      if mode == "standalone" then site.call("create_taskgroup", GROUP) end
      site.clock.source = function() return SUNDAY_0230 end
      assert.same(REFUSED, site.call("cancel_task", { task_id = "10" }))
      assert.equal("maintenance_window", site.last.reason)
      answered(site.call("gettaskinfo", {}))
      site.clock.source = function() return site.clock.parse("2024-05-05T04:00:00+02:00") end
      changed(site.call("cancel_task", { task_id = "10" }))
      if sent then assert.same({ "gettaskinfo", "cancel_task" }, sent) end
    end)

    it("maintenance_window follows Berlin's winter time too (UTC+1)", function()
      site = open(rules_with("maintenance_window"))
      site.clock.source = function() return site.clock.parse("2024-01-07T01:59:59Z") end -- 02:59:59 local
      assert.same(REFUSED, site.call("cancel_task", { task_id = "10" }))
      site.clock.source = function() return site.clock.parse("2024-01-07T03:00:00Z") end -- 04:00 local
      site.call("cancel_task", { task_id = "10" })
      assert.is_nil(site.last.reason) -- answered by the rule (standalone) or the controller
    end)

    it("maintenance_window loads at any hour: the self-checks run at a fixed time", function()
      site = open(rules_with("maintenance_window"), { clock = function() return SUNDAY_0230 end })
      assert.same(REFUSED, site.call("create_taskgroup", GROUP))
      assert.same(REFUSED, site.call("cancel_task", { task_id = "10" }))
    end)

    it("rate_limit allows 20 calls per second per client", function()
      site, sent = open(rules_with("rate_limit"))
      site.clock.source = function() return 1714550400.5 end
      local answer = mode == "standalone" and { fault = { code = 1017 } } or PASSED
      for _ = 1, 20 do assert.same(answer, site.call("cancel_task", { task_id = "99" }, "10.0.0.1")) end
      assert.same(REFUSED, site.call("cancel_task", { task_id = "99" }, "10.0.0.1"))
      assert.equal("rate_limit", site.last.reason)
      assert.same(answer, site.call("cancel_task", { task_id = "99" }, "10.0.0.2"))
      site.clock.source = function() return 1714550401.5 end
      assert.same(answer, site.call("cancel_task", { task_id = "99" }, "10.0.0.1"))
      if sent then assert.equal(22, #sent) end -- the refused call never left
    end)

    it("audit_fields adds the WMS's reason (and, standalone, the task's bin and group) to the record", function()
      site = open(rules_with("audit_fields"))
      if mode == "standalone" then
        site.call("create_taskgroup", GROUP)
        site.call("cancel_task", { task_id = "11", reason = "short pick" })
        assert.equal('{"bin_id":101,"reason":"short pick","task_id":11,"taskgroup_id":1}', site.audit.recent(1)[1].params)
      else
        controller(site)
        site.call("cancel_task", { task_id = "11", reason = "short pick" })
        assert.equal('{"forwarded":{"task_id":11},"reason":"short pick","upstream":"upstream ok"}', site.audit.recent(1)[1].params)
      end
    end)

    it("custom_method answers a site's own method", function()
      site = open(rules_with("custom_method"))
      if mode == "standalone" then
        site.call("create_taskgroup", GROUP)
      else
        controller(site)
      end
      assert.same({ params = { taskgroups = 1, tasks = 2 } }, site.call("taskcount", {}))
      assert.same({ fault = { code = 1007 } }, site.call("taskcount", { category = "x" }))
      if mode == "standalone" then
        assert.same({ params = { taskgroups = 0, tasks = 0 } }, site.call("taskcount", { category = "4" }))
      end
    end)

    it("two policies side by side run in name order, and the first refusal names its policy", function()
      site, sent = open(rules_with("client_allowlist", "maintenance_window"), { clock = function() return SUNDAY_0230 end })
      assert.same(REFUSED, site.call("cancel_task", { task_id = "10" }, "192.0.2.9"))
      assert.equal("client_allowlist", site.last.reason)
      assert.same(REFUSED, site.call("cancel_task", { task_id = "10" }, "10.20.0.15"))
      assert.equal("maintenance_window", site.last.reason)
      if sent then assert.same({}, sent) end
    end)
  end)
end

describe("cookbook", function()
  it("every recipe passes `taskgate check`, with no warning", function()
    for _, recipe in ipairs({ "client_allowlist", "maintenance_window", "rate_limit", "audit_fields", "custom_method" }) do
      local p = io.popen(string.format("%s/build/taskgate check %s 2>&1 >/dev/null; echo \"exit=$?\"", root, rules_with(recipe)))
      local out = p:read("a")
      p:close()
      assert.equal("exit=0\n", out, recipe)
    end
  end)
end)

describe("policies and site modules", function()
  local site
  after_each(function()
    if site then site.close() end
    site = nil
  end)

  local function rules(files)
    local dir = rules_with()
    for name, text in pairs(files) do
      os.execute(string.format("mkdir -p %s/$(dirname %s)", dir, name))
      write(dir .. "/" .. name, text)
    end
    return dir
  end

  it("a site module required by a policy and a rule is loaded once and shared", function()
    site = testing.open(rules({
      ["lib/floor.lua"] = 'local M = { loads = 0 }\nM.loads = M.loads + 1\nfunction M.quiet(port) return port == "7" end\nreturn M',
      ["policies/quiet_port.lua"] = 'local floor = require "site.floor"\nreturn { methods = { "openport" }, run = function(call)\n'
        .. '  if floor.quiet(call.params.port_id) then return fault(1921, "quiet_port") end\nend }',
      ["portloads.lua"] = 'local floor = require "site.floor"\nreturn function(call) return { loads = floor.loads } end',
    }))
    assert.same(REFUSED, site.call("openport", { port_id = "7" }))
    assert.equal("quiet_port", site.last.reason)
    assert.same({ params = {} }, site.call("openport", { port_id = "8" }))
    assert.same({ params = { loads = 1 } }, site.call("portloads", {}))
  end)

  it("a site module runs in the same sandbox as the rules", function()
    local ok, why = pcall(testing.open, rules({ ["lib/bad.lua"] = 'return io.open("/etc/passwd")' }))
    assert.is_false(ok)
    assert.matches("lib/bad.lua:1: unknown global 'io'", why, 1, true)
  end)

  it("a module that requires itself through another is refused with both names", function()
    local ok, why = pcall(testing.open, rules({ ["lib/a.lua"] = 'return require "site.b"', ["lib/b.lua"] = 'return require "site.a"' }))
    assert.is_false(ok)
    assert.matches("site.a requires itself", why, 1, true)
  end)

  it("requiring a module that does not exist names the file it should be", function()
    local ok, why = pcall(testing.open, rules({ ["policies/p.lua"] = 'local x = require "site.nothere"\nreturn function() end' }))
    assert.is_false(ok)
    assert.matches("policies/p.lua:1: no site module 'nothere' (rules/lib/nothere.lua)", why, 1, true)
  end)

  it("a policy that names methods sees only those, on either endpoint", function()
    site = testing.open(rules({ ["policies/no_ports.lua"] = 'return { methods = { "OpenPort" }, run = function() return fault(1921) end }' }))
    assert.same(REFUSED, site.call("openport", { port_id = "3" }))
    assert.same(REFUSED, site.call("openport", { port_id = "3" }, nil, "bin"))
    assert.same({ fault = { code = 1017 } }, site.call("cancel_task", { task_id = "5" }))
  end)

  it("a policy's changes are undone when a later policy refuses the call", function()
    site = testing.open(rules({
      ["policies/a_note.lua"] = 'return function(call) audit.record(call, { noted = true }) end',
      ["policies/b_refuse.lua"] = 'return function(call) if call.client == "192.0.2.7" then return fault(1921) end end',
    }))
    assert.same(REFUSED, site.call("cancel_task", { task_id = "5" }, "192.0.2.7"))
    assert.equal("b_refuse", site.last.reason)
    local records = site.audit.recent(5)
    assert.equal(1, #records) -- the refusal, not a_note's record
    assert.equal("b_refuse", records[1].reason)
  end)

  it("a policy that returns something other than nothing or a fault fails the call, naming its file", function()
    site = testing.open(rules({ ["policies/wrong.lua"] = 'return function(call) if call.client == "192.0.2.7" then return {} end end' }))
    assert.same({ fault = { code = 1999 } }, site.call("cancel_task", { task_id = "5" }, "192.0.2.7"))
    assert.equal("error", site.last.failure)
  end)

  it("a fault's reason must be a name", function()
    site = testing.open(rules({ ["policies/p.lua"] = 'return function(call) if call.client == "192.0.2.7" then return fault(1921, "has space") end end' }))
    assert.same({ fault = { code = 1999 } }, site.call("cancel_task", { task_id = "5" }, "192.0.2.7"))
  end)

  it("a rule's own fault with a reason is a refusal too; a fault without one is not in the audit trail", function()
    site = testing.open(rules({ ["cancel_task.lua"] = 'return function(call)\n'
      .. '  if call.client == "192.0.2.7" then return fault(1921, "closed_today") end\n'
      .. '  return fault(call.params.task_id and 1017 or 1040)\nend', ["_selfcheck.lua"] = 'return function() end' }))
    assert.same(REFUSED, site.call("cancel_task", { task_id = "5" }, "192.0.2.7"))
    assert.equal("closed_today", site.last.reason)
    assert.equal("closed_today", site.audit.recent(1)[1].reason)
    assert.equal("refused", site.audit.recent(1)[1].marked)
    site.call("openport", { port_id = "x" })
    assert.is_nil(site.last.reason)
    assert.equal("cancel_task", site.audit.recent(1)[1].method)
  end)

  it("_before.lua, the old form of a policy, still runs, ahead of policies/", function()
    site = testing.open(rules({
      ["_before.lua"] = 'return function(call) if call.client == "192.0.2.1" then return fault(1921) end end',
      ["policies/all.lua"] = 'return function(call) if call.client ~= "127.0.0.1" then return fault(1921) end end',
    }))
    site.call("cancel_task", { task_id = "5" }, "192.0.2.1")
    assert.equal("_before", site.last.reason)
    site.call("cancel_task", { task_id = "5" }, "192.0.2.2")
    assert.equal("all", site.last.reason)
  end)

  it("the self-checks say what they got", function()
    local ok, why = pcall(testing.open, rules({ ["cancel_task.lua"] = 'return function(call) return fault(1012) end' }))
    assert.is_false(ok)
    assert.matches("cancel_task without task_id: expected fault 1040, got fault 1012", why, 1, true)
    ok, why = pcall(testing.open, rules({ ["_selfcheck.lua"] = 'return function(call, expect)\n'
      .. '  expect.fault(call("getportstatus", { port_id = "1" }), 1003, "status")\nend' }))
    assert.is_false(ok)
    assert.matches("_selfcheck.lua:2: status: expected fault 1003, got params {", why, 1, true)
  end)
end)
