-- taskgate.dispatch: routes a decoded methodcall to the rule named after its method, runs the
-- rule in a coroutine and a store transaction, and turns its outcome into a reply table:
-- {params = ...} after a commit, {fault = {code = ...}} after a rollback, or {raw = bytes} for
-- an upstream's reply passed back unchanged. A rule that waits on the network (taskgate.outbound)
-- suspends; start() and resume() then return the request to make and a token to resume with.

local audit = require "taskgate.audit"
local db = require "taskgate.db"
local debug = require "debug"
local fault = require "taskgate.fault"
local interfaces = require "taskgate.interfaces"
local legacy = require "taskgate.legacy"
local log = require "taskgate.log"
local outbound = require "taskgate.outbound"
local sys = require "taskgate.sys"
local upstream = require "taskgate.upstream"

local M = {}

local rules = {} -- method name in lower case -> { handler = function, file = path }
local before = nil -- rules/_before.lua: runs ahead of every rule and may refuse the call
local waiting = {} -- token -> coroutine of a call waiting on the network
local last_token = 0

--- Makes `handler` answer the method `name` (matched case-insensitively); a rule of the bin
--- endpoint is registered as "bin/<method>" (see taskgate.interfaces).
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

local function fault_reply(code)
  return { fault = { code = code } }
end

M.fault_reply = fault_reply

-- Runs the policy hook (if any), then the rule.
local function run_rule(rule, call)
  if before then
    local verdict = before.handler(call)
    if fault.is(verdict) then return verdict end
  end
  return rule.handler(call)
end

-- What kind of failure an error is, for the metrics: the time limit, the memory cap, or a bug.
local function failure_kind(err)
  local text = tostring(err)
  if text:find("time limit", 1, true) then return "timeout" end
  if text:find("not enough memory", 1, true) or text:find("memory limit", 1, true) then return "memory" end
  return "error"
end

local function traceback(err)
  if fault.is(err) then return err end
  -- The first line carries the rule's file:line; the rest shows how it got there.
  return debug.traceback(tostring(err), 2)
end

-- The reply a rule's result asks for, and whether its changes are to be kept.
local function outcome_of(result)
  if getmetatable(result) ~= nil then -- a plain table, the common case, is neither
    if fault.is(result) then return fault_reply(result.code), false end
    if upstream.is_reply(result) then return { raw = result.raw, code = result.fault and result.fault.code }, result.fault == nil end
  end
  return { params = result or {} }, true
end

-- Runs the rule inside a transaction; returns the reply table. Runs inside a coroutine.
local function run(rule, call)
  local began, why = db.begin()
  if not began then
    log.error("store unavailable", { method = call.name, reason = why })
    return fault_reply(1999)
  end
  outbound.began()
  local ok, result = xpcall(run_rule, traceback, rule, call)
  if not ok and not fault.is(result) then
    db.rollback()
    audit.after_rollback(call)
    log.error("rule failed", { method = call.name, rule = rule.file, error = result })
    sys.note(nil, nil, failure_kind(result))
    return fault_reply(1999)
  end
  local reply, keep = outcome_of(result)
  if keep then
    local committed, reason = db.commit()
    if committed then
      audit.committed(call)
      return reply
    end
    log.error("commit failed", { method = call.name, reason = reason })
    reply = fault_reply(1999)
  end
  db.rollback()
  audit.after_rollback(call)
  return reply
end

-- Tells the host how a call ended (for its log line and metrics) and returns the reply.
local function ended(reply)
  local code = reply.fault and reply.fault.code or reply.code
  sys.note(nil, code and tostring(code) or "ok")
  return reply
end

-- Calls run in coroutines that serve one call after another: making a coroutine per call cost
-- more than a simple rule does. A coroutine that finished a call yields FINISHED and its reply
-- and waits in `idle` for the next call; one that died (a limit struck) is simply dropped.
local FINISHED = {}
local idle, IDLE_KEPT = {}, 16

