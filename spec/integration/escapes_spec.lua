-- What an outside review found still open after the runtime was frozen: an xpcall message
-- handler ran inside the time limit's raise with the hook off (a loop in it froze the gateway),
-- and the methods of shared dicts, rate limiters and clock windows could be replaced through
-- their objects' metatables for every later call.
local gateway = require "helpers.gateway"
local socket = require "socket"

local OK, F = gateway.OK, gateway.fault

describe("a rule cannot escape its call", function()
  local rules = {
    xpcall_spin = "return function(call) xpcall(function() while true do end end, "
      .. "function(e) while true do end end) return {} end",
    xpcall_error_spin = "return function(call) xpcall(function() error('x') end, "
      .. "function(e) while true do end end) return {} end",
    xpcall_plain = "return function(call) local ok, m = xpcall(function() error('x', 0) end, "
      .. "function(e) return 'handled ' .. e end) return { ok = tostring(ok), m = m } end",
    reach_methods = [[return function(call)
  local hidden = getmetatable(shared.dict("a")) == false and getmetatable(ratelimit.new("r", { rate = 5 })) == false
    and getmetatable(clock.window({ from = "08:00", to = "17:00" })) == false
  local dict = shared.dict("a")
  local replaced = pcall(function() dict.__index.get = function() return "HACKED" end end)
  return { hidden = tostring(hidden), replaced = tostring(replaced and dict.__index ~= nil) }
end]],
  }

  for _, name in ipairs({ "xpcall_spin", "xpcall_error_spin" }) do
    it("stops a looping xpcall message handler at the limit (" .. name .. ") and keeps serving", function()
      local gw = gateway.start({ rules = gateway.rules_dir(rules) })
      local started = socket.gettime()
      assert.equal(F(1999), gw:call(name, ""))
      assert.is_true(socket.gettime() - started < 2, "answered within the limit's order")
      assert.equal(F(1017), gw:call("cancel_task", "<task_id>5</task_id>"))
      gw:stop()
    end)
  end

  it("still hands the handler the error and returns what it gives", function()
    local gw = gateway.start({ rules = gateway.rules_dir(rules) })
    local reply = gw:call("xpcall_plain", "")
    gw:stop()
    assert.matches("<ok>false</ok>", reply, 1, true)
    assert.matches("<m>handled x</m>", reply, 1, true)
  end)

  it("hides the methods of shared dicts, rate limiters and clock windows", function()
    local gw = gateway.start({ rules = gateway.rules_dir(rules) })
    local reply = gw:call("reach_methods", "")
    gw:stop()
    assert.matches("<hidden>true</hidden>", reply, 1, true)
    assert.matches("<replaced>false</replaced>", reply, 1, true)
  end)
end)
