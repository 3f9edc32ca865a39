-- taskgate.sandbox: the environment a rule file runs in. It holds an allow-list of Lua's safe
-- functions and the rule API; it is read-only, and naming a global that does not exist is an
-- error that names it (a typo fails loudly instead of reading nil).

local M = {}

-- Rules can reach a string's metatable through getmetatable(""); hide it so no rule can
-- change string methods for the others.
require("debug").getmetatable("").__metatable = false

-- A read-only view of a copy of `library`. Reads are plain table lookups (this is on every
-- call's path); only a miss reaches the function that names the missing field.
local function readonly(name, library)
  local contents = {}
  for key, value in pairs(library) do contents[key] = value end
  setmetatable(contents, {
    __index = function(_, key) error(string.format("%s.%s does not exist", name, tostring(key)), 2) end,
  })
  return setmetatable({}, {
    __index = contents,
    __newindex = function(_, key)
      error(string.format("%s is read-only (assigning %s)", name, tostring(key)), 2)
    end,
    __pairs = function() return next, contents, nil end,
    __metatable = false,
  })
end

local safe_globals = {
  "assert", "error", "ipairs", "next", "pairs", "pcall", "select", "tonumber", "tostring", "type",
  "xpcall", "getmetatable", "setmetatable", "rawequal", "rawget", "rawlen", "_VERSION",
}
local safe_libraries = { "string", "table", "math", "utf8", "coroutine" }

-- The rule API: what a rule may use besides plain Lua.
local api_modules = {
  check = "taskgate.check", store = "taskgate.store", audit = "taskgate.audit", log = "taskgate.log",
  clock = "taskgate.clock", reply = "taskgate.reply", ports = "taskgate.ports", params = "taskgate.params", bins = "taskgate.bins",
  upstream = "taskgate.upstream", http = "taskgate.http", outbox = "taskgate.outbox",
}

-- setmetatable without finalizers. Lua runs a __gc with the instruction hook switched off, so
-- the time limit cannot stop one, and at a moment no call owns: in the collection after a
-- failed call, when a reload closes the old generation, at shutdown, or in the middle of a
-- later, unrelated call, whose transaction it could change. Lua marks an object for
-- finalization only when its metatable already holds __gc as it is set (a raw field), so
-- refusing that here refuses finalizers altogether.
local function setmetatable_without_gc(object, metatable)
  if type(metatable) == "table" and rawget(metatable, "__gc") ~= nil then
    error("rules may not set __gc (finalizers would run outside the call's time limit)", 2)
  end
  return setmetatable(object, metatable)
end

local function build_globals()
  local globals = {}
  for _, name in ipairs(safe_globals) do globals[name] = _G[name] end
  globals.setmetatable = setmetatable_without_gc
  for _, name in ipairs(safe_libraries) do globals[name] = readonly(name, _G[name]) end
  for name, module in pairs(api_modules) do globals[name] = readonly(name, require(module)) end
  local fault = require "taskgate.fault"
  globals.fault = fault.new
  globals.faults = readonly("faults", require "taskgate.faults")
  -- Rules may only require the runtime's own modules.
  globals.require = function(module)
    if type(module) ~= "string" or not module:match("^taskgate%.[%w_]+$") or module == "taskgate.db"
        or module == "taskgate.sys" or module == "taskgate.host" then
      error(string.format("rules may not require '%s'", tostring(module)), 2)
    end
    return require(module)
  end
  return setmetatable(globals, {
    __index = function(_, key) error(string.format("unknown global '%s'", tostring(key)), 2) end,
  })
end

local globals

--- Returns a fresh read-only environment for the rule file `name`.
function M.env(name)
  globals = globals or build_globals()
  return setmetatable({}, {
    __index = globals, -- a miss there names the unknown global
    __newindex = function(_, key)
      error(string.format("rule %s may not set global '%s'; use local", name, tostring(key)), 2)
    end,
    __metatable = false,
  })
end

return M
