-- taskgate.jsondecode: reads back the JSON the runtime wrote (journal parameters, try's rows):
-- objects, arrays, strings with every escape, numbers, true, false and null (nil). Not on any
-- call's path; a malformed text is an error naming the position.

local M = {}

local decode_value -- forward

local function fail(text, pos, what)
  error(string.format("JSON at byte %d: %s", pos, what), 0)
end

local function skip(text, pos)
  return text:find("[^ \t\r\n]", pos) or #text + 1
end

local ESCAPES = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }

local function decode_string(text, pos)
  local parts, at = {}, pos + 1
  while true do
    local stop = text:find('["\\]', at)
    if not stop then fail(text, pos, "an unterminated string") end
    parts[#parts + 1] = text:sub(at, stop - 1)
    if text:sub(stop, stop) == '"' then return table.concat(parts), stop + 1 end
    local kind = text:sub(stop + 1, stop + 1)
    if kind == "u" then
      local code = tonumber(text:sub(stop + 2, stop + 5), 16)
      if not code then fail(text, stop, "a bad \\u escape") end
      at = stop + 6
      if code >= 0xD800 and code <= 0xDBFF and text:sub(at, at + 1) == "\\u" then -- a surrogate pair
        local low = tonumber(text:sub(at + 2, at + 5), 16)
        if low and low >= 0xDC00 and low <= 0xDFFF then
          code, at = 0x10000 + (code - 0xD800) * 0x400 + (low - 0xDC00), at + 6
        end
      end
      parts[#parts + 1] = utf8.char(code)
    elseif ESCAPES[kind] then
      parts[#parts + 1], at = ESCAPES[kind], stop + 2
    else
      fail(text, stop, "a bad escape")
    end
  end
end

local function decode_list(text, pos, close, read_item)
  local result = {}
  pos = skip(text, pos + 1)
  if text:sub(pos, pos) == close then return result, pos + 1 end
  while true do
    pos = read_item(result, pos)
    pos = skip(text, pos)
    local c = text:sub(pos, pos)
    if c == close then return result, pos + 1 end
    if c ~= "," then fail(text, pos, "expected , or " .. close) end
    pos = skip(text, pos + 1)
  end
end

function decode_value(text, pos)
  pos = skip(text, pos)
  local c = text:sub(pos, pos)
  if c == "{" then
    return decode_list(text, pos, "}", function(object, at)
      if text:sub(at, at) ~= '"' then fail(text, at, "expected a key") end
      local key, after = decode_string(text, at)
      after = skip(text, after)
      if text:sub(after, after) ~= ":" then fail(text, after, "expected :") end
      object[key], after = decode_value(text, after + 1)
      return after
    end)
  elseif c == "[" then
    return decode_list(text, pos, "]", function(array, at)
      local value, after = decode_value(text, at)
      array[#array + 1] = value
      return after
    end)
  elseif c == '"' then
    return decode_string(text, pos)
  end
  local number = text:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
  if number and number ~= "" and number ~= "-" then return math.tointeger(tonumber(number)) or tonumber(number), pos + #number end
  for word, value in pairs({ ["true"] = true, ["false"] = false }) do
    if text:sub(pos, pos + #word - 1) == word then return value, pos + #word end
  end
  if text:sub(pos, pos + 3) == "null" then return nil, pos + 4 end
  fail(text, pos, "unexpected " .. (c == "" and "end" or c))
end

--- The value `text` holds.
function M.decode(text)
  local value, pos = decode_value(text, 1)
  if skip(text, pos) <= #text then fail(text, pos, "text after the value") end
  return value
end

return M
