-- Named time zones (lua/taskgate/zones.lua on the system's tz database) and the policies' time
-- windows (clock.window): summer time both ways, the southern hemisphere, the POSIX rule past the
-- file's last transition, and the names that must never reach the file system.
local runtime = require "helpers.runtime" -- sets package.path/cpath for this checkout
local testing = require "taskgate.testing"

local root = os.getenv("TASKGATE_ROOT") or "."

describe("time zones", function()
  local site, clock, zones
  setup(function()
    site = testing.open(root .. "/rules")
    clock, zones = site.clock, require "taskgate.zones"
  end)
  teardown(function() site.close() end)

  local function at(text, zone)
    local p = clock.parts(clock.parse(text), zone)
    return string.format("%04d-%02d-%02d %02d:%02d w%d %+d", p.year, p.month, p.day, p.hour, p.min, p.weekday, p.offset // 60)
  end

  it("gives local time in Berlin in winter and in summer, across both changes", function()
    assert.equal("2024-01-07 02:30 w7 +60", at("2024-01-07T01:30:00Z", "Europe/Berlin"))
    assert.equal("2024-03-31 01:59 w7 +60", at("2024-03-31T00:59:59Z", "Europe/Berlin"))
    assert.equal("2024-03-31 03:00 w7 +120", at("2024-03-31T01:00:00Z", "Europe/Berlin"))
    assert.equal("2024-10-27 02:59 w7 +120", at("2024-10-27T00:59:59Z", "Europe/Berlin"))
    assert.equal("2024-10-27 02:00 w7 +60", at("2024-10-27T01:00:00Z", "Europe/Berlin"))
  end)

  it("knows the southern hemisphere and zones west of Greenwich", function()
    assert.equal("2024-01-15 11:00 w1 +660", at("2024-01-15T00:00:00Z", "Australia/Sydney"))
    assert.equal("2024-07-15 10:00 w1 +600", at("2024-07-15T00:00:00Z", "Australia/Sydney"))
    assert.equal("2024-07-14 20:00 w7 -240", at("2024-07-15T00:00:00Z", "America/New_York"))
    assert.equal("2024-07-15 05:30 w1 +330", at("2024-07-15T00:00:00Z", "Asia/Kolkata"))
  end)

  it("follows the zone's rule past the last transition its file lists", function()
    assert.equal("2100-07-01 02:00 w4 +120", at("2100-07-01T00:00:00Z", "Europe/Berlin"))
    assert.equal("2100-01-01 01:00 w5 +60", at("2100-01-01T00:00:00Z", "Europe/Berlin"))
    assert.equal("2100-01-01 11:00 w5 +660", at("2100-01-01T00:00:00Z", "Australia/Sydney"))
  end)

  it("reads POSIX rules as the tz database writes them", function()
    assert.same({ std = 3600, dst = 7200, start = { month = 3, week = 5, day = 0, time = 7200 },
      finish = { month = 10, week = 5, day = 0, time = 10800 } }, zones.parse_posix("CET-1CEST,M3.5.0,M10.5.0/3"))
    assert.same({ std = 10800 }, zones.parse_posix("<+03>-3"))
    assert.same({ std = 0 }, zones.parse_posix("UTC0"))
    assert.is_nil(zones.parse_posix("CET-1CEST,J60,J300"))
  end)

  it("refuses unknown zones and names that are no zone, when the rule loads", function()
    for _, name in ipairs({ "Mars/Olympus", "../../etc/passwd", "/etc/passwd", "Europe/../../etc/passwd", "", "Europe/.hidden" }) do
      local ok, why = pcall(clock.zone, name)
      assert.is_false(ok, name)
      assert.matches("time zone", why, 1, true)
    end
  end)

  it("opens windows on the days they begin, across midnight too", function()
    local sunday_night = clock.window({ zone = "Europe/Berlin", days = { "sun" }, from = "22:00", to = "06:00" })
    assert.is_true(sunday_night:contains(clock.parse("2024-05-05T22:30:00+02:00")))
    assert.is_true(sunday_night:contains(clock.parse("2024-05-06T05:59:00+02:00"))) -- Monday morning
    assert.is_false(sunday_night:contains(clock.parse("2024-05-06T06:00:00+02:00")))
    assert.is_false(sunday_night:contains(clock.parse("2024-05-05T05:00:00+02:00"))) -- Saturday's night is not in it
    local office = clock.window({ zone = "America/Chicago", days = { "mon", "tue", "wed", "thu", "fri" }, from = "08:00", to = "17:00" })
    assert.is_true(office:contains(clock.parse("2024-05-06T13:00:00Z"))) -- 08:00 CDT
    assert.is_false(office:contains(clock.parse("2024-05-06T12:59:59Z")))
    assert.is_false(office:contains(clock.parse("2024-05-04T15:00:00Z"))) -- a Saturday
  end)

  it("refuses a window it cannot read", function()
    assert.has_error(function() clock.window({ from = "25:00", to = "04:00" }) end)
    assert.has_error(function() clock.window({ from = "02:00", to = "02:00" }) end)
    assert.has_error(function() clock.window({ from = "02:00", to = "04:00", days = { "sunday" } }) end)
    assert.has_error(function() clock.window({ zone = "Nowhere/At_All", from = "02:00", to = "04:00" }) end)
  end)
end)
