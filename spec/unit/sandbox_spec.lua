-- The environment rules run in (lua/taskgate/sandbox.lua) and the values they are handed: frozen
-- views, require, faults, coroutines.
local runtime = require "helpers.runtime"

-- fn must raise an error whose message holds `text` (plain).
local function refused(text, fn)
  local ok, err = pcall(fn)
  assert.is_false(ok)
  assert.is_truthy(tostring(err):find(text, 1, true), tostring(err))
end

describe("a rule's environment", function()
  local site, env
  setup(function()
    site = runtime.new()
    env = require("taskgate.sandbox").env("spec")
  end)
  teardown(function() runtime.close(site) end)

  it("hands out API tables that cannot be changed, nested ones included", function()
    refused("check is read-only (assigning int)", function() env.check.int = function() end end)
    refused("faults.1017 is read-only (assigning name)", function() env.faults[1017].name = "X" end)
    assert.has_error(function() env.string.find = nil end)
    assert.has_error(function() env.clock.source = os.time end)
    assert.equal(false, getmetatable(env.check))
    assert.equal(false, getmetatable(env.faults[1017]))
    assert.equal("TASK_DOES_NOT_EXIST", env.faults[1017].name)
  end)

  it("iterates a view without handing out what is behind it", function()
    local iterate, state = pairs(env.check)
    assert.equal(env.check, state)
    local names = {}
    for name in pairs(env.check) do names[#names + 1] = name end
    assert.is_true(#names >= 5)
    local entry
    for code, e in pairs(env.faults) do
      if code == 1017 then entry = e end
    end
    assert.has_error(function() entry.name = "X" end)
  end)

  it("gives the same views through require, and refuses the runtime's own modules", function()
    assert.equal(env.check, env.require("taskgate.check"))
    assert.equal(env.faults, env.require("taskgate.faults"))
    assert.has_error(function() env.require("taskgate.json").encode = nil end)
    for _, name in ipairs({ "taskgate.dispatch", "taskgate.host", "taskgate.db", "taskgate.sys", "taskgate.sandbox",
      "taskgate.outbound", "taskgate.xml", "taskgate.failure", "io", "os", "debug", 42 }) do
      refused(string.format("rules may not require '%s'", tostring(name)), function() env.require(name) end)
    end
  end)

  it("hands out no table a rule can change, however deep, from any global or through require", function()
    -- Every table reachable from the globals (the libraries and the API) and from what require
    -- gives, through table values, keys and pairs: adding a field and replacing one must fail,
    -- and the metatable must be hidden.
    local globals = debug.getmetatable(env).__index
    local roots = {}
    for name, value in next, globals do roots[#roots + 1] = { tostring(name), value } end
    for _, module in ipairs({ "taskgate.check", "taskgate.store", "taskgate.audit", "taskgate.log", "taskgate.clock",
      "taskgate.reply", "taskgate.ports", "taskgate.params", "taskgate.bins", "taskgate.upstream", "taskgate.http",
      "taskgate.outbox", "taskgate.faults", "taskgate.fault", "taskgate.json" }) do
      roots[#roots + 1] = { "require '" .. module .. "'", env.require(module) }
    end
    local seen, walked = {}, 0
    local function walk(path, t)
      if type(t) ~= "table" or seen[t] then return end
      seen[t] = true
      walked = walked + 1
      assert.equal(false, getmetatable(t), path .. " shows its metatable")
      assert.is_false(pcall(function() t.__added_by_a_rule = 1 end), path .. " takes a new field")
      for key, value in pairs(t) do
        assert.is_false(pcall(function() t[key] = value end), path .. "." .. tostring(key) .. " can be replaced")
        walk(path .. "." .. tostring(key), value)
        walk(path .. "[key]", key)
      end
    end
    for _, root in ipairs(roots) do walk(root[1], root[2]) end
    assert.is_true(walked > 50, walked .. " tables") -- the libraries, the API modules, one per fault code
  end)

  it("leaves out math.randomseed, whose seed every later call would share", function()
    refused("math.randomseed does not exist", function() return env.math.randomseed end)
    assert.is_function(env.math.random)
  end)

  it("makes one fault per code, which cannot be forged or changed", function()
    local f = env.fault(1017)
    assert.equal(f, env.fault(1017))
    assert.equal(1017, f.code)
    assert.equal("fault 1017 (TASK_DOES_NOT_EXIST)", tostring(f))
    assert.equal(false, getmetatable(f))
    refused("a fault cannot be changed", function() f.code = 1999 end)
    assert.has_error(function() env.setmetatable({ code = 4242 }, getmetatable(f)) end)
    assert.has_error(function() env.fault(4242) end)
    local fault = require "taskgate.fault"
    assert.is_true(fault.is(f))
    assert.is_false(fault.is({ code = 1017 }))
  end)
end)
