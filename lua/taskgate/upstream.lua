-- taskgate.upstream: bridge mode. With --upstream URL the rules forward calls to a real task
-- interface (a controller, or another taskgate) and pass its reply back unchanged.

local audit = require "taskgate.audit"
local failure = require "taskgate.failure"
local fault = require "taskgate.fault"
local log = require "taskgate.log"
local outbound = require "taskgate.outbound"
local received = require "taskgate.received"
local sys = require "taskgate.sys"
local view = require "taskgate.view"
local xml = require "taskgate.xml"

local M = {}

-- An upstream's reply, passed back to the client byte for byte. Read-only, and its metatable
-- hidden: a rule can neither change the bytes it passes back nor make a reply of its own.
local contents_of = setmetatable({}, { __mode = "k" }) -- reply -> { raw, params, fault, document }

-- The fault of a call the rules changed into one that cannot go upstream as it is (assumed,
-- taskgate.faults): nothing was sent.
local NOT_FORWARDABLE = 1935
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

-- Whether this Lua state runs with --upstream, looked up at its first call: the gateway sets
-- it once, when it makes the state, and every rule asks.
local configured

--- True when the gateway runs with --upstream (one or more upstreams).
function M.configured()
  if configured == nil then configured = sys.upstream() ~= nil end
  return configured
end

-- The largest call sent upstream: what this gateway takes in a request (TG_HTTP_MAX_BODY_BYTES),
-- and so what a taskgate upstream takes. A call the rules changed must not grow past what the
-- client could have sent.
local MAX_CALL_BYTES = 1024 * 1024

