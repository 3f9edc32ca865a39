-- taskgate.zones: named time zones ("Europe/Berlin") from the system's tz database
-- (/usr/share/zoneinfo, Debian's tzdata), for rules that think in the site's local time. A zone
-- file (RFC 8536, TZif) lists the zone's transitions up to some year; after the last one its
-- footer, a POSIX TZ rule ("CET-1CEST,M3.5.0,M10.5.0/3"), says when summer time begins and ends.
-- Each zone is read once per rules generation.

local sys = require "taskgate.sys"

local M = {}

local loaded = {} -- name -> zone

-- Days from 1970-01-01 to a civil date (proleptic Gregorian).
local function days_from_civil(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local doy = (153 * (m + (m > 2 and -3 or 9)) + 2) // 5 + d - 1
  return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
end
M.days_from_civil = days_from_civil

local function days_in_month(y, m)
  local leap = (y % 4 == 0 and y % 100 ~= 0) or y % 400 == 0
  return ({ 31, leap and 29 or 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 })[m]
end

-- POSIX TZ rules ----------------------------------------------------------------------------

-- "[+-]hh[:mm[:ss]]" at `at` in text: seconds and the position after it, or nil.
local function posix_time(text, at)
  local sign, h, rest = text:match("^([+-]?)(%d%d?%d?)()", at)
  if not h then return nil end
  local seconds, pos = tonumber(h) * 3600, rest
  local m, after = text:match("^:(%d%d)()", pos)
  if m then
    seconds, pos = seconds + tonumber(m) * 60, after
    local s, after_s = text:match("^:(%d%d)()", pos)
    if s then seconds, pos = seconds + tonumber(s), after_s end
  end
  return sign == "-" and -seconds or seconds, pos
end

-- A zone abbreviation ("CET" or "<+03>") at `at`: the position after it, or nil.
local function posix_name(text, at)
  return text:match("^%a%a%a+()", at) or text:match("^<[%w+-]+>()", at)
end

-- "Mm.w.d[/time]" at `at`: {month, week, day, time} and the position after it, or nil. The
-- Julian forms (Jn, n) are not used by the tz database's zones and are not read.
local function posix_date(text, at)
  local month, week, day, pos = text:match("^M(%d%d?)%.(%d)%.(%d)()", at)
  if not month then return nil end
  local rule = { month = tonumber(month), week = tonumber(week), day = tonumber(day), time = 7200 }
  if text:sub(pos, pos) == "/" then
    rule.time, pos = posix_time(text, pos + 1)
    if not rule.time then return nil end
  end
  if rule.month < 1 or rule.month > 12 or rule.week < 1 or rule.week > 5 or rule.day > 6 then return nil end
  return rule, pos
end

-- Parses a POSIX TZ rule: {std = utoff, dst = utoff or nil, start, finish}, or nil when it is
-- none this reader knows. POSIX offsets count west of Greenwich: CET-1 is UTC+1.
local function parse_posix(text)
  local pos = posix_name(text, 1)
  if not pos then return nil end
  local std, after = posix_time(text, pos)
  if not std then return nil end
  local rule = { std = -std }
  if after > #text then return rule end
  pos = posix_name(text, after)
  if not pos then return nil end
  local dst, after_dst = posix_time(text, pos)
  rule.dst = dst and -dst or rule.std + 3600
  pos = dst and after_dst or pos
  if text:sub(pos, pos) ~= "," then return nil end
  rule.start, pos = posix_date(text, pos + 1)
  if not rule.start or text:sub(pos, pos) ~= "," then return nil end
  rule.finish, pos = posix_date(text, pos + 1)
  if not rule.finish or pos <= #text then return nil end
  return rule
end

-- The epoch second at which a rule date of `year` happens, its time read at offset `utoff`.
local function rule_instant(date, year, utoff)
  local first = days_from_civil(year, date.month, 1)
  local first_weekday = (first + 4) % 7 -- 0 = Sunday; 1970-01-01 was a Thursday
  local day = 1 + (date.day - first_weekday) % 7 + 7 * (date.week - 1)
  while day > days_in_month(year, date.month) do day = day - 7 end
  return (first + day - 1) * 86400 + date.time - utoff
end

-- The UTC offset a POSIX rule gives at epoch second t.
local function posix_offset(rule, t)
  if not rule.dst then return rule.std, false end
  local year = 1970 + (t + rule.std) // 31556952
  -- the estimate can be a year off at its edges: settle it from the civil date
  while days_from_civil(year, 1, 1) * 86400 > t + rule.std do year = year - 1 end
  while days_from_civil(year + 1, 1, 1) * 86400 <= t + rule.std do year = year + 1 end
  local start, finish = rule_instant(rule.start, year, rule.std), rule_instant(rule.finish, year, rule.dst)
  local summer
  if start < finish then summer = t >= start and t < finish else summer = not (t >= finish and t < start) end
  return summer and rule.dst or rule.std, summer
end

-- TZif files -------------------------------------------------------------------------------

-- Reads a TZif file's data block (times of `size` bytes: 4 in version 1, 8 after) at `pos`.
local function read_block(bytes, pos, counts, size)
  local time_format = size == 4 and ">i4" or ">i8"
  local zone = { transitions = {}, kinds = {}, types = {} }
  for i = 1, counts.time do zone.transitions[i], pos = string.unpack(time_format, bytes, pos) end
  for i = 1, counts.time do zone.kinds[i], pos = string.unpack("B", bytes, pos) end
  for i = 1, counts.type do
    local utoff, isdst, index
    utoff, isdst, index, pos = string.unpack(">i4BB", bytes, pos)
    zone.types[i] = { utoff = utoff, isdst = isdst == 1, index = index }
  end
  pos = pos + counts.char + counts.leap * (size + 4) + counts.isstd + counts.isut
  return zone, pos
end

local function read_counts(bytes, pos)
  local isut, isstd, leap, time, type, char, after = string.unpack(">I4I4I4I4I4I4", bytes, pos + 20)
  return { isut = isut, isstd = isstd, leap = leap, time = time, type = type, char = char }, after
end

-- Parses the bytes of a TZif file: the zone, or nil and why.
local function parse_tzif(name, bytes)
  local ok, zone = pcall(function()
    local version = bytes:sub(5, 5)
    local counts, pos = read_counts(bytes, 1)
    local zone
    zone, pos = read_block(bytes, pos, counts, 4)
    if version >= "2" then -- version 2 and later repeat the data with 64-bit times, then the footer
      counts, pos = read_counts(bytes, pos)
      zone, pos = read_block(bytes, pos, counts, 8)
      zone.footer = bytes:match("^\n([^\n]*)\n", pos)
    end
    return zone
  end)
  if not ok or type(zone) ~= "table" or #zone.types == 0 then return nil, string.format("time zone '%s': its file cannot be read", name) end
  zone.name = name
  zone.rule = zone.footer and zone.footer ~= "" and parse_posix(zone.footer) or nil
  return zone
end

-- The UTC offset of `zone` at epoch second t, and whether it is summer time.
local function offset_at(zone, t)
  local transitions = zone.transitions
  local n = #transitions
  if n == 0 or t < transitions[1] then
    if n == 0 and zone.rule then return posix_offset(zone.rule, t) end
    local first = zone.types[1]
    return first.utoff, first.isdst
  end
  if t >= transitions[n] and zone.rule then return posix_offset(zone.rule, t) end
  local low, high = 1, n -- the last transition at or before t
  while low < high do
    local mid = (low + high + 1) // 2
    if transitions[mid] <= t then low = mid else high = mid - 1 end
  end
  local kind = zone.types[zone.kinds[low] + 1]
  return kind.utoff, kind.isdst
end

local Zone = {}
Zone.__index = Zone

--- The UTC offset in seconds at epoch second t, and whether it is summer time there.
function Zone:offset(t)
  return offset_at(self, math.floor(t))
end

--- The zone named `name`, or nil and why (no such zone, no tz database installed).
function M.get(name)
  local zone = loaded[name]
  if zone then return zone end
  local bytes, why = sys.read_zone(name)
  if not bytes then return nil, why end
  zone, why = parse_tzif(name, bytes)
  if not zone then return nil, why end
  loaded[name] = setmetatable(zone, Zone)
  return loaded[name]
end

M.parse_posix = parse_posix -- for specs

return M
