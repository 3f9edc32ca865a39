-- taskgate.shared: a key-value space that every worker and every rules generation shares, for
-- counts and flags that must hold across them (like OpenResty's shared dictionaries). Numbers,
-- strings (up to 64 KiB) and booleans under string keys (up to 255 bytes with the dictionary's
-- name), with expiry and atomic increments. It lives in the gateway's memory, bounded by
-- --shared-memory (default 8 MiB): when a write needs room, entries past their time go first,
-- then the least recently used (taskgate_shared_evictions_total counts those). A restart
-- empties it. Times are the rules' clock (clock.now()).
--
--   local seen = shared.dict("seen")
--   local n = seen:incr(call.client, 1, { ttl = 60 })   -- calls of this client this minute

local clock = require "taskgate.clock"
local spaces = require "taskgate.spaces"

local M = {}

local Dict = {}
-- A dictionary's prefix in the space, by dictionary: kept out of the object, where a rule could
-- rewrite it and reach any other dictionary's keys, or the rate limiters' buckets.
local prefix_of = setmetatable({}, { __mode = "k" })
-- Its objects' metatable, hidden from rules (__metatable): a rule that reached the methods
-- could replace them for every later call, in every rule file. An object holds nothing itself.
local dict_meta = {
  __index = Dict,
  __newindex = function() error("a dictionary object cannot be changed", 2) end,
  __metatable = false,
}

--- A dictionary: its keys are apart from every other dictionary's. name: letters, digits, _.
function M.dict(name)
  if type(name) ~= "string" or not name:find("^[%w_]+$") or #name > 64 then
    error("a dictionary's name is letters, digits and _ (up to 64)", 2)
  end
  local dict = setmetatable({}, dict_meta)
  prefix_of[dict] = "d:" .. name .. ":"
  return dict
end

local function key_of(dict, key)
  local prefix = prefix_of[dict]
  if not prefix then error("call a dictionary's methods with ':' (dict:get(key))", 3) end
  if type(key) ~= "string" and type(key) ~= "number" then error("a key is a string or a number", 3) end
  return prefix .. key
end

--- The value under key, or nil (absent, or past its time).
function Dict:get(key)
  return spaces.current.get(key_of(self, key), clock.now())
end

--- Sets key to value (a number, a string, a boolean; nil deletes it) for ttl seconds (nil or 0:
--- no expiry). Returns true, or nil and why ("too large").
function Dict:set(key, value, ttl)
  return spaces.current.set(key_of(self, key), value, ttl, clock.now())
end

--- Sets key only when it holds nothing: true, false when it holds a value; or nil and why.
function Dict:add(key, value, ttl)
  return spaces.current.set(key_of(self, key), value, ttl, clock.now(), true)
end

--- Adds delta (default 1) to the number under key, atomically across workers; an absent key
--- starts at opts.init (default 0), with opts.ttl. Returns the new value, or nil and why ("not a
--- number", "too large").
function Dict:incr(key, delta, opts)
  opts = opts or {}
  return spaces.current.incr(key_of(self, key), delta or 1, opts.init or 0, opts.ttl, clock.now())
end

--- Removes key.
function Dict:delete(key)
  spaces.current.set(key_of(self, key), nil, nil, clock.now())
end

--- The space's size: {capacity, used, entries, evictions} (bytes, keys, evictions so far).
function M.stats()
  return spaces.current.stats()
end

return M
