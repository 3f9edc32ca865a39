-- taskgate.upstream: bridge mode. With --upstream URL the rules forward calls to a real task
-- interface (a controller, or another taskgate) and pass its reply back unchanged.

local audit = require "taskgate.audit"
local fault = require "taskgate.fault"
local log = require "taskgate.log"
local outbound = require "taskgate.outbound"
local sys = require "taskgate.sys"
local xml = require "taskgate.xml"

local M = {}

-- An upstream's reply, passed back to the client byte for byte. Read-only, and its metatable
-- hidden: a rule can neither change the bytes it passes back nor make a reply of its own.
local contents_of = setmetatable({}, { __mode = "k" }) -- reply -> { raw, params, fault }
local Reply = {
  __index = function(reply, key) return contents_of[reply][key] end,
  __newindex = function() error("an upstream reply cannot be changed", 2) end,
  __pairs = function(reply)
    local contents = contents_of[reply]
    return function(_, key) return next(contents, key) end, reply, nil
  end,
  __metatable = false,
}

function M.is_reply(value)
  return contents_of[value] ~= nil
end

--- True when the gateway runs with --upstream (one or more upstreams).
function M.configured()
  return sys.upstream() ~= nil
end

--- Calls `method` with `params` (a table shaped like call.params) on the upstream's `interface`
--- ("task", the default, or "bin"). Returns the reply — reply.params or reply.fault (with .code)
--- as decoded, the bytes kept for passing back — or nil, the reason when the upstream is
--- unreachable, too slow or answers garbage, and whether the call may have reached it (then
--- whether it took effect is unknown: a call is never sent twice).
function M.call(method, params, interface)
  if not sys.upstream() then error("taskgate runs without --upstream", 2) end
  local body = xml.encode({ name = method, params = params or {} }, "methodcall")
  -- The C core picks the upstream (the first one up) and the endpoint's URL there: the task
  -- interface --upstream names, or the bin interface beside it.
  local request = { method = "POST", upstream = interface == "bin" and "bin" or "task", body = body,
    content_type = "application/xml" }
  local result, why, sent = outbound.send(request)
  if not result then return nil, why, sent end
  if result.status ~= 200 then return nil, "upstream answered HTTP " .. tostring(result.status), true end
  -- The C core decodes an upstream's reply before resuming the rule (outside its time limit).
  local root, value = result.root, result.value
  if root == nil then root, value = xml.decode_document(result.body) end
  if root ~= "response" or type(value) ~= "table" then
    return nil, "upstream answered something that is not a reply", true
  end
  local code = type(value.fault) == "table" and math.tointeger(tonumber(value.fault.code)) or nil
  if value.fault and not code then return nil, "upstream answered a fault without a code", true end
  local reply = setmetatable({}, Reply)
  contents_of[reply] = { raw = result.body, params = value.params, fault = code and { code = code } or nil }
  return reply
end

--- Forwards the call as received and returns the upstream's reply for the rule to return. An
--- upstream that cannot be reached, or whose answer does not come or is not a reply, gives fault
--- 1922; when the call may have reached it, the log and the audit say its outcome is unknown
--- (a query's too: the client is told so). With `audit_fields`, the audit trail records what was
--- forwarded and what came back, whatever the outcome.
function M.forward(call, audit_fields)
  local reply, why, sent = M.call(call.name, call.params, call.interface)
  local failure = sent and "upstream outcome unknown" or "upstream unavailable"
  local outcome = reply and (reply.fault and ("upstream fault " .. reply.fault.code) or "upstream ok")
    or (failure .. ": " .. why)
  if not reply and why ~= "not sent: no network here (self-checks, specs)" then
    log.warn(failure, { method = call.name, reason = why })
  end
  if audit_fields then
    audit.record(call, { forwarded = audit_fields, upstream = outcome }, { outcome = outcome, always = true })
  elseif not reply and sent then
    audit.record(call, { upstream = outcome }, { outcome = outcome, always = true })
  end
  if not reply then return fault.new(1922) end
  return reply
end

return M
