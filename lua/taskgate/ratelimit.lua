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
-- A limiter's prefix, rate and burst, by limiter: kept out of the object, where a rule could
-- rewrite them (another limiter's buckets, a dictionary's keys, a rate of its own choosing).
local settings_of = setmetatable({}, { __mode = "k" })
-- Its objects' metatable, hidden from rules (__metatable): a rule that reached the methods
-- could replace them for every later call, in every rule file. An object holds nothing itself.
local limiter_meta = {
  __index = Limiter,
  __newindex = function() error("a limiter cannot be changed", 2) end,
  __metatable = false,
}

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
  local limiter = setmetatable({}, limiter_meta)
  settings_of[limiter] = { prefix = "r:" .. name .. ":", rate = rate, burst = burst }
  return limiter
end

--- Takes `cost` tokens (default 1) from key's bucket: true and the tokens left, or false and the
--- seconds until there would be enough. nil and why when the shared space refuses the key.
function Limiter:take(key, cost)
  local settings = settings_of[self]
  if not settings then error("call a limiter's take with ':' (limiter:take(key))", 2) end
  if type(key) ~= "string" and type(key) ~= "number" then error("a key is a string or a number", 2) end
  return spaces.current.take(settings.prefix .. key, settings.rate, settings.burst, cost or 1, clock.now())
end

return M
