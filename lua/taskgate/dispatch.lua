-- taskgate.dispatch: routes a decoded methodcall to the rule named after its method and runs it
-- in a coroutine, one step at a time. Every step runs inside the call's transaction, whose one
-- owner is src/txn.c (reached through taskgate.db):
--
--   begin call -> the rule -> its reply table -> the reply's bytes -> commit call
--                                                                  or abort call
--
-- The reply is encoded before the commit, so whatever fails after the rule returned (a reply
-- that does not encode, a commit that fails) still undoes everything the call changed: a fault
-- always means nothing changed. A rule that waits on the network (taskgate.outbound) ends its
-- step there, having changed nothing; the step after the wait opens a new transaction.
--
-- Before the rule, the site's policies (taskgate.policies) run in the same coroutine and
-- transaction: the first fault one returns or raises is the reply. Policies and the rule read
-- the call through one read-only view (taskgate.view): none can change what the next one sees,
-- and the audit trail, the journal and the log read the gateway's own call. A fault may say why
-- (fault(1921, "rate_limit")); a policy's fault without a reason has the policy's name. The
-- reason goes to the call's log line and metrics (sys.note) and to an audit record of the
-- refusal, never to the client.
--
-- Failures are values with a kind (taskgate.failure): "timeout" and "memory" when a limit
-- struck, "unavailable" when the store's database is out of reach (answered 1934), "error" for
-- a bug. A fault is no failure: it is the reply. A failure's log line names the file that was
-- running: the policy's, or the rule's.
--
-- start() and resume() return the reply table and its bytes, or nil, the outbound request the
-- call waits on, and the token to resume it with.

local audit = require "taskgate.audit"
local db = require "taskgate.db"
local debug = require "debug"
local failure = require "taskgate.failure"
local fault = require "taskgate.fault"
local interfaces = require "taskgate.interfaces"
local journal = require "taskgate.journal"
local json_reply = require "taskgate.json_reply"
local legacy = require "taskgate.legacy"
local log = require "taskgate.log"
local outbound = require "taskgate.outbound"
local owed = require "taskgate.owed"
local policies = require "taskgate.policies"
local received = require "taskgate.received"
local sys = require "taskgate.sys"
local upstream = require "taskgate.upstream"
local view = require "taskgate.view"
local xml = require "taskgate.xml"

local M = {}

local rules = {} -- method name in lower case -> { handler = function, file = path }
local waiting = {} -- token -> { co = coroutine, call = call } of a call waiting on the network
local last_token = 0

--- Makes `handler` answer the method `name` (matched case-insensitively); a rule of the bin
--- endpoint is registered as "bin/<method>" (see taskgate.interfaces).
function M.register(name, handler, file)
  rules[name:lower()] = { handler = handler, file = file, name = name:lower() }
end

