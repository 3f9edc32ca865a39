-- A primary whose health probe (HEAD) is answered but whose calls (POST) fail: each way of
-- failing marks it down, the call that failed there is never sent again (its outcome is unknown:
-- 1922), the next calls go to the secondary, and the probes bring it back only after a hold
-- that grows with every call it fails.
local gateway = require "helpers.gateway"
local socket = require "socket"

local F = gateway.fault
local echo = gateway.upstream_echo

-- A gateway in front of primary and secondary; the probes (every 60 s) answered.
local function bridge(primary, secondary, extra)
  local gw = gateway.start({ args = string.format("--upstream %s,%s --upstream-probe-interval 60 %s", primary.url,
    secondary.url, extra or "") })
  return gw
end

-- The primary (in mode) fails call 1, which the secondary never sees; the primary is down with
-- last_error; call 2 goes to the secondary.
local function fails_over_after(mode, last_error, extra)
  local a, b = gateway.fake_upstream(mode), gateway.fake_upstream("ok")
  local gw = bridge(a, b, extra)
  assert.equal(F(1922), gw:cancel(1))
  assert.equal(1, a:count(1))
  assert.equal(0, b:count(1)) -- it may have been executed: never sent again
  assert.matches('msg="upstream outcome unknown"', gw:log(), 1, true)
  local primary = gw:status().upstreams[1]
  assert.equal("down", primary.state)
  if last_error then assert.matches(last_error, primary.last_error, 1, true) end
  assert.equal(echo(2), gw:cancel(2))
  assert.equal(1, b:count(2))
  assert.equal(0, a:count(2))
  assert.matches("event=upstream_down upstream=" .. a.url, gw:log(), 1, true)
  gw:stop(); a:stop(); b:stop()
end

describe("a primary that answers its probes but fails the calls", function()
  it("is marked down when it resets the connection after reading a call", function()
    fails_over_after("reset_after_read", nil) -- "connection reset" or "... without a reply", as the kernel tells it
  end)

  it("is marked down when it answers 500", function()
    fails_over_after("status_500", "HTTP 500")
  end)

  it("is marked down when it answers 204 No Content", function()
    fails_over_after("status_204", "HTTP 204")
  end)

  it("is marked down when it answers a redirect, which is not followed", function()
    fails_over_after("status_302", "HTTP 302")
  end)

  it("is marked down when it answers something that is not HTTP", function()
    fails_over_after("garbage", "malformed HTTP reply")
  end)

  it("fails the call at once when it switches protocols unasked, and is marked down", function()
    local started = socket.gettime()
    fails_over_after("switching_held", "upstream answered HTTP 101 Switching Protocols", "--upstream-reply-timeout 60")
    -- the 101 came at once and the connection stayed open: the call must not wait for the reply
    -- timeout (60 s) or for the fake to give up (60 s)
    assert.is_true(socket.gettime() - started < 30, "the call waited on the switched connection")
  end)

  it("stays up when it answers a 4xx, which judges the request and not the upstream", function()
    local a, b = gateway.fake_upstream("status_413"), gateway.fake_upstream("ok")
    local gw = bridge(a, b)
    assert.equal(F(1922), gw:cancel(1))
    assert.equal("up", gw:status().upstreams[1].state)
    assert.equal(F(1922), gw:cancel(2))
    assert.equal(1, a:count(2)) -- still the primary's
    assert.equal(0, b:count(1) + b:count(2))
    gw:stop(); a:stop(); b:stop()
  end)

  it("is brought back by its probes after a hold that doubles with each call it fails", function()
    local a = gateway.fake_upstream("garbage")
    local gw = gateway.start({ args = "--upstream " .. a.url .. " --upstream-probe-interval 0.2" })
    assert.equal(F(1922), gw:cancel(1))
    local failed = socket.gettime()
    assert.equal(1, gw:status().upstreams[1].calls_failed_in_a_row)
    gw:wait_for_upstream(1, "up", 10) -- three probe intervals (0.6 s) after the failed call
    assert.is_true(socket.gettime() - failed >= 0.6)
    assert.equal(F(1922), gw:cancel(2))
    failed = socket.gettime()
    assert.equal(2, gw:status().upstreams[1].calls_failed_in_a_row)
    gw:wait_for_upstream(1, "up", 10)
    assert.is_true(socket.gettime() - failed >= 1.2, "the second hold was not twice the first")
    assert.equal(F(1922), gw:cancel(3))
    failed = socket.gettime()
    assert.equal(3, gw:status().upstreams[1].calls_failed_in_a_row)
    gw:wait_for_upstream(1, "up", 10)
    assert.is_true(socket.gettime() - failed >= 2.4, "the third hold was not twice the second")
    gw:stop(); a:stop()
  end)

  it("counts its failed calls afresh once it answers one", function()
    local a = gateway.fake_upstream("garbage")
    local port = a.port
    local gw = gateway.start({ args = "--upstream " .. a.url .. " --upstream-probe-interval 60" })
    assert.equal(F(1922), gw:cancel(1))
    assert.equal(F(1922), gw:cancel(2)) -- down, but the only one: still tried
    assert.equal(2, gw:status().upstreams[1].calls_failed_in_a_row)
    a:stop("KILL")
    local mended = gateway.fake_upstream("ok", { port = port })
    assert.equal(echo(3), gw:cancel(3))
    local primary = gw:status().upstreams[1]
    assert.equal(0, primary.calls_failed_in_a_row)
    assert.equal("up", primary.state)
    gw:stop(); mended:stop()
  end)
end)
