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

-- No metatable of a rule's holds __gc or __mode, ever (taskgate.metatables): a finalizer runs
-- outside any limit, and chains of weak tables make the collector's unstoppable atomic phase
-- quadratic in whatever call allocates next.
describe("a rule's metatables", function()
  local site, env
  setup(function()
    site = runtime.new()
    env = require("taskgate.sandbox").env("spec")
  end)
  teardown(function() runtime.close(site) end)

  -- Runs `source` as a rule file's code would run (in env), returning what it returns.
  local function run(source)
    return assert(load(source, "=rule", "t", env))()
  end

  local function weak(t) return debug.getmetatable(t) and rawget(debug.getmetatable(t), "__mode") ~= nil end

  it("refuses __mode and __gc in setmetatable, naming the rule's line", function()
    refused("rule:1: rules may not set __mode", function() run("setmetatable({}, { __mode = 'k' })") end)
    refused("rule:1: rules may not set __mode", function() run("setmetatable({}, { __mode = 'v' })") end)
    refused("rule:1: rules may not set __gc", function() run("setmetatable({}, { __gc = function() end })") end)
  end)

  it("refuses __mode added to a metatable after setmetatable, however it is written", function()
    refused("rule:3: rules may not set __mode", function() run("local mt = {}\nlocal t = setmetatable({}, mt)\nmt.__mode = 'k'") end)
    refused("rule:3: rules may not set __mode", function()
      run("local mt = {}\nlocal t = setmetatable({}, mt)\nmt['__' .. 'mode'] = 'k'")
    end)
    -- through a __newindex table that is the metatable itself
    refused("rules may not set __mode", function()
      run("local mt = {}\nmt.__newindex = mt\nlocal t = setmetatable({}, mt)\nt.__mode = 'k'")
    end)
    -- after a nil was set, and after the metatable was taken off and given again
    refused("rules may not set __mode", function()
      run("local mt = { __mode = nil }\nlocal t = setmetatable({}, mt)\nmt.x = 1 mt.x = nil\nsetmetatable(mt, nil)\nmt.__mode = 'k'")
    end)
    -- a metatable with a __newindex of its own, and one whose own metatable has one
    refused("rules may not set __mode", function()
      run("local mt = setmetatable({}, { __newindex = function(t, k, v) end })\nsetmetatable({}, mt)\n"
        .. "setmetatable(mt, { __newindex = function() end })\nmt.__mode = 'k'\nreturn mt")
    end)
    assert.is_nil(run("local mt = {}\nsetmetatable({}, mt)\npcall(function() mt.__mode = 'k' end)\nreturn rawget(mt, '__mode')"))
  end)

  it("refuses __mode on a metatable reached through getmetatable or __index, the runtime's included", function()
    refused("rules may not set __mode", function()
      run("local t = setmetatable({}, {})\ngetmetatable(t).__mode = 'k'")
    end)
    refused("rules may not set __mode", function()
      run("local Class = {}\nClass.__index = Class\nlocal o = setmetatable({}, Class)\no.__index.__mode = 'k'")
    end)
    for _, made in ipairs({ "reply.list({})", "reply.record({ 'a' }, { a = 1 })", "reply.rows('<a/>', 'xml')" }) do
      assert.equal(false, run("return getmetatable(" .. made .. ")"))
      refused("rules may not use the gateway's objects as metatables", function() run("setmetatable({}, " .. made .. ")") end)
    end
    refused("rules may not use the gateway's objects as metatables", function() run("setmetatable({}, shared.dict('x'))") end)
    refused("rules may not use the gateway's objects as metatables", function() run("setmetatable({}, fault(1017))") end)
  end)

  it("keeps a metatable in use guarded from the API's own setmetatable (reply.list, reply.record)", function()
    for _, reshape in ipairs({ "reply.list(mt)", "reply.record({ 'a' }, mt)" }) do
      refused("cannot change a protected metatable", function()
        run("local mt = {}\nlocal t = setmetatable({}, mt)\n" .. reshape)
      end)
      local mt = run("local mt = {}\nlocal t = setmetatable({}, mt)\npcall(function() return " .. reshape .. " end)\n"
        .. "pcall(function() mt.__mode = 'k' end)\nreturn mt")
      assert.is_nil(rawget(mt, "__mode"))
    end
  end)

  it("keeps what rules do with metatables working: classes, inheritance, getmetatable, protection", function()
    local result = run([[
local Base = {}
Base.__index = Base
function Base.new(x) return setmetatable({ x = x }, Base) end
function Base:get() return self.x end
local Derived = setmetatable({}, { __index = Base })
Derived.__index = Derived
function Derived.new(x) return setmetatable({ x = x * 2 }, Derived) end
function Derived:twice() return self:get() * 2 end
local d = Derived.new(3)
local b = Base.new(5)
function Base:later() return "later " .. self.x end -- added once instances exist
local locked = setmetatable({}, { __metatable = "locked" })
local relocked = pcall(setmetatable, locked, {})
local withnil = setmetatable({}, Base)
setmetatable(Base, nil)
return {
  d = d:twice(), b = b:get(), later = d:later(), same = getmetatable(d) == Derived and getmetatable(b) == Base,
  inherits = getmetatable(Derived).__index == Base, unset = getmetatable(Base) == nil,
  plain = getmetatable({}) == nil, locked = getmetatable(locked), relocked = relocked,
  string = getmetatable(""),
}]])
    assert.same({ d = 12, b = 5, later = "later 6", same = true, inherits = true, unset = true, plain = true,
      locked = "locked", relocked = false, string = false }, result)
  end)

  it("leaves the runtime's own weak tables alone", function()
    local fault = require "taskgate.fault"
    assert.is_true(fault.is(env.fault(1017)))
    assert.is_true(weak(setmetatable({}, { __mode = "k" }))) -- the runtime's setmetatable is Lua's
  end)
end)
