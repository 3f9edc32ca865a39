-- taskgate.net (src/net_lua.c): client addresses against networks, IPv4 and IPv6, as rules and
-- policies use it; bad networks are a rule's mistake (an error), bad addresses a client's (no match).
local runtime = require "helpers.runtime"

local net = runtime.native.net

describe("taskgate.net", function()
  it("matches IPv4 addresses against IPv4 networks at any prefix length", function()
    assert.is_true(net.in_cidr("10.1.2.3", "10.0.0.0/8"))
    assert.is_false(net.in_cidr("11.1.2.3", "10.0.0.0/8"))
    assert.is_true(net.in_cidr("192.168.1.130", "192.168.1.128/25"))
    assert.is_false(net.in_cidr("192.168.1.127", "192.168.1.128/25"))
    assert.is_true(net.in_cidr("203.0.113.9", "0.0.0.0/0"))
    assert.is_true(net.in_cidr("10.20.0.15", "10.20.0.15"))
    assert.is_false(net.in_cidr("10.20.0.16", "10.20.0.15/32"))
  end)

  it("reads host bits of a network as cleared", function()
    assert.is_true(net.in_cidr("10.9.9.9", "10.1.2.3/8"))
  end)

  it("matches IPv6, with brackets and zones as clients and logs write them", function()
    assert.is_true(net.in_cidr("2001:db8::1", "2001:db8::/32"))
    assert.is_false(net.in_cidr("2001:db9::1", "2001:db8::/32"))
    assert.is_true(net.in_cidr("[::1]", "::1/128"))
    assert.is_true(net.in_cidr("fe80::1%eth0", "fe80::/10"))
  end)

  it("matches a dual-stack listener's IPv4-mapped client against an IPv4 network", function()
    assert.is_true(net.in_cidr("::ffff:10.1.2.3", "10.0.0.0/8"))
    assert.is_true(net.in_cidr("10.1.2.3", "::ffff:10.0.0.0/104"))
    assert.is_false(net.in_cidr("::10.1.2.3", "10.0.0.0/8"))
  end)

  it("does not match what is no address, and raises for what is no network", function()
    for _, client in ipairs({ "spec", "", "10.1.2", "10.1.2.3.4", "10.0.0.1/8", "::g", 42 }) do
      assert.is_false(net.in_cidr(client, "0.0.0.0/0"), tostring(client))
    end
    for _, network in ipairs({ "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/8x", "10/8", "x", "10.0.0.0/-1" }) do
      assert.has_error(function() net.in_cidr("10.0.0.1", network) end, nil, network)
    end
    assert.is_true(net.is_address("::1"))
    assert.is_false(net.is_address("localhost"))
  end)

  it("builds a matcher once that names the network that matched", function()
    local m = net.matcher({ "10.0.0.0/8", "2001:db8::/32", "192.0.2.7" })
    assert.same({ true, "2001:db8::/32" }, { m("2001:db8:1::5") })
    assert.same({ true, "192.0.2.7" }, { m("192.0.2.7") })
    assert.same({ false }, { m("192.0.2.8") })
    assert.has_error(function() net.matcher({ "10.0.0.0/8", "nonsense" }) end)
    assert.has_error(function() net.matcher({ 42 }) end)
    assert.is_false(getmetatable(m))
  end)
end)
