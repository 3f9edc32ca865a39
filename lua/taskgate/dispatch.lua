-- taskgate.dispatch: routes a decoded methodcall to the rule named after its method, runs the
-- rule in one store transaction, and turns its outcome into a reply table:
-- {params = ...} after a commit, or {fault = {code = ...}} after a rollback.

local debug = require "debug"
local db = require "taskgate.db"
local fault = require "taskgate.fault"
local log = require "taskgate.log"

local M = {}

local rules = {} -- method name in lower case -> { handler = function, file = path }
local before = nil -- rules/_before.lua: runs ahead of every rule and may refuse the call

--- Makes `handler` answer the method `name` (matched case-insensitively).
function M.register(name, handler, file)
  rules[name:lower()] = { handler = handler, file = file }
end

--- Makes `handler` run before every rule, in the call's transaction: when it returns a fault
--- (or raises one) that is the reply and the rule does not run.
function M.set_before(handler, file)
  before = handler and { handler = handler, file = file } or nil
end

--- Forgets every rule (before a full load).
function M.clear()
  rules = {}
  before = nil
end

-- Runs the policy hook (if any), then the rule.
local function run_rule(rule, call)
  if before then
    local verdict = before.handler(call)
    if fault.is(verdict) then return verdict end
  end
  return rule.handler(call)
end

local function fault_reply(code)
  return { fault = { code = code } }
end

M.fault_reply = fault_reply

local function traceback(err)
  if fault.is(err) then return err end
  -- The first line carries the rule's file:line; the rest shows how it got there.
  return debug.traceback(tostring(err), 2)
end

-- Runs the rule inside a transaction; returns the reply table.
local function run(rule, call)
  local began, why = db.begin()
  if not began then
    log.error("store unavailable", { method = call.name, reason = why })
    return fault_reply(1999)
  end
  local ok, result = xpcall(run_rule, traceback, rule, call)
  if ok and not fault.is(result) then
    local committed, reason = db.commit()
    if committed then
      return { params = result or {} }
    end
    log.error("commit failed", { method = call.name, reason = reason })
    db.rollback()
    return fault_reply(1999)
  end
  db.rollback()
  if fault.is(result) then return fault_reply(result.code) end
  log.error("rule failed", { method = call.name, rule = rule.file, error = result })
  return fault_reply(1999)
end

--- Answers one call {name=, params=, client=, malformed=} with a reply table.
function M.handle(call)
  if call.malformed then
    log.debug("malformed request", { reason = call.malformed, client = call.client })
    return fault_reply(1900)
  end
  local name = type(call.name) == "string" and call.name:match("^%s*(.-)%s*$") or ""
  if name == "" then return fault_reply(1900) end
  local rule = rules[name:lower()]
  if not rule then return fault_reply(1901) end
  local params = call.params
  if params == nil or params == "" then params = {} end
  if type(params) ~= "table" then return fault_reply(1900) end
  return run(rule, { name = name:lower(), params = params, client = call.client })
end

return M
