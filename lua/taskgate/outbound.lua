-- taskgate.outbound: the one way a rule waits on the network. send() suspends the rule's
-- coroutine; the C core makes the HTTP request on the event loop (serving other clients
-- meanwhile) and resumes the rule with the result. No store transaction stays open across the
-- wait: the dispatcher ends the step's transaction when the rule suspends and opens a new one
-- when it resumes (taskgate.dispatch), so a rule must make its store changes after its outbound
-- calls, never before.

local db = require "taskgate.db"

local M = {}

-- What a call's coroutine yields to the dispatcher to wait: only send() yields it, and only from a
-- call's own coroutine, so no rule holds it (to yield it after store changes, say).
M.WAIT = setmetatable({}, { __tostring = function() return "taskgate.outbound.WAIT" end, __metatable = false })

--- The coroutines calls run in, as keys (taskgate.dispatch makes them): the only ones send()
--- suspends. In a coroutine of a rule's own, the yield would hand the rule WAIT and the request,
--- and the rule could then yield requests of its own making to the gateway.
M.threads = setmetatable({}, { __mode = "k" })

local baseline -- store changes counted when the current step began

--- Called by the dispatcher whenever a step of a call begins.
function M.began()
  baseline = db.changes()
end

--- Whether the store is as it was when the current step began (a wait would roll it back).
function M.unchanged()
  return db.changes() == baseline
end

--- Sends request {method, url, body, content_type} and returns {status = ..., body = ...},
--- or nil, the reason ("connect timeout", "connection refused", "reply timeout", ...) and
--- whether the request may have reached the server (its outcome is then unknown: it was not
--- sent again).
function M.send(request)
  if not M.threads[coroutine.running()] then
    return nil, "outbound calls are only possible from a rule handling a call (not in a coroutine of its own)"
  end
  if not M.unchanged() then
    error("store changes must come after outbound calls (the transaction cannot stay open across the wait)", 2)
  end
  local result = coroutine.yield(M.WAIT, request)
  if type(result) ~= "table" then return nil, "no network here" end
  if result.error then return nil, result.error, result.sent == true end
  return result
end

return M
