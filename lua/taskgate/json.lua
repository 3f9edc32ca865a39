-- taskgate.json: a small JSON encoder for audit records (strings, numbers, booleans, tables).

local M = {}

local escapes = { ['"'] = '\\"', ['\\'] = '\\\\', ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t' }

local function escape(c)
  return escapes[c] or string.format("\\u%04x", c:byte())
end

local function encode_string(s)
  if not s:find('[%c"\\]') then return '"' .. s .. '"' end -- the common case: nothing to escape
  return '"' .. s:gsub('[%c"\\]', escape) .. '"'
end

local function encode(value, depth)
  local kind = type(value)
  if kind == "string" then return encode_string(value) end
  if kind == "number" then
    if value ~= value or value == math.huge or value == -math.huge then return "null" end
    return math.type(value) == "integer" and tostring(value) or string.format("%.17g", value)
  end
  if kind == "boolean" then return tostring(value) end
  if kind ~= "table" or depth > 32 then return "null" end
  local parts = {}
  if value[1] ~= nil then
    for i, item in ipairs(value) do parts[i] = encode(item, depth + 1) end
    return "[" .. table.concat(parts, ",") .. "]"
  end
  local keys = {}
  for key in pairs(value) do keys[#keys + 1] = tostring(key) end
  table.sort(keys)
  for i, key in ipairs(keys) do
    parts[i] = encode_string(key) .. ":" .. encode(value[key], depth + 1)
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

--- Returns value as compact JSON with object keys sorted.
function M.encode(value)
  return encode(value, 0)
end

return M
