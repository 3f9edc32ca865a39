-- Runs before every method: each client may make at most 20 calls per second. The counts live
-- in this file's own table, which lasts until the rules are reloaded.
local limit_per_second = 20
local calls = {} -- client address -> { second = ..., count = ... }

return function(call)
  local second = math.floor(clock.now())
  local seen = calls[call.client]
  if not seen or seen.second ~= second then
    seen = { second = second, count = 0 }
    calls[call.client] = seen
  end
  seen.count = seen.count + 1
  if seen.count > limit_per_second then return fault(1921) end
end
