-- Calls waiting on an upstream while the gateway stops, reloads its rules or its certificate,
-- or marks the upstream down: every client gets an answer it can act on, never silence and
-- never a false acknowledgment.
local gateway = require "helpers.gateway"
local socket = require "socket"
local tls = require "helpers.tls"

local F = gateway.fault

local function echo(task_id)
  return string.format('<?xml version="1.0"?>\n<response>\n  <params>\n    <task_id>%s</task_id>\n  </params>\n</response>\n',
    task_id)
end

local function cancel_request(task_id)
  return gateway.post_request(gateway.methodcall("cancel_task", "<task_id>" .. task_id .. "</task_id>"))
end

-- Sends a cancel_task on a connection of its own and returns the connection, once the upstream
-- has read the call (so that it is in flight).
local function send_cancel(gw, upstream, task_id)
  local conn = gw:connect()
  conn:settimeout(20)
  assert(conn:send(cancel_request(task_id)))
  for _ = 1, 1000 do
    if upstream:count(task_id) > 0 then return conn end
    socket.sleep(0.01)
  end
  error("the upstream never read task " .. task_id)
end

local function wait_until(what, check)
  for _ = 1, 1000 do
    if check() then return end
    socket.sleep(0.02)
  end
  error("waited in vain for " .. what)
end

local function audit_of(gw)
  return (gateway.run(gateway.binary .. " audit --store " .. gw.store))
end

-- After its reply, a draining gateway closes the connection: the next read finds it closed.
local function assert_closed(conn)
  conn:settimeout(5)
  local _, err = conn:receive(1)
  assert.equal("closed", err)
  conn:close()
end

describe("a SIGTERM while a call waits on the upstream", function()
  it("gives the call the upstream's reply when it comes before the drain deadline, then exits", function()
    local up = gateway.fake_upstream("slow", { delay = 1 })
    local gw = gateway.start({ args = "--upstream " .. up.url .. " --drain-timeout 10" })
    local conn = send_cancel(gw, up, 5)
    os.execute("kill -TERM " .. gw.pid)
    local status, _, body = gateway.read_response(conn)
    assert.equal(200, status)
    assert.equal(echo(5), body)
    assert_closed(conn)
    wait_until("the gateway to exit", function() return not gw:alive() end)
    assert.equal(1, up:count(5))
    assert.not_matches("drain_deadline", gw:log())
    up:stop()
  end)

  it("answers 1922 at the deadline, says the outcome is unknown, closes the connection and exits", function()
    local up = gateway.fake_upstream("slow", { delay = 8 })
    local gw = gateway.start({ args = "--upstream " .. up.url .. " --drain-timeout 0.5" })
    local conn = send_cancel(gw, up, 6)
    local signalled = socket.gettime()
    os.execute("kill -TERM " .. gw.pid)
    local status, _, body = gateway.read_response(conn)
    local took = socket.gettime() - signalled
    assert.equal(200, status)
    assert.equal(F(1922), body)
    assert.is_true(took >= 0.4 and took < 3, "answered after " .. took .. " s")
    assert_closed(conn)
    wait_until("the gateway to exit", function() return not gw:alive() end)
    local log = gw:log()
    local warning = log:match('[^\n]*msg="upstream outcome unknown"[^\n]*')
    assert.matches('reason="gateway stopping"', warning, 1, true)
    assert.matches("event=drain_deadline", log)
    assert.matches("upstream outcome unknown: gateway stopping", audit_of(gw), 1, true)
    assert.equal(1, up:count(6)) -- sent once, never again
    up:stop()
  end)

  it("answers every worker's waiting calls at the deadline", function()
    local up = gateway.fake_upstream("slow", { delay = 8 })
    local gw = gateway.start({ args = "--upstream " .. up.url .. " --drain-timeout 0.5 --workers 3" })
    local conns = {}
    for i = 1, 6 do conns[i] = send_cancel(gw, up, 10 + i) end
    os.execute("kill -TERM " .. gw.pid)
    for i = 1, 6 do
      local status, _, body = gateway.read_response(conns[i])
      assert.equal(200, status)
      assert.equal(F(1922), body)
      assert_closed(conns[i])
    end
    wait_until("the gateway to exit", function() return not gw:alive() end)
    up:stop()
  end)

  it("lets a rule waiting on http.request answer what it makes of the failure", function()
    local up = gateway.fake_upstream("slow", { delay = 8 })
    local notify = [[
return function(call)
  local answer, why, sent = http.request{ url = call.params.url, body = "<task_id>7</task_id>" }
  if answer then return { status = answer.status } end
  return { error = why, maybe_sent = tostring(sent) }
end
]]
    local gw = gateway.start({ rules = gateway.rules_dir({ notify = notify }), args = "--drain-timeout 0.5" })
    local conn = gw:connect()
    conn:settimeout(20)
    conn:send(gateway.post_request(gateway.methodcall("notify", "<url>" .. up.url .. "</url>")))
    wait_until("the request to reach the upstream", function() return up:count(7) == 1 end)
    os.execute("kill -TERM " .. gw.pid)
    local status, _, body = gateway.read_response(conn)
    assert.equal(200, status)
    assert.matches("<error>gateway stopping</error>", body, 1, true)
    assert.matches("<maybe_sent>true</maybe_sent>", body, 1, true)
    assert_closed(conn)
    wait_until("the gateway to exit", function() return not gw:alive() end)
    up:stop()
  end)
end)

