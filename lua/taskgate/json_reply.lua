-- taskgate.json_reply: the reply to a JSON methodcall, from the same reply table the XML reply
-- is written from: {"params": {...}} or {"fault": {"code": N}} (assumed: the documentation shows
-- JSON requests, not replies). Keys follow the XML encoder's order (reply.record's order, then
-- sorted); a reply.list is an array (empty: []); {} is {}; strings stay strings, numbers
-- numbers, booleans true/false. Text that is not valid UTF-8 has its stray bytes replaced by
-- U+FFFD, as in XML replies. What the XML encoder refuses this one refuses too (a key that is no
-- element name, a list with holes or other keys, a list of lists, NaN, an infinity): a reply is
-- good in both forms or in neither (fuzz/reply_fuzz.c holds both to that).

local sys = require "taskgate.sys"
local view = require "taskgate.view"
local xml = require "taskgate.xml"

local M = {}

local MAX_DEPTH = 16

local function text(value)
  if not utf8.len(value) then value = value:gsub("[\128-\255]", "\239\191\189") end
  return sys.json_encode(value)
end

-- The keys of t in the order the XML encoder writes them. Each must be a name the XML encoder
-- writes too: a reply is good in both forms or in neither.
local function ordered_keys(t)
  local keys, seen = {}, {}
  local meta = getmetatable(t)
  for _, key in ipairs(meta and meta.__order or {}) do
    if t[key] ~= nil and not seen[key] then keys[#keys + 1], seen[key] = key, true end
  end
  local rest = {}
  for key in pairs(t) do
    if type(key) ~= "string" then error("reply keys must be element names, got a " .. type(key)) end
    if not xml.name_ok(key) then error("reply key '" .. key .. "' is not a valid element name") end
    if not seen[key] then rest[#rest + 1] = key end
  end
  table.sort(rest)
  table.move(rest, 1, #rest, #keys + 1, keys)
  return keys
end

local function is_list(t)
  local meta = getmetatable(t)
  return (meta and meta.__list) or rawlen(t) > 0
end

local encode

-- A list must be a sequence, keys 1..n and nothing else, and hold no lists (XML has no way to
-- say a list of lists): a value past a hole, or under another key, would be left out.
local function check_list(t, n)
  local count = 0
  for key, value in pairs(t) do
    count = count + 1
    if math.type(key) ~= "integer" or key < 1 or key > n then error("a reply list with holes or other keys") end
    if type(value) == "table" and is_list(value) then error("a reply list of lists") end
  end
  if count ~= n then error("a reply list with holes") end
end

local function encode_table(t, depth, out)
  t = view.shown(t) -- a reply may hold parts of the call: written as the call holds them
  local meta = getmetatable(t)
  if meta and meta.__json then -- reply.rows: JSON text the store wrote
    out[#out + 1] = meta.__json
    return
  end
  if is_list(t) then
    local n = rawlen(t)
    check_list(t, n)
    out[#out + 1] = "["
    for i = 1, n do
      if i > 1 then out[#out + 1] = "," end
      encode(t[i], depth + 1, out)
    end
    out[#out + 1] = "]"
    return
  end
  out[#out + 1] = "{"
  for i, key in ipairs(ordered_keys(t)) do
    if i > 1 then out[#out + 1] = "," end
    out[#out + 1] = text(key)
    out[#out + 1] = ":"
    encode(t[key], depth + 1, out)
  end
  out[#out + 1] = "}"
end

encode = function(value, depth, out)
  if depth > MAX_DEPTH then error("reply nested deeper than " .. MAX_DEPTH .. " (a cycle?)") end
  local kind = type(value)
  if kind == "table" then return encode_table(value, depth, out) end
  if kind == "string" then out[#out + 1] = text(value) return end
  if kind == "number" and (value ~= value or value == math.huge or value == -math.huge) then
    error("a reply holds NaN or an infinity") -- no client reads those as numbers
  end
  if kind == "number" or kind == "boolean" then out[#out + 1] = sys.json_encode(value) return end
  error("a reply holds a " .. kind)
end

-- An upstream's XML reply (bridge mode), read back into a reply table; nil when it is none.
local function from_xml(raw)
  local root, value = xml.decode_document(raw)
  if root ~= "response" or type(value) ~= "table" then return nil end
  return value
end

-- An upstream's reply as a reply table: its fault, the code a number, or its params.
local function upstream_reply(document)
  if not document.fault then return { params = document.params } end
  local fault = {}
  for key, value in pairs(document.fault) do fault[key] = value end
  fault.code = math.tointeger(tonumber(fault.code)) or fault.code
  return { fault = fault }
end

--- The JSON document for a reply table ({params = ...}, {fault = {code = ...}}, or {raw = ...}
--- holding an upstream's XML reply; `document`, when given, is that reply as the gateway decoded
--- it already, so it is not decoded a second time).
function M.encode(reply, document)
  if reply.raw then
    document = document and view.shown(document) or from_xml(reply.raw)
    reply = document and upstream_reply(document) or { fault = { code = 1922 } }
  end
  local out = {}
  encode(reply.fault and { fault = reply.fault } or { params = reply.params or {} }, 0, out)
  return table.concat(out)
end

return M
