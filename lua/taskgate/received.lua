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

local json_params = setmetatable({}, { __mode = "k" }) -- params tables of JSON calls

--- Notes that the prepared call came as JSON (its body is not XML: it is always encoded).
function M.keep_json(call)
  json_params[call.params] = true
end

-- A JSON client may write a list as the plain array under its wrapper ("tasks": [{...}],
-- docs/interface.md); in XML the wrapper holds one element per item. The wrappers and their
-- items, as the rules read both forms (taskgate.params).
local WRAPPED = { tasks = "task", bins = "bin_id", select = "category" }

--- `params` as XML shapes them: for a JSON call's own params, each plain array under a wrapper
--- inside its item element ({tasks = {t1, t2}} -> {tasks = {task = {t1, t2}}}), in a copy that
--- keeps the client's order; any other table as it is.
function M.xml_shaped(params)
  local shown = type(params) == "table" and view.shown(params)
  if not (shown and json_params[shown]) then return params end
  local copy
  for wrapper, item in pairs(WRAPPED) do
    local value = shown[wrapper]
    if type(value) == "table" and rawlen(value) > 0 then
      if not copy then
        copy = setmetatable({}, getmetatable(shown))
        for key, kept in pairs(shown) do copy[key] = kept end
      end
      copy[wrapper] = { [item] = value }
    end
  end
  return copy or params
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