local function serve(rule, call)
  while true do
    rule, call = coroutine.yield(FINISHED, run(rule, call))
  end
end

local function call_coroutine()
  local n = #idle
  if n == 0 then return coroutine.create(serve) end
  local co = idle[n]
  idle[n] = nil
  return co
end

-- Resumes a call's coroutine; returns its reply, or nil, the request it waits on and a token.
local function step(co, ...)
  local ok, first, request = coroutine.resume(co, ...)
  if not ok then
    log.error("rule failed", { error = tostring(first) })
    sys.note(nil, nil, failure_kind(first))
    return ended(fault_reply(1999))
  end
  if first == FINISHED then
    if #idle < IDLE_KEPT then idle[#idle + 1] = co end
    return ended(request)
  end
  if first ~= outbound.WAIT then
    coroutine.close(co)
    log.error("rule failed", { error = "a rule yielded outside an outbound call" })
    sys.note(nil, nil, "error")
    return ended(fault_reply(1999))
  end
  last_token = last_token + 1
  waiting[last_token] = co
  return nil, request, last_token
end

-- Method names as sent -> as rules are named (trimmed, lower case). Clients send the same few
-- names over and over; the first NAMES_KEPT distinct ones of at most NAME_KEPT_BYTES are
-- remembered (a client's long names must not fill the Lua state's memory).
local method_names, names_kept, NAMES_KEPT, NAME_KEPT_BYTES = {}, 0, 256, 64

local function method_name(sent)
  local name = method_names[sent]
  if name then return name end
  name = sys.trim(sent):lower()
  if names_kept < NAMES_KEPT and #sent <= NAME_KEPT_BYTES then
    method_names[sent], names_kept = name, names_kept + 1
  end
  return name
end

-- Checks the envelope; returns the call a rule sees ({name, params, client, and legacy = true
-- for a v1 request}), or nil and the fault reply.
local function prepare(call)
  if call.malformed then
    log.debug("malformed request", { reason = call.malformed, client = call.client })
    return nil, fault_reply(1900)
  end
  local name = call.name
  name = type(name) == "string" and method_name(name) or ""
  if name == "" then return nil, fault_reply(1900) end
  local params = call.params
  if params == nil or params == "" then params = {} end
  if type(params) ~= "table" then return nil, fault_reply(1900) end
  -- The envelope becomes what the rule sees, in place: a table less on every call.
  call.name, call.params = name, params
  if not call.interface then call.interface = "task" end
  if call.legacy then legacy.normalise(call) end
  return call
end

--- Starts a call {name=, params=, client=, malformed=, legacy=}: returns its reply table, or
--- nil, the outbound request it waits on and the token to resume it with.
function M.start(call)
  local sent = call.name
  local prepared, refusal = prepare(call)
  if not prepared then
    sys.note("-")
    return ended(refusal)
  end
  -- The common case, a task-interface rule, is found without a call.
  local rule = prepared.interface == "task" and rules[prepared.name] or interfaces.find(rules, prepared.name, prepared.interface)
  if not rule then
    sys.note("unknown", nil, nil, sent) -- the label stays "unknown"; the log line names what was sent
    return ended(fault_reply(1901))
  end
  sys.note(prepared.name)
  return step(call_coroutine(), rule, prepared)
end

--- Resumes the call waiting under `token` with the outbound result ({status, body} or
--- {error = reason}); returns like start().
function M.resume(token, result)
  local co = waiting[token]
  waiting[token] = nil
  if not co then return ended(fault_reply(1999)) end
  return step(co, result)
end

M.NO_NETWORK = "not sent: no network here (self-checks, specs)"

--- Answers a call to the end. Outbound requests go to `send(request)` (which returns a result
--- like resume() takes); without it they fail as if the network were down.
function M.handle(call, send)
  local reply, request, token = M.start(call)
  while not reply do
    local result = send and send(request) or { error = M.NO_NETWORK }
    reply, request, token = M.resume(token, result)
  end
  return reply
end

return M
