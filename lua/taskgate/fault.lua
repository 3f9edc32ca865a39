-- taskgate.fault: fault values. `fault(code)` gives the fault a rule returns (or a check raises);
-- the dispatcher turns it into <fault><code>..</code></fault> and undoes the call.
--
-- There is one fault per code, made on first use, and it cannot be changed: its code lives
-- outside it, its metatable is hidden. So a rule can neither make a fault with a code that is
-- not in taskgate.faults (setmetatable({code = 42}, getmetatable(fault(1017)))) nor turn one
-- fault into another after the table said yes.

local faults = require "taskgate.faults"

local M = {}

local code_of = {} -- fault -> its code; being a key here is what makes a value a fault
local by_code = {} -- code -> its fault

local Fault = {
  __index = function(f, key)
    if key == "code" then return code_of[f] end
  end,
  __newindex = function() error("a fault cannot be changed", 2) end,
  __tostring = function(f)
    local code = code_of[f]
    return string.format("fault %d (%s)", code, faults[code].name)
  end,
  __metatable = false,
}

--- Returns the fault for a code listed in taskgate.faults; an unknown code is a rule bug.
function M.new(code)
  local f = by_code[code]
  if f then return f end
  if not faults[code] then
    error(string.format("fault code %s is not in taskgate.faults", tostring(code)), 2)
  end
  code = math.tointeger(code)
  f = setmetatable({}, Fault)
  code_of[f], by_code[code] = code, f
  return f
end

--- Raises the fault: the rest of the rule does not run.
function M.raise(code)
  error(M.new(code), 0)
end

--- Whether value is a fault.
function M.is(value)
  return code_of[value] ~= nil
end

return M
