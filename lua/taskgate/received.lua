-- taskgate.received: what a call came as, kept in bridge mode so that a call goes upstream as it
-- was received (taskgate.upstream): an XML call the rules did not change as its bytes, with its
-- Content-Type; any call encoded under the method name as the client spelt it. Known by the
-- call's params table, which nothing can change once the dispatcher has prepared the call
-- (rules and policies read it through views): forwarding that table under the same method and
-- endpoint is forwarding the call unchanged. Not a rule's module: a rule must not be able to say
-- which bytes go upstream.

local view = require "taskgate.view"

local M = {}

local of_params = setmetatable({}, { __mode = "k" }) -- params table -> what the call came as

--- Keeps what the prepared call (name trimmed and in lower case, params, interface, form) came
--- as: `spelt`, its method name as sent (trimmed); `bytes`, the body of an XML call whose bytes
--- still say what the rules see (nil otherwise), and `content_type`, its header ("" when none).
function M.keep(call, spelt, bytes, content_type)
  of_params[call.params] = { name = call.name, spelt = spelt, interface = call.interface, bytes = bytes,
    content_type = content_type, json = call.form == "json" }
end

-- What `params` came as when they are a call's own, forwarded under its method and endpoint.
local function kept_for(method, params, interface)
  local kept = type(params) == "table" and of_params[view.shown(params)]
  if kept and type(method) == "string" and method:lower() == kept.name and interface == kept.interface then
    return kept
  end
end

--- The body and Content-Type to send for `method` with `params` to the endpoint `interface`
--- ("task" or "bin") when they are an XML call exactly as received; nil otherwise.
function M.bytes_for(method, params, interface)
  local kept = kept_for(method, params, interface)
  if not (kept and kept.bytes) then return nil end
  local content_type = kept.content_type
  -- The client's header describes its bytes; a JSON type over an XML body (which the gateway
  -- reads as XML) would not.
  if content_type == "" or content_type:lower():find("json", 1, true) then content_type = "application/xml" end
  return kept.bytes, content_type
end

--- The method's name as the client spelt it, for a call's own params under its own method;
--- `method` otherwise.
function M.spelling(method, params, interface)
  local kept = kept_for(method, params, interface)
  return kept and kept.spelt or method
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
  local kept = shown and of_params[shown]
  if not (kept and kept.json) then return params end
  local copy
  for wrapper, item in pairs(WRAPPED) do
    local value = shown[wrapper]
    if type(value) == "table" and rawlen(value) > 0 then
      if not copy then
        copy = setmetatable({}, getmetatable(shown))
        for key, kept_value in pairs(shown) do copy[key] = kept_value end
      end
      copy[wrapper] = { [item] = value }
    end
  end
  return copy or params
end

return M
