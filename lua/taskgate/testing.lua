-- taskgate.testing: run a rules directory under busted against a real temporary SQLite store,
-- through the gateway's own C bindings (taskgate_native.so). For the project's specs and for a
-- site's own rule tests; see docs/rules.md.
--
--   local testing = require "taskgate.testing"
--   local site = testing.open("rules")           -- loads every rule, runs _selfcheck.lua
--   local reply = site.call("cancel_task", { task_id = "5" }, "10.0.0.7")
--   assert.same({ fault = { code = 1017 } }, reply)
--   site.close()

local M = {}

local native

-- Whether `path` names a SQLite store file the gateway would open read connections to (not
-- PostgreSQL, which has none, and not a private in-memory database).
local function has_readers(path)
  return path ~= ":memory:" and not path:match("^postgres")
end

local function forget_runtime()
  for name in pairs(package.loaded) do
    if name:match("^taskgate%.") and name ~= "taskgate.testing" then package.loaded[name] = nil end
  end
end

--- Loads rules_dir on a fresh temporary store (options.upstream: the --upstream URL the rules
--- see; options.outbox_targets: the --outbox-target names they may send to; options.clock: a function giving the epoch seconds the rules see from loading on;
--- options.store: the path of a store to use instead, or a postgresql:// URI (docs/ha.md), which
--- close() leaves in place).
--- Returns a site with:
---   call(method, params, client, interface) -> the reply table ({params=..} or {fault={code=..}});
---     interface "bin" calls the bin endpoint (default "task"). A call of a method the rules list
---     in taskgate.interfaces.read_only runs on a read connection, as in the gateway on a SQLite
---     store: a write of its rule is refused (1999), its journal entry and audit records are
---     written after it
---   last -> how the last call ended, as its log line says: {method, outcome, failure, reason}
---     (reason: who refused it, e.g. the policy's name)
---   store, ports, audit -> the runtime modules, bound to the temporary store
---   clock -> the runtime clock; set `site.clock.source = function() return epoch end` to fix time
---   close() -> closes and deletes the store
--- Raises with every problem (file:line) when the rules do not load.
function M.open(rules_dir, options)
  options = options or {}
  native = native or require "taskgate_native"
  forget_runtime()
  local tmp = io.popen("mktemp -d /tmp/taskgate-rules.XXXXXX")
  local dir = tmp:read("l")
  tmp:close()
  local path = options.store or (dir .. "/store.db")
  local db = native.open_store(path)
  -- Calls of read-only methods run on a read connection, as in the gateway: their rules cannot
  -- write, and their traces are owed and written after the call (taskgate.owed). The runtime's
  -- db functions go to whichever connection the running call uses.
  local reader = has_readers(path) and native.open_reader(path) or nil
  local using, owing, owed_rows = db, false, {}
  local db_for_runtime = {}
  for name, value in pairs(db) do
    db_for_runtime[name] = type(value) ~= "function" and value or function(...) return using[name](...) end
  end
  package.preload["taskgate.db"] = function() return db_for_runtime end
  -- --upstream as the rules see it; outbound requests go to site.outbound(request) (if set).
  -- --outbox-target names as the rules see them (options.outbox_targets = {"erp", ...}); what
  -- they queue is in the store's outbox table.
  local outbox_targets = options.outbox_targets and table.concat(options.outbox_targets, ",")
  -- How each call ended, as the gateway's log line would say (site.last): sys.note's fields.
  local last = {}
  local function note(method, outcome, failure, _, reason)
    last.method = method or last.method
    last.outcome, last.failure, last.reason = outcome or last.outcome, failure or last.failure, reason or last.reason
  end
  local function owe_trace(kind, ...)
    if not owing then return false end
    owed_rows[#owed_rows + 1] = table.pack(kind, ...)
    return true
  end
  local sys = setmetatable({ upstream = function() return options.upstream end,
    outbox_targets = function() return outbox_targets end, note = note,
    owing = function() return owing end, owe_trace = owe_trace }, { __index = native.sys })
  package.preload["taskgate.sys"] = function() return sys end
  package.preload["taskgate.xml"] = function() return native.xml end
  package.preload["taskgate.failure"] = function() return native.failure end
  package.preload["taskgate.net"] = function() return native.net end
  local shared_space = native.new_shared_space() -- the site's own, empty: as after a gateway's start
  package.preload["taskgate.shared_space"] = function() return shared_space end
  if options.clock then require("taskgate.clock").source = options.clock end
  local host = require "taskgate.host"
  local ok, why = host.load(rules_dir)
  if not ok then
    if reader then reader.close() end
    db.close()
    os.execute("rm -rf '" .. dir .. "'")
    error(why, 2)
  end
  local dispatch = require "taskgate.dispatch"
  local owed = require "taskgate.owed"

  -- Whether the gateway would run this call on a read connection: its method, as the dispatcher
  -- reads it, among those the loaded rules declare read-only on its endpoint.
  local function read_only(method, interface)
    if not reader or type(method) ~= "string" then return false end
    local name = method:match("^%s*(.-)%s*$"):lower()
    return dispatch.read_only_methods():find("\t" .. (interface or "task") .. ":" .. name .. "\t", 1, true) ~= nil
  end

  -- The rows the call owed, written as the worker writes them: after the call, on the writer.
  local function write_owed()
    local rows, at = owed_rows, 0
    owed_rows = {}
    if #rows == 0 then return end
    owed.write(function()
      at = at + 1
      local row = rows[at]
      if not row then return nil end
      return row[1], table.pack(table.unpack(row, 2, row.n))
    end)
  end

  local function on_reader(call, send)
    assert(reader.begin_read())
    using, owing = reader, true
    local ok, reply = pcall(dispatch.handle, call, send)
    using, owing = db, false
    reader.commit_turn()
    write_owed()
    if not ok then error(reply, 0) end
    return reply
  end

  local site
  site = {
    db = db, dir = dir, host = host, dispatch = dispatch,
    store = require "taskgate.store", ports = require "taskgate.ports", audit = require "taskgate.audit",
    clock = require "taskgate.clock",
    outbound = nil, -- function(request) -> {status=, body=} or {error=}: the network, as a test wants it
    last = last, -- the last call: {method, outcome ("ok" or the fault code), failure, reason}
    call = function(method, params, client, interface)
      for key in pairs(last) do last[key] = nil end
      local call = { name = method, params = params or {}, client = client or "127.0.0.1", interface = interface }
      if read_only(method, interface) then return on_reader(call, site.outbound) end
      return dispatch.handle(call, site.outbound)
    end,
    close = function()
      if reader then reader.close() end
      db.close()
      os.execute("rm -rf '" .. dir .. "'")
    end,
  }
  return site
end

return M