--- The methods each endpoint answers with a rule of taskgate.interfaces.read_only, for the host:
--- "\t<interface>:<name>\t..." (interface "task" or "bin"), their calls run on a read connection.
function M.read_only_methods()
  local found = {}
  for key in pairs(rules) do
    local name = key:gsub("^bin/", "")
    for _, interface in ipairs({ "task", "bin" }) do
      local rule = interfaces.find(rules, name, interface)
      if rule and interfaces.read_only[rule.name] then found[interface .. ":" .. name] = true end
    end
  end
  local list = {}
  for entry in pairs(found) do list[#list + 1] = entry end
  table.sort(list)
  return "\t" .. table.concat(list, "\t") .. "\t"
end

--- Forgets every rule (before a full load).
function M.clear()
  rules = {}
end

local function fault_reply(code)
  return { fault = { code = code } }
end

M.fault_reply = fault_reply

-- Replies encoded once, in each form (XML, and JSON for a JSON methodcall): the documented
-- empty success, by far the most common, and each fault (1999 among them, which must be at hand
-- when encoding is what failed).
local encoders = { xml = xml.encode, json = json_reply.encode }
local empty_params = { xml = xml.encode({ params = {} }), json = json_reply.encode({ params = {} }) }
local fault_bytes = {}
for form, encoder in pairs(encoders) do
  fault_bytes[form] = setmetatable({}, {
    __index = function(known, code)
      local bytes = encoder(fault_reply(code))
      known[code] = bytes
      return bytes
    end,
  })
end

local function form_of(call)
  return call.form == "json" and "json" or "xml"
end

--- The reply sent when Lua itself failed (a limit struck before the runtime could answer), in
--- form "xml" or "json".
function M.internal_error(form)
  return fault_bytes[form][1999]
end

--- A fault's reply bytes in form "xml" or "json".
function M.fault_bytes(form, code)
  return fault_bytes[form][code]
end

local NO_POLICIES = {}

-- Runs the policies that see the call, then the rule; `stage` says which file runs (for the
-- failure's log line) and which policy (the default reason of its fault), and names the method
-- (the gateway's call.name: read through the view, it would cost a call into C).
local function run_rule(rule, call, stage)
  local list = stage.without_policies and NO_POLICIES or policies.of(stage.method)
  for i = 1, #list do
    local policy = list[i]
    stage.file, stage.policy = policy.file, policy.name
    local verdict = policy.run(call)
    if verdict ~= nil then
      if fault.is(verdict) then return verdict end
      error(string.format("%s: a policy returns nothing or a fault, not a %s", policy.file, type(verdict)), 0)
    end
  end
  stage.file, stage.policy = rule.file, nil
  return rule.handler(call)
end

-- A traceback without the gateway's own frames below the rule (the dispatcher's protected
-- calls) and without error() itself, which say nothing to whoever reads it for the rule.
local function rule_traceback(message)
  local text = debug.traceback(message, 3):gsub("\n\t%[C%]: in function 'error'", "", 1)
  local cut = text:find("\n\t[^\n]*taskgate/dispatch%.lua:")
  if not cut then return text end
  return (text:sub(1, cut - 1):gsub("\nstack traceback:$", ""))
end

-- The message handler of every protected call here: a fault passes (it is the reply), a
-- failure keeps its kind, and anything else raised is an error, with the traceback from where
-- it was raised (its first line carries the rule's file:line).
local function as_failure(err)
  if fault.is(err) or failure.kind(err) then return err end
  local message = tostring(err)
  return failure.new("error", message, rule_traceback(message))
end

-- What a protected call or a coroutine ended with when no message handler saw it: Lua runs none
-- for a memory error.
local function unhandled(err)
  if fault.is(err) or failure.kind(err) then return err end
  return failure.new("memory", tostring(err))
end

-- An upstream's reply passed back -> the document the gateway decoded it into (weak).
local documents = setmetatable({}, { __mode = "k" })

-- What a rule's run asks for: the reply and whether its changes stay, or nil, false and the
-- failure.
local function settle(ok, result)
  if not ok then
    if fault.is(result) then return fault_reply(result.code), false end
    return nil, false, unhandled(result)
  end
  if result == nil then return { params = {} }, true end
  if type(result) ~= "table" then
    return nil, false, failure.new("error", "a rule returns a reply table or a fault, not a " .. type(result))
  end
  if getmetatable(result) ~= nil then -- a plain table is neither
    if fault.is(result) then return fault_reply(result.code), false end
    if upstream.is_reply(result) then
      local passed_back = { raw = result.raw, code = result.fault and result.fault.code }
      documents[passed_back] = result.document -- a JSON client's reply is written from it
      return passed_back, result.fault == nil
    end
  end
  return { params = result }, true
end

-- The reply's bytes in the call's form, or nil and the failure that kept it from being encoded.
-- Encoding is the gateway's work, bounded by the reply's size: it does not count against the
-- rule's time limit (sys.gateway_work gives it a stop of its own), so a legal big reply does not
-- fail with the machine's load.
local function encode(reply, form)
  if reply.fault then return fault_bytes[form][reply.fault.code] end
  if reply.raw and form == "xml" then return reply.raw end
  local document = form == "json" and documents[reply] or nil
  local ok, bytes = xpcall(sys.gateway_work, as_failure, encoders[form], reply, document)
  if ok then return bytes end
  return nil, unhandled(bytes)
end

-- Tells the host how the call ended (for its log line and metrics; reason: who refused it);
-- returns the reply and its bytes.
local function ended(reply, bytes, kind, reason)
  local code = reply.fault and reply.fault.code or reply.code
  sys.note(nil, code and tostring(code) or "ok", kind, nil, reason)
  return reply, bytes
end

local owing = owed.owing

local function write_trace(call, code, kind, reason, journaled, mark)
  if journaled then journal.write(call, code and tostring(code) or "ok", reason or kind) end
  if mark then audit.unchanged(call, code or 1999, mark, reason or kind) end
end

-- What a call that ended leaves besides its changes, in a call transaction of its own after the
-- call's: its journal entry and, when it changed nothing and no record says so yet (`audited`),
-- an audit record marked "refused" (a fault with a reason) or "failed" (kind: a failure's kind,
-- answered 1999: both say so, not "ok").
-- A plain protocol fault (1017) is in the journal only: a client retrying a wrong id by the
-- thousand must not crowd the changes out of the trail. The call is
-- answered already: when the trace cannot be written (the store's time for the call is used up,
-- the disk is full) it is left out and logged, and the reply stands. A call on a read
-- connection owes them to its worker (taskgate.owed).
local function leave_trace(call, reply, kind, reason, audited)
  local code = reply and (reply.fault and reply.fault.code or reply.code) or (kind and 1999)
  local mark = not audited and (kind and "failed" or (code and reason) and "refused") or nil
  local journaled = journal.enabled()
  if not (journaled or mark) then return end
  if owing() then -- on a read connection: its worker writes them in its next store turn
    local record = mark and audit.unchanged_record(call, code or 1999, mark, reason or kind) or nil
    if owed.owe(journaled and call or nil, code and tostring(code) or "ok", reason or kind, record) then return end
  end
  local began, ok, err = pcall(db.begin_call)
  if not (began and ok) then return end -- the store cannot take it (its own failure is logged)
  ok, err = pcall(write_trace, call, code, kind, reason, journaled, mark)
  if ok then
    local committed
    ok, committed = pcall(db.commit_call)
    if ok and committed then return end
  end
  pcall(db.abort_call)
  log.warn("call trace not written", { method = call.name, error = tostring(err or "commit failed") })
end

-- Calls whose request to an --upstream may have reached it (weak: a call goes when it ends).
local reached = setmetatable({}, { __mode = "k" })

-- A call the upstream may have executed failed afterwards here (a rule's error, a limit): it is
-- answered 1922, logged and audited as "upstream outcome unknown", never 1999 ("nothing
-- changed"), which would make a WMS send it again. Its journal entry says the same.
local function note_outcome_unknown(call, message)
  local reason = "the gateway failed after the upstream had the call: " .. tostring(message)
  log.warn("upstream outcome unknown", { method = call.name, reason = reason })
  audit.outcome_unknown(call, reason)
  leave_trace(call, fault_reply(1922), nil, "upstream outcome unknown", true)
end

local function outcome_unknown(call, why)
  note_outcome_unknown(call, why.message or why.traceback)
  return ended(fault_reply(1922), fault_bytes[form_of(call)][1922], why.kind, "upstream outcome unknown")
end

local function failed(call, why, stage)
  log.error("rule failed", { method = call.name, file = stage and stage.file, error = why.traceback or why.message })
  local code = why.kind == "unavailable" and 1934 or 1999
  return ended(fault_reply(code), fault_bytes[form_of(call)][code], why.kind)
end

-- Who refused the call, when its rule or a policy answered a fault: the fault's reason, or the
-- name of the policy that raised it.
local function refusal_reason(ok, result, stage)
  if fault.is(result) then return result.reason or stage.policy end
end

-- Calls run in coroutines that serve one call after another: making a coroutine per call cost
-- more than a simple rule does. A coroutine that finished a call yields FINISHED and how its
-- rule ended, and waits in `idle` for the next call; one that died (a limit struck) is dropped.
local FINISHED = {}
local idle, IDLE_KEPT = {}, 16
local runtime_threads = outbound.threads -- every call coroutine: not a rule's

--- The coroutines calls run in, as keys (the sandbox keeps rules from resuming or closing them).
M.threads = runtime_threads
local WAIT = outbound.WAIT
local begin_call, commit_call, abort_call = db.begin_call, db.commit_call, db.abort_call

local stages = setmetatable({}, { __mode = "k" }) -- coroutine -> what it runs now (run_rule)

--- What start() returns in place of the outbound request when the call is to run again.
M.AGAIN = "again"
-- Whether the next step may end in M.AGAIN (allow_again); the step takes it and clears it.
local again_allowed = false

--- Lets the first step of the call start() runs next end in M.AGAIN (when `ok`): should it
--- meet a conflict of the moment (db.conflicted) it changed nothing, and the caller (the host:
--- src/handler.c) runs the call again from its start. Steps after an outbound wait never do.
function M.allow_again(ok)
  again_allowed = ok == true
end

local function serve(rule, call, stage)
  while true do
    rule, call, stage = coroutine.yield(FINISHED, xpcall(run_rule, as_failure, rule, call, stage))
  end
end

local function call_coroutine()
  local n = #idle
  if n == 0 then
    local co = coroutine.create(serve)
    runtime_threads[co] = true
    stages[co] = {}
    return co
  end
  local co = idle[n]
  idle[n] = nil
  return co
end

-- Runs one step of call's coroutine (resumed with ...) inside the call's transaction, and ends
-- the transaction: committed when the rule's reply says so and encodes, aborted otherwise.
-- Returns like start().
local function step(co, call, ...)
  local may_again = again_allowed
  again_allowed = false
  local began, reason, unavailable = begin_call()
  if not began then
    coroutine.close(co)
    local why = failure.new(unavailable and "unavailable" or "error", "store unavailable: " .. tostring(reason))
    if reached[call] then return outcome_unknown(call, why) end
    return failed(call, why)
  end
  outbound.began()
  -- The runtime's functions that take the call (audit.record) accept only this call's view.
  local outer = view.running
  view.running = call
  local resumed, first, ok, result = coroutine.resume(co, ...)
  view.running = outer
  local stage = stages[co]
  local reply, keep, why, reason
  if resumed and first == FINISHED then
    if #idle < IDLE_KEPT then idle[#idle + 1] = co end
    if ok and getmetatable(result) == nil and type(result) == "table" then -- the common reply
      reply, keep = { params = result }, true
    else
      reply, keep, why = settle(ok, result)
      reason = refusal_reason(ok, result, stage)
    end
  elseif not resumed then -- it died outside the rule's own protection: a limit struck
    why = unhandled(first)
  elseif first == WAIT and outbound.unchanged() then
    abort_call() -- the step changed nothing (outbound.send saw to that)
    last_token = last_token + 1
    waiting[last_token] = { co = co, call = call, upstream = type(ok) == "table" and ok.upstream ~= nil }
    return nil, ok, last_token
  else
    -- (a wait after store changes would roll them back under a reply saying ok: a fault instead)
    coroutine.close(co)
    why = failure.new("error", first == WAIT and "store changes must come after outbound calls"
      or "a rule yielded outside an outbound call")
  end
  local bytes
  if reply then
    local form = call.form == "json" and "json" or "xml"
    local params = reply.params
    if params and next(params) == nil and getmetatable(params) == nil then -- {}: no encoder needed
      bytes = empty_params[form]
    else
      bytes, why = encode(reply, form)
      if not bytes then reply, keep = nil, false end
    end
  end
  if keep then
    -- A change's journal entry rides in the change's own call transaction: they commit together,
    -- without a second savepoint per call. When it cannot be written there, the call still
    -- commits (a failed statement that spoilt the transaction fails the commit, and the call)
    -- and the entry is tried again on its own afterwards, as any other call's trace.
    local journaled = journal.enabled() and not owing() and pcall(journal.write, call, "ok")
    local committed, problem, unavailable = commit_call()
    if committed then
      audit.committed(call)
      if not journaled then leave_trace(call, reply, nil, nil, true) end
      return ended(reply, bytes)
    end
    reply, why = nil, failure.new(unavailable and "unavailable" or "error", "commit failed: " .. tostring(problem))
  end
  abort_call() -- after a failed commit the owner has already aborted: nothing then
  -- A statement of the call was a deadlock's victim or a serialisation failure (PostgreSQL):
  -- nothing of it is stored and nothing was sent; the host runs it again in its next turn,
  -- once the locks this turn holds are gone. It leaves no trace now: the run that ends it will.
  if may_again and not reply and not reached[call] and db.conflicted() then return nil, M.AGAIN end
  local audited = audit.after_abort(call)
  if not reply and reached[call] then return outcome_unknown(call, why) end
  -- (a store out of reach takes no trace either: nothing is written until it is back)
  if not (why and why.kind == "unavailable") then
    leave_trace(call, reply, not reply and why and why.kind or nil, reason, audited)
  end
  if not reply then return failed(call, why, stage) end
  return ended(reply, bytes, nil, reason)
end

-- Method names as sent -> as rules are named (trimmed, lower case). Clients send the same few
-- names over and over; the first NAMES_KEPT distinct ones of at most NAME_KEPT_BYTES are
-- remembered (a client's long names must not fill the Lua state's memory).
local method_names, names_kept, NAMES_KEPT, NAME_KEPT_BYTES = {}, 0, 256, 64

-- What a name longer than any rule file's (255 bytes) becomes: no rule has it.
local NO_SUCH_NAME = "\0"

local function method_name(sent)
  local name = method_names[sent]
  if name then return name end
  name = sys.trim(sent)
  if #name > 255 then return NO_SUCH_NAME end
  name = name:lower()
  if names_kept < NAMES_KEPT and #sent <= NAME_KEPT_BYTES then
    method_names[sent], names_kept = name, names_kept + 1
  end
  return name
end

-- Checks the envelope; returns the call a rule sees ({name, params, client, and legacy = true
-- for a v1 request}), or nil and the fault reply.
local function prepare(call)
  local bytes, content_type = call.received, call.received_type -- bridge mode: an XML body as received
  if bytes then call.received, call.received_type = nil, nil end
  local sent, bridging = call.name, bytes or (call.form == "json" and sys.upstream())
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
  local normalised = call.legacy and legacy.normalise(call)
  if bridging then
    -- A v1 call that normalising changed is no longer the bytes it came as.
    received.keep(call, sys.trim(sent), not normalised and bytes or nil, content_type)
  end
  return call
end

--- Starts a call {name=, params=, client=, malformed=, legacy=, interface=, form=}: returns its
--- reply table and bytes, or nil, the outbound request it waits on and the token to resume it
--- with. With `without_policies` only the rule runs (self-checks check the protocol).
function M.start(call, without_policies)
  local sent = call.name
  local prepared, refusal = prepare(call)
  if not prepared then
    sys.note("-")
    return ended(refusal, fault_bytes[form_of(call)][refusal.fault.code])
  end
  -- The common case, a task-interface rule, is found without a call.
  local rule = prepared.interface == "task" and rules[prepared.name]
    or interfaces.find(rules, prepared.name, prepared.interface)
  if not rule then
    sys.note("unknown", nil, nil, sent) -- the label stays "unknown"; the log line names what was sent
    local reply = fault_reply(1901)
    leave_trace(prepared, reply)
    return ended(reply, fault_bytes[form_of(call)][1901])
  end
  sys.note(prepared.name)
  local co = call_coroutine()
  local stage = stages[co]
  stage.without_policies, stage.method = without_policies, prepared.name
  return step(co, prepared, rule, view.of(prepared), stage)
end

--- Resumes the call waiting under `token` with the outbound result ({status, body} or
--- {error = reason}); returns like start().
local resuming = {} -- token -> the call its step runs for, until the step ends

function M.resume(token, result)
  local entry = waiting[token]
  waiting[token] = nil
  if not entry then return ended(fault_reply(1999), fault_bytes.xml[1999], "error") end
  if entry.upstream and type(result) == "table" and (not result.error or result.sent) then
    reached[entry.call] = true
  end
  resuming[token] = entry.call -- left behind only when a limit stops the step (outcome_unknown)
  local reply, bytes, next_token = step(entry.co, entry.call, result)
  resuming[token] = nil
  return reply, bytes, next_token
end

--- After the step resumed under `token` failed outside the dispatcher (a limit struck) for a call
--- the upstream may have executed: logs and audits its outcome as unknown.
function M.outcome_unknown(token, message)
  local call = resuming[token]
  resuming[token] = nil
  if call then note_outcome_unknown(call, message) end
end

M.NO_NETWORK = "not sent: no network here (self-checks, specs)"

--- Answers a call to the end and returns its reply table. Outbound requests go to
--- `send(request)` (which returns a result like resume() takes); without it they fail as if
--- the network were down.
function M.handle(call, send, without_policies)
  local reply, request, token = M.start(call, without_policies)
  while not reply do
    local result = send and send(request) or { error = M.NO_NETWORK }
    reply, request, token = M.resume(token, result)
  end
  return reply
end

return M
