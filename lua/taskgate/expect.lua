-- taskgate.expect: assertions for self-checks (rules/_selfcheck.lua gets this module as its
-- second argument) and site specs. A failure says what was expected and what came instead:
-- "cancel_task without task_id: expected fault 1040, got fault 1012".

local M = {}

local function sorted_keys(t)
  local keys = {}
  for key in pairs(t) do keys[#keys + 1] = key end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

-- A value as Lua-like text, cut at `room` bytes (a reply can be large).
local function show(value, room, depth)
  if type(value) == "string" then return string.format("%q", value) end
  if type(value) ~= "table" then return tostring(value) end
  if depth > 4 then return "{...}" end
  local parts, used = {}, 0
  for _, key in ipairs(sorted_keys(value)) do
    local part = (type(key) == "string" and key:find("^[%a_][%w_]*$") and key or "[" .. show(key, 40, depth + 1) .. "]")
      .. " = " .. show(value[key], room, depth + 1)
    used = used + #part
    if used > room then
      parts[#parts + 1] = "..."
      break
    end
    parts[#parts + 1] = part
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end

--- A reply as a person reads it: "fault 1017", "params {}", "params {bins = {...}}".
function M.describe(reply)
  if type(reply) ~= "table" then return "no reply (" .. type(reply) .. ")" end
  if reply.fault then return "fault " .. tostring(reply.fault.code) end
  if reply.params then return "params " .. show(reply.params, 300, 1) end
  if reply.raw then return "a forwarded reply" .. (reply.code and (" (fault " .. reply.code .. ")") or "") end
  return show(reply, 300, 1)
end

local function fail(what, expected, reply)
  error(string.format("%s: expected %s, got %s", what or "self-check", expected, M.describe(reply)), 3)
end

--- Raises unless reply is fault `code`.
function M.fault(reply, code, what)
  if not (type(reply) == "table" and reply.fault and reply.fault.code == code) then
    fail(what, "fault " .. tostring(code), reply)
  end
  return reply
end

--- Raises unless reply is a success (params, whatever they hold).
function M.ok(reply, what)
  if not (type(reply) == "table" and reply.params) then fail(what, "a success", reply) end
  return reply
end

-- Whether a equals b, tables compared by content.
local function same(a, b)
  if type(a) ~= "table" or type(b) ~= "table" then return a == b end
  for key, value in pairs(a) do
    if not same(value, b[key]) then return false end
  end
  for key in pairs(b) do
    if a[key] == nil then return false end
  end
  return true
end

--- Raises unless reply is a success whose params equal `params` (compared by content).
function M.params(reply, params, what)
  if not (type(reply) == "table" and reply.params and same(reply.params, params)) then
    fail(what, "params " .. show(params, 300, 1), reply)
  end
  return reply
end

return M
