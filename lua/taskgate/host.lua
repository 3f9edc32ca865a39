-- taskgate.host: what the C core calls. Loads the rule files into their sandboxes, runs the
-- rule set's self-checks, and answers calls with reply documents.

local clock = require "taskgate.clock"
local db = require "taskgate.db"
local dispatch = require "taskgate.dispatch"
local json = require "taskgate.json"
local sandbox = require "taskgate.sandbox"
local spaces = require "taskgate.spaces"
local sys = require "taskgate.sys"

local M = {}

M.files = {} -- every loaded file: { name, path, sha256 }, in name order

-- Loads one rule file; returns what it returned and its hash, or nil and the problem.
local function load_file(path, name)
  local chunk, sha256 = sys.load_rule(path, sandbox.env(name))
  if not chunk then return nil, sha256 end
  local ok, result = pcall(chunk)
  if not ok then return nil, tostring(result) end
  if type(result) ~= "function" then
    return nil, string.format("%s: must return a function(call), returned %s", path, type(result))
  end
  return result, sha256
end

-- Self-checks see the clock stopped at this moment (Wednesday 2024-01-03 12:00 UTC), so that
-- a rule set checks the same whenever it loads: a policy that depends on the time (a Sunday
-- maintenance window) must not refuse a start or a reload at the wrong hour.
local SELF_CHECK_TIME = 1704283200

-- Runs the rule set's self-checks (rules/_selfcheck.lua) inside a transaction that is rolled
-- back, so they can call any method on the live store without changing it.
local function self_check(check, path)
  local began, why = db.begin_turn()
  if not began then return string.format("%s: cannot open a transaction: %s", path, why) end
  local calls = 0
  local function call(name, params, interface)
    calls = calls + 1
    -- a local client, as an operator testing by hand; interface "bin" calls the bin endpoint
    return dispatch.handle({ name = name, params = params or {}, client = "127.0.0.1", interface = interface })
  end
  local source = clock.source
  clock.source = function() return SELF_CHECK_TIME end
  -- What they count in the shared space (a rate limit's tokens) stays in a scratch one.
  local ok, err = spaces.with_scratch(check, call)
  clock.source = source
  db.abort_turn()
  if not ok then return string.format("self-check failed: %s", tostring(err)) end
  M.self_check_report = { present = true, ok = true, calls = calls, path = path, time = sys.now() }
end

--- Loads every rules/*.lua file: the file name (less .lua) is the method it answers; a file
--- whose name starts with "_" is not a method: `_before.lua` runs ahead of every rule (site
--- policies) and `_selfcheck.lua` holds the self-checks.
--- Returns true, or nil and every problem found, one per line.
function M.load(rules_dir)
  local names, why = sys.list_rules(rules_dir)
  if not names then return nil, why end
  local handlers, files, problems = {}, {}, {}
  local function load_all(dir, prefix, list)
    for _, file in ipairs(list) do
      local name = prefix .. file:sub(1, -5)
      local path = dir .. "/" .. file
      local handler, sha256 = load_file(path, name)
      if handler then
        handlers[name] = { handler = handler, path = path }
        files[#files + 1] = { name = name, path = path, sha256 = sha256 }
      else
        problems[#problems + 1] = sha256
      end
    end
  end
  load_all(rules_dir, "", names)
  -- rules/bin/ holds the bin endpoint's rules (taskgate.interfaces); a rule set may have none.
  load_all(rules_dir .. "/bin", "bin/", sys.list_rules(rules_dir .. "/bin") or {})
  if #problems > 0 then return nil, table.concat(problems, "\n") end
  dispatch.clear()
  for name, rule in pairs(handlers) do
    if not name:match("^_") and not name:match("^bin/_") then dispatch.register(name, rule.handler, rule.path) end
  end
  if handlers._before then dispatch.set_before(handlers._before.handler, handlers._before.path) end
  if handlers._selfcheck then
    local failed = self_check(handlers._selfcheck.handler, handlers._selfcheck.path)
    if failed then return nil, failed end
  end
  M.files = files
  sys.set_fault_names(require "taskgate.faults") -- names in the calls' log lines and metrics
  return true
end

--- A console view of the store as JSON text (taskgate.console): "ports", "queue", "search",
--- "audit" or "self_check"; query is the request's query string.
function M.console(view, query)
  return require("taskgate.console").view(view, query)
end

--- The loaded files as JSON: [{"name":..,"path":..,"sha256":..}, ...].
function M.describe()
  return json.encode(M.files)
end

-- The reply's bytes (encoded by the dispatcher, inside the call's transaction), or nil, the
-- outbound request the call waits on and its token.
local function answer(reply, bytes_or_request, token)
  if reply then return bytes_or_request end
  return nil, bytes_or_request, token
end

--- Answers a decoded call (call.form "json" for a JSON methodcall, answered in JSON): the reply
--- document, or nil, request {method, url, body, content_type} and a token when the call waits
--- on the network.
function M.handle(call)
  return answer(dispatch.start(call))
end

--- Resumes the call waiting under token with {status, body} or {error = reason}.
function M.resume(token, result)
  return answer(dispatch.resume(token, result))
end

--- The reply the C core sends when Lua itself failed (time or memory limit).
function M.internal_error_reply()
  return dispatch.internal_error("xml")
end

--- The same, to a JSON methodcall.
function M.internal_error_reply_json()
  return dispatch.internal_error("json")
end

return M
