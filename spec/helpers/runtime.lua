-- The project's rules and runtime on a temporary store (see lua/taskgate/testing.lua).
local M = {}

local root = os.getenv("TASKGATE_ROOT") or "."
local build = os.getenv("TASKGATE_BUILD") or (root .. "/build")
package.path = root .. "/lua/?.lua;" .. package.path
package.cpath = build .. "/?.so;" .. package.cpath

M.native = require "taskgate_native"
local testing = require "taskgate.testing"

--- Opens the rules (default: the repository's rules/) on a fresh store; calls come from "spec".
function M.new(rules_dir)
  local site = testing.open(rules_dir or (root .. "/rules"))
  local call = site.call
  site.call = function(method, params, client) return call(method, params, client or "spec") end
  return site
end

function M.close(site)
  site.close()
end

return M
