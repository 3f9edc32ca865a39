-- taskgate.clock: wall-clock time and the interface's UTC timestamps (YYYY-MM-DDThh:mm:ssZ).

local sys = require "taskgate.sys"

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

--- The UTC calendar fields of epoch seconds (default: now): year, month, day, hour, min, sec,
--- and weekday (1 = Monday .. 7 = Sunday).
function M.parts(epoch)
  epoch = math.floor(epoch or M.now())
  local text = M.format(epoch)
  local days = epoch // 86400
  return {
    year = tonumber(text:sub(1, 4)), month = tonumber(text:sub(6, 7)), day = tonumber(text:sub(9, 10)),
    hour = tonumber(text:sub(12, 13)), min = tonumber(text:sub(15, 16)), sec = tonumber(text:sub(18, 19)),
    weekday = (days + 3) % 7 + 1, -- 1970-01-01 was a Thursday
  }
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
