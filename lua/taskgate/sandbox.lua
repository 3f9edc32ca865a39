-- taskgate.sandbox: the environment a rule file runs in. It holds an allow-list of Lua's safe
-- functions and the rule API, and naming a global that does not exist is an error that names it
-- (a typo fails loudly instead of reading nil).
--
-- The runtime is read-only to rules: every library and API table they reach is a frozen view
-- (nested tables too), require gives the same views and refuses the runtime's own modules, faults
-- cannot be forged, and the gateway's own coroutines cannot be resumed or closed by a rule. So
-- nothing a rule does outlives its call except through the store, and the state a rule file
-- keeps in its own locals (until the next reload).

local dispatch = require "taskgate.dispatch"
local sys = require "taskgate.sys"
local view = require "taskgate.view"

local M = {}

-- Rules can reach a string's metatable through getmetatable(""); hide it so no rule can
-- change string methods for the others.
require("debug").getmetatable("").__metatable = false

-- A frozen view of `value` named `name`: a table becomes an empty proxy that reads from a
-- private copy, whose nested tables are views too (one per table, so shared and cyclic tables
-- stay so); anything else is itself. Reads are plain table lookups (this is on every call's
-- path); only a miss reaches the function that names the missing field. pairs() iterates the
-- copy without handing it out.
local function frozen(name, value, views)
  if type(value) ~= "table" then return value end
  if views[value] then return views[value] end
  local contents = {}
  local view = {}
  views[value] = view
  for key, item in pairs(value) do contents[key] = frozen(name .. "." .. tostring(key), item, views) end
  setmetatable(contents, {
    __index = function(_, key) error(string.format("%s.%s does not exist", name, tostring(key)), 2) end,
  })
  local function iterate(_, key) return next(contents, key) end
  return setmetatable(view, {
    __index = contents,
    __newindex = function(_, key)
      error(string.format("%s is read-only (assigning %s)", name, tostring(key)), 2)
    end,
    __pairs = function() return iterate, view, nil end,
    __metatable = false,
  })
end

local safe_globals = {
  "assert", "error", "ipairs", "next", "pairs", "pcall", "select", "tonumber", "tostring", "type",
  "getmetatable", "rawequal", "rawget", "rawlen", "_VERSION",
}
local safe_libraries = { "string", "table", "math", "utf8", "coroutine" }

-- Library functions left out: randomseed would change state every later call shares; dump
-- gives a function's code, which nothing in a rule can load again.
local left_out = { math = { randomseed = true }, string = { dump = true } }

-- The rule API: what a rule may use besides plain Lua, as globals and through require.
local api_modules = {
  check = "taskgate.check", store = "taskgate.store", audit = "taskgate.audit", log = "taskgate.log",
  clock = "taskgate.clock", reply = "taskgate.reply", ports = "taskgate.ports", params = "taskgate.params",
  bins = "taskgate.bins", upstream = "taskgate.upstream", http = "taskgate.http", outbox = "taskgate.outbox",
  faults = "taskgate.faults",
  shared = "taskgate.shared", ratelimit = "taskgate.ratelimit", net = "taskgate.net",
}
-- Of these modules, which serve the runtime too, rules get only the functions named here: the
-- rest writes what only the gateway may (audit.insert or audit.unchanged would write records of
-- calls that never happened).
local api_only = {
  audit = { "record", "annotate", "recent" },
  upstream = { "configured", "call", "forward" },
}
-- Modules a rule may require besides those.
local also_requirable = { fault = "taskgate.fault", json = "taskgate.json" }

-- setmetatable without finalizers or weak tables. Lua runs a __gc with the instruction hook
-- switched off, so the time limit cannot stop one, and at a moment no call owns: in the collection
-- after a failed call, when a reload closes the old generation, at shutdown, or in the middle of
-- a later, unrelated call, whose transaction it could change. Lua marks an object for
-- finalization only when its metatable already holds __gc as it is set (a raw field), so
-- refusing that here refuses finalizers altogether. A __mode, though, Lua reads at every
-- collection, and weak-keyed tables chained a certain way make the collector's atomic phase (no
-- hook runs in it) quadratic: 24,000 links froze every later call for seconds. So a metatable in
-- use gets a metatable of the runtime's (a guard) that refuses __mode and __gc added later;
-- rules see the metatable it replaced, as it was then (getmetatable below).
local raw_getmetatable, raw_setmetatable = require("debug").getmetatable, require("debug").setmetatable
-- A guard keeps the metatable it stands for under a key no rule can name (NONE: there was none);
-- guards are never handed to rules. (Not in a weak-keyed table of the runtime's: that would be one
-- more ephemeron table rules could chain through.)
local SHOWN, NONE = {}, {}
local function shown_by(guard) return type(guard) == "table" and rawget(guard, SHOWN) or nil end

local function refuse_collector_field(key, level)
  if key == "__gc" then
    error("rules may not set __gc (finalizers would run outside the call's time limit)", level + 1)
  elseif key == "__mode" then
    error("rules may not set __mode (weak tables make the collector's uninterruptible work grow without bound)", level + 1)
  end
end