-- A call the rules made or changed, as one line of XML (taskgate.xml's encode_call), or nil and
-- why it cannot go as it is. A limit that struck while encoding is raised again: it is no
-- property of the call.
local function encoded_call(method, params)
  local ok, body = pcall(xml.encode_call, method, params, MAX_CALL_BYTES)
  if ok then return body end
  if failure.kind(body) or type(body) ~= "string" or body:find("not enough memory", 1, true) then error(body, 0) end
  return nil, body
end

-- HTTP statuses by which a server refuses to process a request (RFC 9110 15.5.14, 15.5.16; RFC
-- 6585 5): the call was not executed, whatever else the upstream is.
local REFUSED_UNPROCESSED = { [413] = "too large", [415] = "unsupported media type", [431] = "headers too large" }

local function view_of(value)
  return type(value) == "table" and view.of(value) or value
end

--- Calls `method` with `params` (a table shaped like call.params) on the upstream's `interface`
--- ("task", the default, or "bin"). A call's own params under its own method go as the bytes
--- the client sent (taskgate.received); anything else is encoded, compactly, and must encode
--- as it is. Returns the reply — reply.params or reply.fault (with .code) as decoded, read-only,
--- the bytes kept for passing back — or nil, the reason when the upstream is unreachable, too
--- slow or answers garbage, whether the call may have reached it (then whether it took effect
--- is unknown: a call is never sent twice), and true when the call itself cannot be sent (a
--- value XML cannot carry, too large): then nothing was sent.
function M.call(method, params, interface)
  if not sys.upstream() then error("taskgate runs without --upstream", 2) end
  interface = interface == "bin" and "bin" or "task"
  params = params or {}
  local body, content_type = received.bytes_for(method, params, interface)
  if not body then
    local why
    body, why = encoded_call(received.spelling(method, params, interface), received.xml_shaped(params))
    if not body then return nil, "not sent: " .. why, false, true end
    content_type = "application/xml"
  end
  -- The C core picks the upstream (the first one up) and the endpoint's URL there: the task
  -- interface --upstream names, or the bin interface beside it.
  local request = { method = "POST", upstream = interface, body = body, content_type = content_type }
  local result, why, sent = outbound.send(request)
  if not result then return nil, why, sent end
  local refused = REFUSED_UNPROCESSED[result.status]
  if refused then
    return nil, string.format("upstream refused the call unprocessed: HTTP %d (%s)", result.status, refused), false
  end
  if result.status ~= 200 then return nil, "upstream answered HTTP " .. tostring(result.status), true end
  -- The C core decodes an upstream's reply before resuming the rule (outside its time limit).
  local root, value, unread = result.root, result.value, result.unread
  if root == nil then
    root, value = xml.decode_document(result.body)
    if root == nil then unread = value end
  end
  -- Why, for the operator: a document the gateway cannot read (an encoding it does not take, one
  -- of its own limits) is not a controller's broken reply.
  if unread then return nil, "upstream's reply could not be read: " .. tostring(unread), true end
  if root ~= "response" or type(value) ~= "table" then
    return nil, "upstream answered something that is not a reply", true
  end
  local code = type(value.fault) == "table" and math.tointeger(tonumber(value.fault.code)) or nil
  if value.fault and not code then return nil, "upstream answered a fault without a code", true end
  local reply = setmetatable({}, Reply)
  -- Read-only to rules (views): a JSON client's reply is written from the same document.
  contents_of[reply] = { raw = result.body, params = view_of(value.params), fault = code and view.of({ code = code }) or nil,
    document = view.of(value) }
  return reply
end

-- The reason a 1922 carries (to the call's log line, metrics and audit record) when the call was
-- not sent: why, made a name ("TLS: server certificate expired" -> tls_server_certificate_expired;
-- a detail in parentheses left out).
local function reason_name(why)
  local name = why:match("^[^(]*"):lower():gsub("[^%w]+", "_"):gsub("^_+", ""):gsub("_+$", "")
  if #name > fault.REASON_MAX then name = name:sub(1, fault.REASON_MAX):match("^(.*)_") or name:sub(1, fault.REASON_MAX) end
  return fault.valid_reason(name) and name or nil
end

--- Forwards the call as received and returns the upstream's reply for the rule to return. An
--- upstream that cannot be reached, or whose answer does not come or is not a reply, gives fault
--- 1922; when the call may have reached it, the log and the audit say its outcome is unknown
--- (a query's too: the client is told so). With `audit_fields`, the audit trail records what was
--- forwarded and what came back, whatever the outcome.
function M.forward(call, audit_fields)
  if type(call) ~= "table" then error("upstream.forward(call, audit_fields): call is the rule's call or a table", 2) end
  -- What is sent may be a call the rule made; the records always name the running call, as the
  -- gateway received it.
  local running = view.running
  if not running and audit_fields then error("upstream.forward runs in a call", 2) end
  local reply, why, sent, unsendable = M.call(call.name, call.params, call.interface)
  if unsendable then -- the call itself, not the upstream: the client hears what it sent wrong
    log.warn("call not forwarded", { method = call.name, reason = why })
    if audit_fields then
      local outcome = "not forwarded: " .. sys.redact(tostring(why))
      audit.record_call(running, { forwarded = audit_fields, upstream = outcome }, { outcome = outcome, always = true })
    end
    return fault.new(NOT_FORWARDABLE, "not_forwardable")
  end
  local failure_kind = sent and "upstream outcome unknown" or "upstream unavailable"
  local outcome = reply and (reply.fault and ("upstream fault " .. reply.fault.code) or "upstream ok")
    or (failure_kind .. ": " .. sys.redact(tostring(why))) -- a reason may quote a URL: the record is kept for years
  if not reply and why ~= "not sent: no network here (self-checks, specs)" then
    log.warn(failure_kind, { method = call.name, reason = why })
  end
  if audit_fields then
    audit.record_call(running, { forwarded = audit_fields, upstream = outcome }, { outcome = outcome, always = true })
  elseif not reply and sent then
    audit.record_call(running, { upstream = outcome }, { outcome = outcome, always = true })
  end
  -- A call that may have reached the upstream keeps the plain fault: a reason would have the
  -- trail mark it refused (unchanged), which nobody knows.
  if not reply then return fault.new(1922, not sent and not why:find("^not sent:") and reason_name(why) or nil) end
  return reply
end

return M
