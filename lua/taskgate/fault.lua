-- taskgate.fault: fault values. `fault(code)` gives the fault a rule returns (or a check raises);
-- the dispatcher turns it into <fault><code>..</code></fault> and undoes the call.
--
-- `fault(code, reason)` also says who refused and why ("rate_limit", "maintenance_window"): the
-- reason goes to the call's log line, its metrics label and the audit record, never to the
-- client (the protocol has codes only). A policy's fault without one gets the policy's name.
--
-- There is one fault per code (and a new one per fault with a reason), and it cannot be
-- changed: its code and reason live outside it, its metatable is hidden. So a rule can neither
-- make a fault with a code that is not in taskgate.faults (setmetatable({code = 42},
-- getmetatable(fault(1017)))) nor turn one fault into another after the table said yes.

local debug = require "debug"
local faults = require "taskgate.faults"

local M = {}

-- fault -> its code; being a key here is what makes a value a fault. Weak: faults with a reason
-- are made per call.
local code_of = setmetatable({}, { __mode = "k" })
local reason_of = setmetatable({}, { __mode = "k" }) -- fault -> its reason, when it has one
local by_code = {} -- code -> its fault without a reason

local Fault = {
  __index = function(f, key)
    if key == "code" then return code_of[f] end
    if key == "reason" then return reason_of[f] end
  end,
  __newindex = function() error("a fault cannot be changed", 2) end,
  __tostring = function(f)
    local code = code_of[f]
    local text = string.format("fault %d (%s)", code, faults[code].name)
    return reason_of[f] and (text .. " reason " .. reason_of[f]) or text
  end,
  __metatable = false,
}

M.REASON_MAX = 47 -- bytes; reasons name a policy, not a value (they label metrics)

--- Whether text can be a reason: a name of letters, digits, '_', '-' and '.', 1 to REASON_MAX
--- bytes.
function M.valid_reason(text)
  return type(text) == "string" and #text >= 1 and #text <= M.REASON_MAX and text:find("^[%w_.%-]+$") ~= nil
end

-- The level of the error raised for a bad fault(): the rule that called, or none when a tail
-- call (`return fault(x)`) left only the runtime's frame in its place, whose position would
-- mislead (the log line names the file that ran).
local function caller_level()
  local info = debug.getinfo(3, "S")
  return (info and info.source:find("taskgate/[%w_]+%.lua$")) and 0 or 2
end

--- Returns the fault for a code listed in taskgate.faults (an unknown code is a rule bug), with
--- an optional reason (M.valid_reason).
function M.new(code, reason)
  local f = reason == nil and by_code[code]
  if f then return f end
  if not faults[code] then
    error(string.format("fault code %s is not in taskgate.faults", tostring(code)), caller_level())
  end
  if reason ~= nil and not M.valid_reason(reason) then
    error(string.format("fault reason %q is not a name (letters, digits, _ - ., up to %d bytes)",
      tostring(reason), M.REASON_MAX), caller_level())
  end
  code = math.tointeger(code)
  f = setmetatable({}, Fault)
  code_of[f], reason_of[f] = code, reason
  if reason == nil then by_code[code] = f end
  return f
end

--- Raises the fault: the rest of the rule does not run.
function M.raise(code, reason)
  error(M.new(code, reason), 0)
end

--- Whether value is a fault.
function M.is(value)
  return code_of[value] ~= nil
end

return M
