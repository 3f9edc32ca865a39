-- Conformance: every method and fault of the task interface, as request -> exact reply,
-- against the real binary. The steps run in order on one gateway; each builds on the last.
local gateway = require "helpers.gateway"

local steps = require "helpers.conformance_steps"
local F = gateway.fault

describe("task interface conformance", function()
  local gw
  setup(function() gw = gateway.start() end)
  teardown(function() gw:stop() end)

  for i, step in ipairs(steps) do
    it(string.format("%02d %s: %s", i, step[2], step[1]), function()
      assert.equal(step[4], gw:call(step[2], step[3]))
    end)
  end

  it("answers no method of the reference with 'unknown method'", function()
    for _, method in ipairs({ "cancel_task", "create_taskgroup", "add_task", "update_taskgroup", "cancel_taskgroup",
      "gettaskinfo", "openport", "closeport", "openbin", "closebin", "getportstatus" }) do
      assert.are_not.equal(F(1901), gw:call(method, ""), method)
    end
  end)
end)