-- A guard for a metatable whose own metatable was `shown` (nil: none): a copy of shown's fields as
-- they are now, whose __newindex checks new keys first. It is protected (__metatable), so that the
-- runtime's own setmetatable cannot drop it either (reply.list or reply.record given a metatable
-- in use would have put an unguarded one there).
local function guard_for(shown)
  local guard = {}
  if shown ~= nil then for key, value in next, shown do guard[key] = value end end
  if guard.__metatable == nil then guard.__metatable = false end
  local assign = guard.__newindex
  guard.__newindex = function(metatable, key, value)
    refuse_collector_field(key, 2)
    if assign == nil then rawset(metatable, key, value)
    elseif type(assign) == "function" then assign(metatable, key, value)
    else assign[key] = value end
  end
  guard[SHOWN] = shown == nil and NONE or shown
  return guard
end

-- Guards a table a rule uses as a metatable. The runtime's objects (whose metatables rules do not
-- see) are not a rule's to use so.
local function put_in_use(metatable)
  local current = raw_getmetatable(metatable)
  if shown_by(current) then return end
  if current ~= nil and not shown_by(raw_getmetatable(current)) then
    error("rules may not use the gateway's objects as metatables", 3)
  end
  raw_setmetatable(metatable, guard_for(current))
end

local function rules_setmetatable(object, metatable)
  if type(metatable) == "table" then
    refuse_collector_field(rawget(metatable, "__gc") ~= nil and "__gc" or rawget(metatable, "__mode") ~= nil and "__mode", 2)
    put_in_use(metatable)
  end
  local current = type(object) == "table" and raw_getmetatable(object)
  local shown = shown_by(current)
  if shown then -- a metatable in use: it stays guarded
    if shown ~= NONE and rawget(shown, "__metatable") ~= nil then error("cannot change a protected metatable", 2) end
    if metatable ~= nil and type(metatable) ~= "table" then return setmetatable(object, metatable) end -- Lua's error
    return raw_setmetatable(object, guard_for(metatable))
  end
  return setmetatable(object, metatable)
end

-- getmetatable as rules see it: a guard shows the metatable it stands for; the runtime's own
-- metatables read as protected (false), so no rule changes them for every later call.
local function rules_getmetatable(object)
  local shown = shown_by(raw_getmetatable(object))
  if shown == NONE then return nil end
  if shown and rawget(shown, "__metatable") == nil then return shown end
  local metatable = getmetatable(object)
  if shown or type(metatable) ~= "table" then return metatable end
  if shown_by(raw_getmetatable(metatable)) then return metatable end
  return false
end

-- xpcall whose message handler runs once the error has unwound, as plain rule code. Lua runs
-- a handler inside the raise, and for the time limit's error inside the instruction hook, which
-- is then switched off: a handler that looped could not be stopped and froze the gateway.
local function xpcall_after_unwind(f, handler, ...)
  local results = table.pack(pcall(f, ...))
  if results[1] then return table.unpack(results, 1, results.n) end
  local handled, message = pcall(handler, results[2])
  return false, handled and message or message
end

-- The coroutine library, except that the gateway's own coroutines (the ones calls run in) are
-- not a rule's to resume or close: a rule that kept one could run another call's rule, or end
-- a call waiting on the network.
local function rule_coroutines()
  local library = {}
  for key, value in pairs(coroutine) do library[key] = value end
  library.resume = sys.guard(coroutine.resume, dispatch.threads)
  library.close = sys.guard(coroutine.close, dispatch.threads)
  return library
end

local function library_copy(name)
  if name == "coroutine" then return rule_coroutines() end
  local library = {}
  for key, value in pairs(_G[name]) do
    if not (left_out[name] and left_out[name][key]) then library[key] = value end
  end
  return library
end

-- The part of a runtime module rules get: all of it, or what api_only names.
local function api_of(name, module)
  local names = api_only[name]
  if not names then return module end
  local api = {}
  for _, key in ipairs(names) do api[key] = module[key] end
  return api
end

local function build_globals()
  local globals, views = {}, {}
  for _, name in ipairs(safe_globals) do globals[name] = _G[name] end
  globals.setmetatable, globals.getmetatable = rules_setmetatable, rules_getmetatable
  -- The call a rule gets is a read-only view (taskgate.view): these read it as the table it shows.
  globals.next, globals.rawget, globals.rawlen = view.next, view.rawget, view.rawlen
  globals.xpcall = xpcall_after_unwind
  for _, name in ipairs(safe_libraries) do globals[name] = frozen(name, library_copy(name), views) end
  local requirable = {}
  for name, module in pairs(api_modules) do
    globals[name] = frozen(name, api_of(name, require(module)), views)
    requirable[module] = globals[name]
  end
  for name, module in pairs(also_requirable) do requirable[module] = frozen(name, require(module), views) end
  globals.fault = require("taskgate.fault").new
  -- require gives the same frozen views; the runtime's own modules (the dispatcher, the store's
  -- SQL, the host) are not a rule's.
  -- Rules may also require the site's own modules (rules/lib/<name>.lua as "site.<name>", see
  -- taskgate.site).
  local site = require "taskgate.site"
  globals.require = function(module)
    local site_module = type(module) == "string" and module:match("^site%.([%w_]+)$")
    if site_module then return (site.require(site_module)) end -- not a tail call: errors name the caller
    local view = requirable[module]
    if view == nil then error(string.format("rules may not require '%s'", tostring(module)), 2) end
    return view
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
