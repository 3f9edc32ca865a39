-- taskgate.clock: wall-clock time and the interface's UTC timestamps (YYYY-MM-DDThh:mm:ssZ).

local sys = require "taskgate.sys"
local zones = require "taskgate.zones"

local M = {}

-- Where the time comes from; specs replace it (site.clock.source = function() ... end) to fix
-- the time the rules see.
M.source = sys.now

--- Seconds since the epoch (with a fraction).
function M.now()
  return M.source()
end

-- Days from 1970-01-01 to a civil date (proleptic Gregorian).
local function days_from_civil(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local doy = (153 * (m + (m > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

local function days_in_month(y, m)
  local leap = (y % 4 == 0 and y % 100 ~= 0) or y % 400 == 0
  return ({ 31, leap and 29 or 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 })[m]
end

-- The zone of an ISO 8601 time as an offset from UTC in seconds, or nil: "Z", or +hh:mm, +hhmm,
-- +hh (and the same with -), as client libraries write it (Python's isoformat: +00:00).
local function zone_offset(zone)
  if zone == "Z" or zone == "z" then return 0 end
  local sign, hours, minutes = zone:match("^([+-])(%d%d):?(%d%d)$")
  if not sign then sign, hours = zone:match("^([+-])(%d%d)$") end
  if not sign then return nil end
  hours, minutes = tonumber(hours), tonumber(minutes or "0")
  if hours > 23 or minutes > 59 then return nil end
  local offset = hours * 3600 + minutes * 60
  return sign == "-" and -offset or offset
end

--- Parses an ISO 8601 date and time with a zone: "YYYY-MM-DDThh:mm:ssZ" as documented, and the
--- forms client libraries write for it: a fraction of a second (Java's Instant ".123Z", .NET's
--- "o" ".0000000Z"), an offset instead of Z (+00:00, -00:00, +0000), a lower-case t or z, or a
--- space for the T. The fraction is dropped (the interface counts seconds) and an offset is
--- taken into account, so any zone names its instant (assumed). Returns epoch seconds, or nil
--- for any other form (no zone at all, too many fraction digits) or an impossible date.
function M.parse(text)
  if type(text) ~= "string" then return nil end
  local y, mo, d, h, mi, s, rest = text:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)[Tt ](%d%d):(%d%d):(%d%d)(.*)$")
  if not y then return nil end
  local zone = rest:match("^%.%d%d?%d?%d?%d?%d?%d?%d?%d?(.*)$") or rest
  local offset = zone_offset(zone)
  if not offset then return nil end
  y, mo, d, h, mi, s = tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(s)
  if mo < 1 or mo > 12 or d < 1 or d > days_in_month(y, mo) or h > 23 or mi > 59 or s > 59 then
    return nil
  end
  return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset
end

-- The calendar fields of epoch seconds shifted by `offset` seconds (0: UTC).
local function fields(epoch, offset)
  local shifted = epoch + offset
  local text = M.format(shifted)
  return {
    year = tonumber(text:sub(1, 4)), month = tonumber(text:sub(6, 7)), day = tonumber(text:sub(9, 10)),
    hour = tonumber(text:sub(12, 13)), min = tonumber(text:sub(15, 16)), sec = tonumber(text:sub(18, 19)),
    weekday = (shifted // 86400 + 3) % 7 + 1, -- 1970-01-01 was a Thursday
    offset = offset,
  }
end

--- The zone named `name` in the tz database ("Europe/Berlin", "America/Chicago", "UTC"); an
--- unknown name is an error, so a rule that names one fails when it loads, not at 2 a.m.
-- What clock.zone gives a rule: a handle, one per zone. The zone itself is loaded once and
-- shared by every rule file: a rule that could change its tables would change everyone's time.
local zone_of = setmetatable({}, { __mode = "k" }) -- handle -> zone
local handle_of = setmetatable({}, { __mode = "k" }) -- zone -> handle
local function handle_offset(handle, epoch)
  local zone = zone_of[handle]
  if not zone then error("call a zone's offset with ':' (zone:offset(epoch))", 2) end
  return zone:offset(epoch)
end
local zone_meta = {
  __index = function(handle, key)
    if key == "offset" then return handle_offset end
    if key == "name" then return zone_of[handle].name end
  end,
  __newindex = function() error("a zone cannot be changed", 2) end,
  __metatable = false,
}

function M.zone(name)
  local zone, why = zones.get(name)
  if not zone then error(why, 2) end
  local handle = handle_of[zone]
  if not handle then
    handle = setmetatable({}, zone_meta)
    zone_of[handle], handle_of[zone] = zone, handle
  end
  return handle
end

--- The calendar fields of epoch seconds (default: now) in UTC, or in the named time zone
--- (`zone`: a name or clock.zone(name)): year, month, day, hour, min, sec, weekday (1 = Monday
--- .. 7 = Sunday), offset (seconds east of UTC) and, in a zone, summer (whether summer time).
function M.parts(epoch, zone)
  epoch = math.floor(epoch or M.now())
  if zone == nil then return fields(epoch, 0) end
  if type(zone) == "string" then zone = M.zone(zone) end
  zone = zone_of[zone]
  if not zone then error("clock.parts: the zone is a name or clock.zone(name)", 2) end
  local offset, summer = zone:offset(epoch)
  local parts = fields(epoch, offset)
  parts.summer = summer
  return parts
end

local DAYS = { mon = 1, tue = 2, wed = 3, thu = 4, fri = 5, sat = 6, sun = 7 }

-- "hh:mm" as minutes of the day (24:00 is the end of the day), or nil.
local function minutes(text)
  local h, m = tostring(text):match("^(%d%d?):(%d%d)$")
  h, m = tonumber(h), tonumber(m)
  if not h or m > 59 or h > 24 or (h == 24 and m > 0) then return nil end
  return h * 60 + m
end

local Window = {}
-- A window's zone, times and days, by window: kept out of the object, which rule code holds (a
-- site module's window is every rule file's).
local spec_of = setmetatable({}, { __mode = "k" })
-- Its objects' metatable, hidden from rules (__metatable): a rule that reached the methods
-- could replace them for every later call, in every rule file. An object holds nothing itself.
local window_meta = {
  __index = Window,
  __newindex = function() error("a window cannot be changed", 2) end,
  __metatable = false,
}

--- A weekly time window in a named zone, for policies:
---   clock.window({ zone = "Europe/Berlin", days = { "sun" }, from = "02:00", to = "04:00" })
--- days: the days it begins ("mon" .. "sun"; default every day); from and to: local "hh:mm",
--- from included, to not; a window with to before from runs past midnight into the next day.
--- Wrong fields are errors when the rule loads.
function M.window(spec)
  if type(spec) ~= "table" then error("clock.window takes { zone =, days =, from =, to = }", 2) end
  local window = { zone = M.zone(spec.zone or "UTC"), from = minutes(spec.from), to = minutes(spec.to), days = {} }
  if not window.from or not window.to or window.from == window.to then
    error("clock.window: from and to are different times \"hh:mm\"", 2)
  end
  for _, day in ipairs(spec.days or { "mon", "tue", "wed", "thu", "fri", "sat", "sun" }) do
    local number = DAYS[tostring(day):lower()]
    if not number then error(string.format("clock.window: %s is not a day (mon .. sun)", tostring(day)), 2) end
    window.days[number] = true
  end
  local object = setmetatable({}, window_meta)
  spec_of[object] = window
  return object
end

--- Whether epoch seconds (default: now) fall inside the window.
function Window:contains(epoch)
  local w = spec_of[self]
  if not w then error("call a window's contains with ':' (window:contains())", 2) end
  local parts = M.parts(epoch, w.zone)
  local now = parts.hour * 60 + parts.min
  if w.from < w.to then return w.days[parts.weekday] == true and now >= w.from and now < w.to end
  local yesterday = (parts.weekday + 5) % 7 + 1
  return (w.days[parts.weekday] == true and now >= w.from) or (w.days[yesterday] == true and now < w.to)
end

local last_second, last_text -- every call of a busy second formats the same time

--- Formats epoch seconds as "YYYY-MM-DDThh:mm:ssZ".
function M.format(epoch)
  local secs = math.floor(epoch)
  if secs == last_second then return last_text end
  local days, rem = secs // 86400, secs % 86400
  local z = days + 719468
  local era = (z >= 0 and z or z - 146096) // 146097
  local doe = z - era * 146097
  local yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
  local doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
  local mp = (5 * doy + 2) // 153
  local d = doy - (153 * mp + 2) // 5 + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400 + (m <= 2 and 1 or 0)
  last_second = secs
  last_text = string.format("%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, d, rem // 3600, rem % 3600 // 60, rem % 60)
  return last_text
end

return M
