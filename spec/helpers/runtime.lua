-- Loads the real Lua runtime (lua/) and rules against a real temporary SQLite store through
-- taskgate_native.so, the gateway's C bindings built as a Lua module.
local M = {}

local root = os.getenv("TASKGATE_ROOT") or "."
local build = os.getenv("TASKGATE_BUILD") or (root .. "/build")
package.path = root .. "/lua/?.lua;" .. package.path
package.cpath = build .. "/?.so;" .. package.cpath

M.native = require "taskgate_native"

local function forget_runtime()
  for name in pairs(package.loaded) do
    if name:match("^taskgate%.") then package.loaded[name] = nil end
  end
end

--- Opens a fresh runtime on a new temporary store. Returns { db, host, dispatch, store, path }.
--- rules_dir defaults to the repository's rules/.
function M.new(rules_dir)
  forget_runtime()
  local dir = io.popen("mktemp -d /tmp/taskgate-rules.XXXXXX"):read("l")
  local path = dir .. "/store.db"
  local db = M.native.open_store(path)
  package.preload["taskgate.db"] = function() return db end
  package.preload["taskgate.sys"] = function() return M.native.sys end
  package.preload["taskgate.xml"] = function() return M.native.xml end
  local host = require "taskgate.host"
  local ok, why = host.load(rules_dir or (root .. "/rules"))
  assert(ok, why)
  return {
    db = db, host = host, path = path, dir = dir,
    dispatch = require "taskgate.dispatch",
    store = require "taskgate.store",
    -- Calls a method with a params table (strings, as decoded from XML); returns the reply table.
    call = function(name, params)
      return require("taskgate.dispatch").handle({ name = name, params = params or {}, client = "spec" })
    end,
  }
end

--- Closes the runtime's store and removes its files.
function M.close(rt)
  rt.db.close()
  os.execute("rm -rf " .. rt.dir)
end

return M
