-- The runtime is read-only to rules: a rule that tries to change the dispatcher, the clock, the
-- checks, the fault table or a fault, or to take over one of the gateway's coroutines, gets an
-- error (its call faults 1999), and every other call goes on exactly as before.
local gateway = require "helpers.gateway"

local F = gateway.fault

local tampering = {
  require_dispatch = [[return function(call)
  require("taskgate.dispatch").register("cancel_task", function() return {} end)
end]],
  clear_rules = [[return function(call) require("taskgate.dispatch").clear() end]],
  require_internals = [[return function(call)
  for _, name in ipairs({ "taskgate.host", "taskgate.sandbox", "taskgate.outbound", "taskgate.db", "taskgate.sys",
      "taskgate.xml", "taskgate.failure", "taskgate.testing", "taskgate.legacy", "string", "debug" }) do
    if pcall(require, name) then error("required " .. name) end
  end
  error("all refused")
end]],
  set_clock = [[return function(call) require("taskgate.clock").source = function() return 0 end end]],
  set_clock_global = [[return function(call) clock.source = function() return 0 end end]],
  check_accepts_all = [[return function(call) require("taskgate.check").int = function() return 1 end end]],
  through_pairs = [[return function(call)
  local _, hidden = pairs(check)
  hidden.int = function() return 1 end
end]],
  nested_fault_entry = [[return function(call) faults[1017].name = "EVERYTHING_IS_FINE" end]],
  nested_through_require = [[return function(call) require("taskgate.faults")[1017].source = "assumed" end]],
  forge_fault = [[return function(call) return setmetatable({ code = 4242 }, getmetatable(fault(1017))) end]],
  fault_metatable = [[return function(call)
  return setmetatable(fault(1017), { __index = function() return 4242 end })
end]],
  string_metatable = [[return function(call) getmetatable("").__index.find = function() return 1 end end]],
  change_fault = [[return function(call)
  local f = fault(1017)
  f.code = 4242
  return f
end]],
  reseed = [[return function(call) math.randomseed(1) end]],
  string_library = [[return function(call) string.find = function() return 1 end end]],
}

describe("a rule that tries to change the runtime", function()
  local gw
  setup(function()
    local rules = {}
    for name, source in pairs(tampering) do rules[name] = source end
    -- Keeps the coroutine its first call ran in, and tries to resume and close it in later calls.
    rules.keep_coroutine = [[local kept
return function(call)
  if not kept then
    kept = coroutine.running()
    return { kept = "yes" }
  end
  local resumed, why = pcall(coroutine.resume, kept, { handler = function() return {} end }, call)
  local closed, why_close = pcall(coroutine.close, kept)
  return { resumed = tostring(resumed), closed = tostring(closed), why = why:match("gateway's") or why }
end]]
    gw = gateway.start({ rules = gateway.rules_dir(rules) })
    assert.equal(gateway.OK, gw:call("create_taskgroup", gateway.taskgroup_params(1, { { 1, 1 }, { 2, 2 } })))
  end)
  teardown(function() gw:stop() end)

  -- Everything a tampering rule could have changed still works as shipped.
  local function runtime_intact()
    assert.equal(F(1012), gw:call("cancel_task", "<task_id>abc</task_id>")) -- check.int
    assert.equal(F(1017), gw:call("cancel_task", "<task_id>987654</task_id>")) -- the dispatcher
    assert.equal(F(1901), gw:call("no_such_method"))
    local info = gw:call("gettaskinfo", "<task_id>1</task_id>")
    assert.matches("<task_id>1</task_id>", info)
  end

  local names = {}
  for name in pairs(tampering) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    it("fails (" .. name .. ") and changes nothing for the calls after it", function()
      assert.equal(F(1999), gw:call(name))
      runtime_intact()
    end)
  end

  it("names what it refused", function()
    local log = gw:log()
    assert.matches("rules may not require 'taskgate.dispatch'", log)
    assert.matches("clock is read%-only %(assigning source%)", log)
    assert.matches("check is read%-only %(assigning int%)", log)
    assert.matches("faults%.1017 is read%-only %(assigning name%)", log)
    assert.matches("a fault cannot be changed", log)
    assert.matches("math%.randomseed does not exist", log)
    assert.matches("all refused", log)
  end)

  it("cannot resume or close a coroutine of the gateway's that it kept", function()
    assert.matches("<kept>yes</kept>", gw:call("keep_coroutine"))
    local reply = gw:call("keep_coroutine")
    assert.matches("<resumed>false</resumed>", reply)
    assert.matches("<closed>false</closed>", reply)
    assert.matches("<why>gateway&apos;s</why>", reply)
    runtime_intact()
  end)

  it("leaves the clock the audit trail uses alone", function()
    for _, name in ipairs({ "set_clock", "set_clock_global" }) do assert.equal(F(1999), gw:call(name)) end
    assert.equal(gateway.OK, gw:call("cancel_task", "<task_id>2</task_id>"))
    local out = gateway.run(string.format("%s audit --store %s", gateway.binary, gw.store))
    local year = tonumber(out:match('"time":"(%d%d%d%d)%-[^\n]*"method":"cancel_task"'))
    assert.is_true(year and year >= 2024, out)
  end)
end)