describe("a call waiting on the upstream", function()
  it("is answered by the generation it started on when the rules reload meanwhile", function()
    local rule = [[
return function(call)
  local reply, why = upstream.call("cancel_task", call.params)
  return { generation = "%s", task_id = reply and reply.params.task_id, why = why }
end
]]
    local rules = gateway.rules_dir({ ask = rule:format("one") })
    local up = gateway.fake_upstream("slow", { delay = 1.5 })
    local gw = gateway.start({ rules = rules, args = "--upstream " .. up.url })
    local conn = gw:connect()
    conn:settimeout(20)
    conn:send(gateway.post_request(gateway.methodcall("ask", "<task_id>21</task_id>")))
    wait_until("the call to reach the upstream", function() return up:count(21) == 1 end)
    gateway.write_file(rules .. "/ask.lua", rule:format("two"))
    os.execute("kill -HUP " .. gw.pid)
    wait_until("the reload", function() return gw:log():find("event=reloaded", 1, true) ~= nil end)
    local status, _, body = gateway.read_response(conn)
    assert.equal(200, status)
    assert.matches("<generation>one</generation>", body, 1, true)
    assert.matches("<task_id>21</task_id>", body, 1, true)
    conn:close()
    assert.matches("<generation>two</generation>", gw:call("ask", "<task_id>22</task_id>"), 1, true)
    gw:stop()
    up:stop()
  end)

  it("gets its reply over HTTPS when the listener's certificate is renewed meanwhile (SIGHUP)", function()
    local ca = tls.ca()
    local first = tls.issue(ca, "127.0.0.1")
    local dir = gateway.tmpdir()
    local live = { cert = dir .. "/live.crt", key = dir .. "/live.key" }
    gateway.write_file(live.cert, gateway.read_file(first.cert))
    gateway.write_file(live.key, gateway.read_file(first.key))
    local up = gateway.fake_upstream("slow", { delay = 1.5 })
    local gw = gateway.start({ args = string.format("--upstream %s --tls-cert %s --tls-key %s", up.url, live.cert,
      live.key) })
    local body = gateway.methodcall("cancel_task", "<task_id>31</task_id>")
    local before = tls.post_later(gw.port, ca, body)
    wait_until("the call to reach the upstream", function() return up:count(31) == 1 end)
    local renewed = tls.issue(ca, "127.0.0.1")
    gateway.write_file(live.cert, gateway.read_file(renewed.cert))
    gateway.write_file(live.key, gateway.read_file(renewed.key))
    os.execute("kill -HUP " .. gw.pid)
    wait_until("the new certificate", function() return gw:log():find("event=tls_reloaded", 1, true) ~= nil end)
    local result = before()
    assert.is_nil(result.error)
    assert.equal(200, result.replies[1].status)
    assert.equal(echo(31), result.replies[1].body)
    local after = tls.post(gw.port, ca, gateway.methodcall("cancel_task", "<task_id>32</task_id>"))
    assert.are_not.equal(result.cert_sha256, after.cert_sha256)
    assert.equal(echo(32), after.replies[1].body)
    gw:stop()
    up:stop()
  end)

  it("gets its reply when a probe marks that upstream down meanwhile; later calls go to the next", function()
    local sick = gateway.fake_upstream("slow_sick", { delay = 2.5 }) -- answers calls slowly, probes 503
    local spare = gateway.fake_upstream("ok")
    local gw = gateway.start({ args = string.format("--upstream %s,%s --upstream-probe-interval 0.2", sick.url,
      spare.url) })
    local conn = send_cancel(gw, sick, 41)
    wait_until("the upstream marked down", function() return gw:log():find("event=upstream_down", 1, true) ~= nil end)
    assert.equal(echo(42), gw:call("cancel_task", "<task_id>42</task_id>"))
    local status, _, body = gateway.read_response(conn)
    assert.equal(200, status)
    assert.equal(echo(41), body)
    conn:close()
    assert.equal(1, sick:count(41))
    assert.equal(0, spare:count(41))
    assert.equal(0, sick:count(42))
    gw:stop()
    sick:stop()
    spare:stop()
  end)
end)
