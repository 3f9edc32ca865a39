-- taskgate.ratelimit: token buckets in the shared space (taskgate.shared), so a limit holds
-- across every worker and survives reloads. A bucket holds up to `burst` tokens and refills at
-- `rate` tokens a second; each call takes one (or `cost`). A bucket left alone until it is full
-- again is forgotten, so the space holds only the keys that are busy.
--
--   local per_client = ratelimit.new("per_client", { rate = 20, burst = 20 })
--   return function(call)
--     if not per_client:take(call.client) then return fault(1921, "rate_limit") end
--   end

local clock = require "taskgate.clock"
local spaces = require "taskgate.spaces"

local M = {}

local Limiter = {}
-- Its objects' metatable, hidden from rules (__metatable): a rule that reached the methods
-- could replace them for every later call, in every rule file.
local limiter_meta = { __index = Limiter, __metatable = false }

--- A limiter named `name` (letters, digits, _): opts.rate tokens a second (above 0), at most
--- opts.burst (default: rate, at least 1) at once.
function M.new(name, opts)
  if type(name) ~= "string" or not name:find("^[%w_]+$") or #name > 64 then
    error("a limiter's name is letters, digits and _ (up to 64)", 2)
  end
  local rate = opts and opts.rate
  if type(rate) ~= "number" or rate <= 0 or rate ~= rate then error("opts.rate: tokens a second, above 0", 2) end
  local burst = opts.burst or math.max(rate, 1)
  if type(burst) ~= "number" or burst < 1 then error("opts.burst: at least 1", 2) end
  return setmetatable({ prefix = "r:" .. name .. ":", rate = rate, burst = burst }, limiter_meta)
end

--- Takes `cost` tokens (default 1) from key's bucket: true and the tokens left, or false and the
--- seconds until there would be enough. nil and why when the shared space refuses the key.
function Limiter:take(key, cost)
  if type(key) ~= "string" and type(key) ~= "number" then error("a key is a string or a number", 2) end
  return spaces.current.take(self.prefix .. key, self.rate, self.burst, cost or 1, clock.now())
end

return M
