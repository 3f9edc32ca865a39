-- taskgate.check: parameter validation. Each check returns the clean value or raises the
-- fault named in its options: `missing` when the parameter is absent, `invalid` otherwise.
-- Parameter text arrives exactly as sent; surrounding whitespace is tolerated, nothing else.

local clock = require "taskgate.clock"
local fault = require "taskgate.fault"
local sys = require "taskgate.sys"
local view = require "taskgate.view"
local trim, digits = sys.trim, sys.digits

local M = {}

-- Returns the trimmed text of a parameter, nil when absent; raises `invalid` for anything
-- that is not plain text (nested elements, or the element repeated). An empty element of an
-- optional parameter (<shipment/>, what XML serialisers write for a null field) is absent; a
-- mandatory one stays invalid (the documentation: an empty task_id is 1012, not 1040).
local function text_of(value, opts)
  if value == nil then
    if opts.optional then return nil end
    fault.raise(opts.missing or opts.invalid)
  end
  if type(value) == "table" and value[1] ~= nil and view.next(value, view.next(value)) == nil then
    value = value[1] -- a JSON array of one value ("port_id": [1]) is that value, as in XML
  end
  if type(value) ~= "string" then fault.raise(opts.invalid) end
  local text = trim(value)
  if text == "" and opts.optional then return nil end
  return text
end

--- An integer written in decimal digits only (no sign, no decimals), within opts.min..opts.max.
function M.int(value, opts)
  -- The common case, plain digits, in one C call.
  local n = digits(value)
  if n then
    if n < (opts.min or 1) or n > (opts.max or 2147483647) then fault.raise(opts.invalid) end
    return n
  end
  local text = text_of(value, opts)
  if text == nil then return nil end
  n = digits(text)
  if not n or n < (opts.min or 1) or n > (opts.max or 2147483647) then fault.raise(opts.invalid) end
  return n
end

local booleans = { ["1"] = true, ["true"] = true, ["0"] = false, ["false"] = false }

--- A boolean: 1, 0, true or false (any case). Absent and optional gives opts.default.
function M.bool(value, opts)
  local text = text_of(value, opts)
  if text == nil then return opts.default end
  local b = booleans[text:lower()]
  if b == nil then fault.raise(opts.invalid) end
  return b
end

local earliest = clock.parse("1971-01-01T00:00:00Z")
local latest = clock.parse("2038-01-18T23:59:59Z")

--- A time (clock.parse: ISO 8601 with Z or an offset, a fraction allowed) between 1971-01-01
--- and 2038-01-18 UTC. Returns it as the interface writes it, "YYYY-MM-DDThh:mm:ssZ" in UTC,
--- and its epoch seconds.
function M.time(value, opts)
  local text = text_of(value, opts)
  if text == nil then return nil end
  local epoch = clock.parse(text)
  if not epoch or epoch < earliest or epoch > latest then fault.raise(opts.invalid) end
  return clock.format(epoch), epoch
end

--- Free text up to opts.max_len bytes (default 255).
function M.text(value, opts)
  local text = text_of(value, opts)
  if text == nil then return nil end
  if #text > (opts.max_len or 255) then fault.raise(opts.invalid) end
  return text
end

--- The elements called `name` inside container (e.g. the <task>s in <tasks>) as an array of
--- tables, whether there is one or several. An empty element (<task/>) is an empty table. The
--- JSON form may leave the inner name out and give the wrapper an array of the elements
--- ("tasks": [{...}, {...}]): that is the same list. Raises `missing` when there are none,
--- `invalid` when the shape is not elements.
function M.list(container, name, opts)
  if container == nil or container == "" then fault.raise(opts.missing) end
  if type(container) ~= "table" then fault.raise(opts.invalid) end
  local value = container[name]
  if value == nil and container[1] ~= nil then
    for _, item in ipairs(container) do
      if type(item) == "table" and item[name] ~= nil then fault.raise(opts.invalid) end -- wrappers repeated
    end
    value = container
  end
  if value == nil then fault.raise(opts.missing) end
  local items = (type(value) == "table" and value[1] ~= nil) and value or { value }
  local list = {} -- a new array: the call's own lists are read-only (taskgate.view)
  for i, item in ipairs(items) do
    if item == "" then
      item = {}
    elseif type(item) ~= "table" then
      fault.raise(opts.invalid)
    end
    list[i] = item
  end
  return list
end

--- The values of the elements called `name` inside container (e.g. the <category>s of a
--- <select>), each passed through `each` (a check such as check.int with its options).
--- An absent or empty container gives an empty array, and so does one holding only elements
--- called opts.others (values of another kind, read by another call). With opts.bare, a JSON
--- array of the values themselves ("bins": [6111, 6112]) is taken too.
function M.values(container, name, each, opts)
  if container == nil or container == "" then return {} end
  if type(container) ~= "table" then fault.raise(opts.invalid) end
  local value = container[name]
  if value == nil then
    if opts.bare and container[1] ~= nil then
      value = container
    elseif opts.others and (container[1] ~= nil or container[opts.others] ~= nil and view.next(container, view.next(container)) == nil) then
      return {} -- the other kind's values, or a bare array of them (read by the check with opts.bare)
    else
      fault.raise(opts.invalid)
    end
  end
  local items = (type(value) == "table" and value[1] ~= nil) and value or { value }
  local result = {}
  for i, item in ipairs(items) do result[i] = each(item, opts) end
  return result
end

--- A name made of letters, digits and underscores (up to 32), returned in upper case.
function M.token(value, opts)
  local text = text_of(value, opts)
  if text == nil then return opts.default end
  if not text:match("^[%w_]+$") or #text > 32 then fault.raise(opts.invalid) end
  return text:upper()
end

return M
