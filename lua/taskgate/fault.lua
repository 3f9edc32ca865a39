-- taskgate.fault: fault values. `fault(code)` makes one that a rule returns (or that a check
-- raises); the dispatcher turns it into <fault><code>..</code></fault> and undoes the call.

local faults = require "taskgate.faults"

local Fault = {}
Fault.__index = Fault
Fault.__tostring = function(f)
  return string.format("fault %d (%s)", f.code, faults[f.code].name)
end

local M = {}

--- Returns the fault for a code listed in taskgate.faults; an unknown code is a rule bug.
function M.new(code)
  if not faults[code] then
    error(string.format("fault code %s is not in taskgate.faults", tostring(code)), 2)
  end
  return setmetatable({ code = code }, Fault)
end

--- Raises the fault: the rest of the rule does not run.
function M.raise(code)
  error(M.new(code), 0)
end

function M.is(value)
  return getmetatable(value) == Fault
end

return M
