-- taskgate.received: the bytes an XML call came as, kept in bridge mode so that a call the rules
-- did not change goes upstream as it was received (taskgate.upstream), byte for byte, with its
-- Content-Type. Known by the call's params table, which nothing can change once the dispatcher
-- has prepared the call (rules and policies read it through views): forwarding that table under
-- the same method and endpoint is forwarding the call unchanged. Not a rule's module: a rule
-- must not be able to say which bytes go upstream.

local view = require "taskgate.view"

local M = {}

local of_params = setmetatable({}, { __mode = "k" }) -- params table -> what the call came as

--- Keeps `bytes` (the request's body) and `content_type` (its header, "" when none came) for
--- the prepared call (name trimmed and in lower case, params, interface).
function M.keep(call, bytes, content_type)
  of_params[call.params] = { name = call.name, interface = call.interface, bytes = bytes,
    content_type = content_type }
end

--- The body and Content-Type to send for `method` with `params` to the endpoint `interface`
--- ("task" or "bin") when they are a call exactly as received; nil otherwise.
function M.bytes_for(method, params, interface)
  local kept = type(params) == "table" and of_params[view.shown(params)]
  if not kept or type(method) ~= "string" or method:lower() ~= kept.name or interface ~= kept.interface then
    return nil
  end
  local content_type = kept.content_type
  -- The client's header describes its bytes; a JSON type over an XML body (which the gateway
  -- reads as XML) would not.
  if content_type == "" or content_type:lower():find("json", 1, true) then content_type = "application/xml" end
  return kept.bytes, content_type
end

return M
