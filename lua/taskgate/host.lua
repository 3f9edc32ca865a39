-- taskgate.host: what the C core calls. Loads the rule files into their sandboxes and answers
-- calls with reply documents.

local dispatch = require "taskgate.dispatch"
local sandbox = require "taskgate.sandbox"
local sys = require "taskgate.sys"
local xml = require "taskgate.xml"

local M = {}

M.files = {} -- the loaded rule files, by method name

-- Loads one rule file; returns its handler or nil and the problem (with file:line).
local function load_rule(path, name)
  local chunk, why = sys.load_rule(path, sandbox.env(name))
  if not chunk then return nil, why end
  local ok, handler = pcall(chunk)
  if not ok then return nil, tostring(handler) end
  if type(handler) ~= "function" then
    return nil, string.format("%s: must return a function(call), returned %s", path, type(handler))
  end
  return handler
end

--- Loads every rules/*.lua file; the file name (less .lua) is the method it answers.
--- Returns true, or nil and every problem found, one per line.
function M.load(rules_dir)
  local names, why = sys.list_rules(rules_dir)
  if not names then return nil, why end
  local handlers, problems = {}, {}
  for _, file in ipairs(names) do
    local name = file:sub(1, -5)
    local path = rules_dir .. "/" .. file
    local handler, problem = load_rule(path, name)
    if handler then
      handlers[name] = { handler = handler, path = path }
    else
      problems[#problems + 1] = problem
    end
  end
  if #problems > 0 then return nil, table.concat(problems, "\n") end
  dispatch.clear()
  for name, rule in pairs(handlers) do dispatch.register(name, rule.handler, rule.path) end
  M.files = handlers
  return true
end

--- Answers a decoded call with the reply document.
function M.handle(call)
  return xml.encode(dispatch.handle(call))
end

--- The reply the C core sends when Lua itself failed (time or memory limit).
function M.internal_error_reply()
  return xml.encode(dispatch.fault_reply(1999))
end

return M
