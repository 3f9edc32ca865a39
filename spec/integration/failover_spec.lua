-- Several upstreams (--upstream PRIMARY,SECONDARY): health from probes and calls, failover to
-- the next one up, never a second sending of a call that may have reached the first, and what
-- /healthz, /status and /metrics say about it.
local gateway = require "helpers.gateway"
local socket = require "socket"

local F = gateway.fault
local echo = gateway.upstream_echo

-- /healthz on the task port, as a load balancer sees it: {status, body}.
local function health(gw)
  local status, body = gateway.get(gw.port, "/healthz")
  return { status, body }
end

-- A gateway in front of two upstreams, probing every 0.2 s unless extra says otherwise.
local function bridge(primary, secondary, extra)
  local probe = (extra or ""):find("--upstream-probe-interval", 1, true) and "" or "--upstream-probe-interval 0.2"
  return gateway.start({ args = string.format("--upstream %s,%s %s --upstream-connect-timeout 0.5 %s",
    primary.url, secondary.url, probe, extra or "") })
end

describe("several upstreams", function()
  it("send the calls to the primary while it is up", function()
    local a, b = gateway.fake_upstream("ok"), gateway.fake_upstream("ok")
    local gw = bridge(a, b)
    assert.equal(echo(1), gw:cancel(1))
    assert.equal(echo(2), gw:cancel(2))
    assert.equal(1, a:count(1))
    assert.equal(1, a:count(2))
    assert.equal(0, b:count(1) + b:count(2))
    gw:stop(); a:stop(); b:stop()
  end)

  it("send a call on to the secondary when the primary cannot be reached", function()
    local a, b = gateway.fake_upstream("ok"), gateway.fake_upstream("ok")
    local gw = bridge(a, b, "--upstream-probe-interval 3600") -- only the call can find the primary gone
    assert.equal(echo(1), gw:cancel(1))
    a:stop("KILL")
    assert.equal(echo(2), gw:cancel(2)) -- refused by the primary, so nothing reached it: the secondary answers
    assert.equal(1, b:count(2))
    assert.matches("event=upstream_failover from=" .. a.url:gsub("%p", "%%%0"), gw:log())
    assert.equal("down", gw:status().upstreams[1].state)
    assert.equal(echo(3), gw:cancel(3)) -- straight to the secondary while the primary is down
    assert.equal(1, b:count(3))
    gw:stop(); b:stop()
  end)

  it("send the calls back to the primary once the probe finds it up again", function()
    local a, b = gateway.fake_upstream("ok"), gateway.fake_upstream("ok")
    local gw = bridge(a, b)
    local port = a.port
    a:stop("KILL")
    gw:wait_for_upstream(1, "down")
    assert.equal(echo(3), gw:cancel(3))
    assert.equal(1, b:count(3))
    local revived = gateway.fake_upstream("ok", { port = port })
    gw:wait_for_upstream(1, "up") -- the probe found it
    assert.equal(echo(4), gw:cancel(4))
    assert.equal(1, revived:count(4))
    assert.equal(0, b:count(4))
    assert.matches("event=upstream_up upstream=" .. a.url:gsub("%p", "%%%0"), gw:log())
    gw:stop(); revived:stop(); b:stop()
  end)

  it("never send a call to the secondary when it may have reached the primary", function()
    local a, b = gateway.fake_upstream("close_after_read"), gateway.fake_upstream("ok")
    local gw = bridge(a, b)
    assert.equal(F(1922), gw:cancel(7))
    assert.equal(1, a:count(7))
    assert.equal(0, b:count(7))
    assert.matches('msg="upstream outcome unknown"', gw:log(), 1, true)
    gw:stop(); a:stop(); b:stop()
  end)

  it("answer 1922 when none can be reached, having tried each once", function()
    local a, b = gateway.fake_upstream("ok"), gateway.fake_upstream("ok")
    local gw = bridge(a, b)
    a:stop("KILL")
    b:stop("KILL")
    assert.equal(F(1922), gw:cancel(1))
    assert.matches('msg="upstream unavailable"', gw:log(), 1, true)
    gw:stop()
  end)

  it("show each upstream's state, last error and latency in /status", function()
    local a, b = gateway.fake_upstream("ok"), gateway.fake_upstream("ok")
    local gw = bridge(a, b)
    gw:cancel(1)
    a:stop("KILL")
    gw:wait_for_upstream(1, "down")
    local status = gw:status()
    assert.equal(a.url, status.upstream) -- the primary, as with one upstream
    local primary, secondary = status.upstreams[1], status.upstreams[2]
    assert.equal(a.url, primary.url)
    assert.equal("connection refused", primary.last_error)
    assert.is_true(primary.failures >= 1)
    assert.is_true(primary.since > 0)
    assert.equal(b.url, secondary.url)
    assert.equal("up", secondary.state)
    assert.is_true(secondary.latency_ms >= 0)
    gw:stop(); b:stop()
  end)

  it("show each upstream's health in /metrics", function()
    local a, b = gateway.fake_upstream("ok"), gateway.fake_upstream("ok")
    local gw = bridge(a, b)
    gw:cancel(1)
    b:stop("KILL")
    gw:wait_for_upstream(2, "down")
    local _, metrics = gw:admin("/metrics")
    assert.equal(1, gateway.metric(metrics, 'taskgate_upstream_up{upstream="' .. a.url .. '"}'))
    assert.equal(0, gateway.metric(metrics, 'taskgate_upstream_up{upstream="' .. b.url .. '"}'))
    assert.is_true(gateway.metric(metrics, 'taskgate_upstream_latency_seconds{upstream="' .. a.url .. '"}') >= 0)
    assert.is_true(gateway.metric(metrics, 'taskgate_upstream_failures_total{upstream="' .. b.url .. '"}') >= 1)
    gw:stop(); a:stop()
  end)

  it("make /healthz say degraded while one is down, 503 while none is up, and ok again", function()
    local a, b = gateway.fake_upstream("ok"), gateway.fake_upstream("ok")
    local gw = bridge(a, b)
    gw:wait_for_upstream(2, "up")
    assert.same({ 200, "ok\n" }, health(gw))
    local port = a.port
    a:stop("KILL")
    gw:wait_for_upstream(1, "down")
    assert.same({ 200, "degraded\n" }, health(gw))
    b:stop("KILL")
    gw:wait_for_upstream(2, "down")
    assert.same({ 503, "no upstream up\n" }, health(gw))
    local revived = gateway.fake_upstream("ok", { port = port })
    gw:wait_for_upstream(1, "up")
    assert.same({ 200, "degraded\n" }, health(gw))
    gw:stop(); revived:stop()
  end)

  it("keep an upstream that fails calls but answers probes down for three probe intervals, and /healthz says so", function()
    local a = gateway.fake_upstream("garbage") -- answers HEAD well, every call with garbage
    local gw = gateway.start({ args = "--upstream " .. a.url .. " --upstream-probe-interval 1" })
    assert.equal(F(1922), gw:cancel(1))
    local failed = socket.gettime()
    socket.sleep(2.1) -- two probes answered meanwhile
    assert.equal("down", gw:status().upstreams[1].state)
    assert.equal(503, health(gw)[1])
    assert.is_true(socket.gettime() - failed < 3, "the check came too late to mean anything")
    gw:wait_for_upstream(1, "up") -- a probe past the hold brings it back, for calls to test again
    assert.is_true(socket.gettime() - failed >= 3)
    gw:stop(); a:stop()
  end)

  it("mark an upstream down when it answers 5xx, and send the next calls elsewhere", function()
    local a, b = gateway.fake_upstream("status_500"), gateway.fake_upstream("ok")
    local gw = gateway.start({ args = string.format("--upstream %s,%s --upstream-probe-interval 60", a.url, b.url) })
    assert.equal(F(1922), gw:cancel(1)) -- it reached the primary: not sent again
    assert.equal(0, b:count(1))
    assert.equal("down", gw:status().upstreams[1].state)
    assert.equal("HTTP 500", gw:status().upstreams[1].last_error)
    assert.equal(echo(2), gw:cancel(2))
    assert.equal(1, b:count(2))
    gw:stop(); a:stop(); b:stop()
  end)
end)
