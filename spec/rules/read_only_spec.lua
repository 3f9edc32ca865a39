-- Which methods only read (taskgate.interfaces.read_only): the gateway runs their calls on a read
-- connection (spec/integration/reads_spec.lua: a rule of one that writes gets 1999).
local runtime = require "helpers.runtime"

describe("read-only methods", function()
  it("are the queries of both endpoints, wherever each endpoint answers them", function()
    local rt = runtime.new()
    local listed = {}
    for entry in rt.host.read_only_methods():gmatch("[^\t]+") do listed[#listed + 1] = entry end
    runtime.close(rt)
    assert.same({
      "bin:getbininfo", "bin:getbinloc", "bin:getbinstate", "bin:getportqueue", "bin:getportstatus",
      "task:getbininfo", "task:getbinloc", "task:getbinstate", "task:getportqueue", "task:getportstatus",
      "task:gettaskinfo",
    }, listed)
  end)
end)
