-- Bridge mode against upstreams that misbehave (spec/helpers/fake_upstream.py): every reply
-- reaches the caller it belongs to, and a call that may have reached the upstream is never sent
-- to it a second time.
local gateway = require "helpers.gateway"
local socket = require "socket"

local F = gateway.fault
local echo = gateway.upstream_echo

-- A gateway in front of a fake upstream in `mode`.
local function bridge(mode, extra)
  local fake = gateway.fake_upstream(mode)
  local gw = gateway.start({ args = "--upstream " .. fake.url .. " " .. (extra or "") })
  return gw, fake
end

local function stop(gw, fake)
  gw:stop()
  fake:stop()
end

describe("the upstream client", function()
  it("passes the reply back after 100 Continue and 102 Processing", function()
    local gw, fake = bridge("continue")
    assert.equal(echo(101), gw:cancel(101))
    assert.equal(echo(200), gw:cancel(200)) -- the pooled connection carries the next call
    assert.equal(1, fake:count(200))
    stop(gw, fake)
  end)

  it("never hands a reply sent twice to the next caller", function()
    local gw, fake = bridge("double")
    for _, task_id in ipairs({ 101, 200, 300, 400 }) do
      assert.equal(echo(task_id), gw:cancel(task_id))
      socket.sleep(0.1) -- the second copy arrives while the connection is idle in the pool
    end
    stop(gw, fake)
  end)

  it("never hands bytes sent on an idle connection to the next caller", function()
    local gw, fake = bridge("idle_bytes")
    assert.equal(echo(101), gw:cancel(101))
    socket.sleep(0.1) -- an unsolicited reply for task 999 follows on the connection
    assert.equal(echo(200), gw:cancel(200))
    assert.equal(1, fake:count(200))
    stop(gw, fake)
  end)

  it("does not send a call again when the upstream closes the connection after reading it", function()
    local gw, fake = bridge("close_after_read")
    assert.equal(F(1922), gw:cancel(200)) -- read by the upstream, then the connection closed
    assert.equal(1, fake:count(200)) -- and never sent again, on this or a new connection
    assert.matches('msg="upstream outcome unknown"', gw:log())
    assert.matches('reason="connection closed without a reply"', gw:log(), 1, true)
    stop(gw, fake)
  end)

  it("sends every call that may change state on a connection of its own", function()
    -- This upstream closes a reused connection after reading the request on it: a call sent
    -- there would be lost, and libcurl would send it again on a new one.
    local gw, fake = bridge("close_reused")
    for _, task_id in ipairs({ 101, 200, 300 }) do
      assert.equal(echo(task_id), gw:cancel(task_id))
      assert.equal(1, fake:count(task_id))
    end
    local requests = fake:requests()
    for i = 1, 3 do
      assert.equal(1, requests[i].seq)
      assert.equal("close", requests[i].headers.connection) -- the upstream closes first: its TIME_WAIT
    end
    stop(gw, fake)
  end)

  it("records in the audit trail that the outcome of such a call is unknown", function()
    local gw, fake = bridge("close_after_read")
    gw:cancel(200)
    local trail = gateway.run(gateway.binary .. " audit --store " .. gw.store)
    assert.matches('"forwarded":{"task_id":200},"upstream":"upstream outcome unknown: connection closed without a reply"',
      trail, 1, true)
    stop(gw, fake)
  end)

  it("reads an HTTP/1.0 reply that ends when the upstream closes", function()
    local gw, fake = bridge("http10")
    assert.equal(echo(101), gw:cancel(101))
    assert.equal(echo(200), gw:cancel(200))
    stop(gw, fake)
  end)

  it("answers 1922 to bytes that are not HTTP, and says the outcome is unknown", function()
    local gw, fake = bridge("garbage")
    assert.equal(F(1922), gw:cancel(101))
    assert.equal(1, fake:count(101))
    assert.matches('msg="upstream outcome unknown"', gw:log())
    assert.matches('reason="malformed HTTP reply"', gw:log(), 1, true)
    stop(gw, fake)
  end)

  it("answers 1922 to a reply over 1 MiB", function()
    local gw, fake = bridge("huge")
    assert.equal(F(1922), gw:cancel(101))
    assert.matches("reason=\"reply too large\"", gw:log())
    stop(gw, fake)
  end)

  it("answers 1922 to an HTTP error status without taking its body for a reply", function()
    local gw, fake = bridge("status_500")
    assert.equal(F(1922), gw:cancel(101))
    assert.matches("reason=\"upstream answered HTTP 500\"", gw:log())
    stop(gw, fake)
  end)

  it("answers 1922 at the reply timeout to a slow upstream, and does not send the call again", function()
    local gw, fake = bridge("slow", "--upstream-reply-timeout 1")
    local start = socket.gettime()
    assert.equal(F(1922), gw:cancel(101))
    local took = socket.gettime() - start
    assert.is_true(took > 0.9 and took < 2.5, "took " .. took)
    socket.sleep(2.5) -- the slow upstream answers into a closed connection
    assert.equal(1, fake:count(101))
    assert.matches('msg="upstream outcome unknown"', gw:log())
    assert.matches('reason="reply timeout"', gw:log(), 1, true)
    stop(gw, fake)
  end)

  it("passes the reply back after a 103 with headers and a 100 with headers, and after lines ended by LF alone", function()
    for _, mode in ipairs({ "early_hints", "bare_lf" }) do
      local gw, fake = bridge(mode)
      assert.equal(echo(101), gw:cancel(101))
      assert.equal(echo(200), gw:cancel(200))
      assert.equal(1, fake:count(101))
      stop(gw, fake)
    end
  end)

  -- Replies of a wrong shape: each is 1922, the call was read by the upstream and is never sent
  -- again, and the log says why and that its outcome is unknown.
  local wrong_shapes = {
    -- a 101 nobody asked for is no reply (failover_calls_spec: one whose connection stays open)
    switching = "upstream answered HTTP 101 Switching Protocols, which was not asked for",
    short_body = "connection closed mid-reply",
    two_lengths = "upstream's reply could not be read: malformed XML",
    bad_status = "malformed HTTP reply",
    bad_chunk = "connection reset",
    negative_length = "malformed HTTP reply",
    http09 = "malformed HTTP reply",
    -- well-formed, but not read: the reason says what the gateway could not take
    too_many_elements = "upstream's reply could not be read: too many elements",
    utf16 = "upstream's reply could not be read: a NUL byte (no XML holds one: UTF-16 or UCS-4)",
  }
  for mode, reason in pairs(wrong_shapes) do
    it("answers 1922 to a reply of a wrong shape (" .. mode .. "), sends nothing twice, and logs why", function()
      local gw, fake = bridge(mode)
      assert.equal(F(1922), gw:cancel(101))
      assert.equal(F(1922), gw:cancel(200))
      assert.equal(1, fake:count(101))
      assert.equal(1, fake:count(200))
      assert.matches('msg="upstream outcome unknown"', gw:log(), 1, true)
      assert.matches('reason="' .. reason .. '"', gw:log(), 1, true)
      stop(gw, fake)
    end)
  end

  it("answers 1922 at the reply timeout to a reply that trickles in, however steadily its bytes come", function()
    local gw, fake = bridge("trickle", "--upstream-reply-timeout 1")
    local start = socket.gettime()
    assert.equal(F(1922), gw:cancel(101))
    local took = socket.gettime() - start
    assert.is_true(took > 0.9 and took < 2.5, "took " .. took)
    assert.equal(1, fake:count(101))
    assert.matches('msg="upstream outcome unknown"', gw:log(), 1, true)
    assert.matches('reason="reply timeout"', gw:log(), 1, true)
    stop(gw, fake)
  end)

  it("gives each of many concurrent callers its own reply while the upstream sends extra ones", function()
    local gw, fake = bridge("double")
    local conns = {}
    for i = 1, 20 do
      conns[i] = gw:connect()
      conns[i]:send(gateway.post_request(gateway.methodcall("cancel_task", "<task_id>" .. (1000 + i) .. "</task_id>")))
    end
    for i = 1, 20 do
      local status, _, body = gateway.read_response(conns[i])
      assert.equal(200, status)
      assert.equal(echo(1000 + i), body)
      conns[i]:close()
    end
    for i = 1, 20 do assert.equal(1, fake:count(1000 + i)) end
    stop(gw, fake)
  end)

  -- A rule that GETs ?id=N and answers the id the reply carried.
  local FETCH = [[
return function(call)
  local answer, why = http.request{ method = "GET", url = call.params.url }
  if not answer then return { error = why } end
  return { got = answer.body:match("<task_id>(%w+)</task_id>") }
end
]]

  it("never hands a rule's GET the reply to an earlier one, even when the stray bytes come after the request", function()
    local fake = gateway.fake_upstream("stale_first")
    local gw = gateway.start({ rules = gateway.rules_dir({ fetch = FETCH }) })
    for id = 1, 3 do
      assert.matches("<got>" .. id .. "</got>", gw:call("fetch", "<url>" .. fake.url .. "?id=" .. id .. "</url>"))
    end
    stop(gw, fake)
  end)

  it("never hands a forwarded call the reply to an earlier one, even when the stray bytes come after the request", function()
    local gw, fake = bridge("stale_first")
    for _, task_id in ipairs({ 101, 200, 300 }) do assert.equal(echo(task_id), gw:cancel(task_id)) end
    stop(gw, fake)
  end)

  it("sends a rule's GETs and the health probes each on a connection of its own, asking the server to close it", function()
    local fake = gateway.fake_upstream("ok")
    local gw = gateway.start({ rules = gateway.rules_dir({ fetch = FETCH }),
      args = "--upstream " .. fake.url .. " --upstream-probe-interval 0.2" })
    for id = 1, 3 do gw:call("fetch", "<url>" .. fake.url .. "?id=" .. id .. "</url>") end
    socket.sleep(0.5)
    local requests = fake:requests(true)
    local methods = {}
    for _, request in ipairs(requests) do
      methods[request.method] = true
      assert.equal(1, request.seq)
      assert.equal("close", request.headers.connection)
    end
    assert.is_true(methods.GET and methods.HEAD)
    stop(gw, fake)
  end)

  it("refuses a rule's method or content type that would write request lines of its own", function()
    local fake = gateway.fake_upstream("ok")
    local smuggle = [[
return function(call)
  local second = "POST /api/v2/task HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
  if call.params.via == "content_type" then
    http.request{ url = call.params.url, body = "x", content_type = "text/plain\r\nContent-Length: 0\r\n\r\n" .. second }
  elseif call.params.via == "method" then
    http.request{ url = call.params.url, body = "x", method = "POST / HTTP/1.1\r\nX-Injected: 1\r\nX:" }
  else
    http.request{ url = call.params.url, body = "x", method = "GET /other" }
  end
  return {}
end
]]
    local gw = gateway.start({ rules = gateway.rules_dir({ smuggle = smuggle }) })
    for _, via in ipairs({ "content_type", "method", "space" }) do
      assert.equal(F(1999), gw:call("smuggle", "<url>" .. fake.url .. "</url><via>" .. via .. "</via>"))
    end
    assert.matches("http.request: the content_type must be one line of text", gw:log(), 1, true)
    assert.matches("http.request: the method must be a name such as POST or GET", gw:log(), 1, true)
    socket.sleep(0.2)
    assert.same({}, fake:requests()) -- nothing left the gateway
    stop(gw, fake)
  end)

  it("resolves a slow host name off the event loop: other clients are answered meanwhile", function()
    -- A getaddrinfo that takes 2 s for one name (then gives 127.0.0.1), preloaded into the gateway.
    local dir = gateway.tmpdir()
    gateway.write_file(dir .. "/slow_dns.c", [[
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <string.h>
#include <unistd.h>
int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res) {
  int (*next)(const char *, const char *, const struct addrinfo *, struct addrinfo **) =
      (int (*)(const char *, const char *, const struct addrinfo *, struct addrinfo **))dlsym(RTLD_NEXT, "getaddrinfo");
  if (node && strcmp(node, "slow-upstream.test") == 0) {
    sleep(2);
    node = "127.0.0.1";
  }
  return next(node, service, hints, res);
}
]])
    local out, code = gateway.run(string.format("cc -shared -fPIC -o %s/slow_dns.so %s/slow_dns.c -ldl", dir, dir))
    assert.equal(0, code, out)
    local fake = gateway.fake_upstream("ok")
    local gw = gateway.start({
      prefix = string.format("env LD_PRELOAD=%s/slow_dns.so ASAN_OPTIONS=%s:verify_asan_link_order=0", dir,
        os.getenv("ASAN_OPTIONS") or "detect_leaks=0"),
      args = string.format("--upstream http://slow-upstream.test:%d/api/v2/task --upstream-connect-timeout 10", fake.port),
    })
    local ok, err = pcall(function()
      local waiting = gw:connect()
      local started = socket.gettime()
      assert(waiting:send(gateway.post_request(gateway.methodcall("cancel_task", "<task_id>301</task_id>"))))
      socket.sleep(0.2) -- the lookup has begun
      assert.equal(gateway.fault(1900), select(3, gw:post("<methodcall>"))) -- the same loop, answered meanwhile
      assert.equal(200, (gw:admin("/status")))
      local answered_meanwhile = socket.gettime() - started
      local status, _, body = gateway.read_response(waiting)
      local slow_call = socket.gettime() - started
      assert.equal(200, status)
      assert.equal(echo(301), body)
      assert.is_true(slow_call >= 1.9, "the lookup was not slow: " .. slow_call) -- the shim worked
      assert.is_true(answered_meanwhile < slow_call - 0.5, string.format("%.2f s, the lookup %.2f s", answered_meanwhile, slow_call))
    end)
    stop(gw, fake)
    assert(ok, err)
  end)

  it("reports the HTTP library and its resolver, which runs off the event loop", function()
    local out = gateway.run(gateway.binary .. " --version")
    assert.matches("libcurl [%d%.]+ %(OpenSSL/[^,]+, threaded resolver%)", out)
  end)
end)

describe("request identity", function()
  local fake, gw
  before_each(function()
    fake = gateway.fake_upstream("ok")
    gw = gateway.start({ args = "--upstream " .. fake.url })
  end)
  after_each(function() stop(gw, fake) end)

  -- Sends cancel_task for task_id with extra request headers; returns the reply body.
  local function cancel_with(task_id, headers)
    local status, _, body = gw:raw(gateway.post_request(gateway.methodcall("cancel_task",
      "<task_id>" .. task_id .. "</task_id>"), headers))
    assert.equal(200, status)
    return body
  end

  local function audit_records()
    local records = {}
    for line in gateway.run(gateway.binary .. " audit --store " .. gw.store):gmatch("[^\n]+") do
      records[#records + 1] = require("dkjson").decode(line)
    end
    return records
  end

  it("sends the client's X-Request-Id and address upstream, and logs and audits the same id", function()
    assert.equal(echo(101), cancel_with(101, "X-Request-Id: wms-4711-a\r\n"))
    local headers = fake:requests()[1].headers
    assert.equal("wms-4711-a", headers["x-request-id"])
    assert.equal("127.0.0.1", headers["x-forwarded-for"])
    assert.matches("event=call request_id=wms-4711-a client=127.0.0.1 method=cancel_task", gw:log(), 1, true)
  end)

  it("gives a call without an X-Request-Id the gateway's own id, the same upstream, in the log and the audit", function()
    cancel_with(102, "")
    local id = fake:requests()[1].headers["x-request-id"]
    assert.matches("^%x%x%x%x%x%x%x%x%-%d+$", id)
    assert.matches("event=call request_id=" .. id:gsub("%-", "%%-") .. " client=127.0.0.1", gw:log())
    local record = audit_records()[1]
    assert.equal(id, record.request_id)
    assert.equal("127.0.0.1", record.client)
  end)

  it("records the client's X-Request-Id in the audit record", function()
    cancel_with(103, "X-Request-Id: 3f2504e0-4f89-11d3-9a0c-0305e82c3301\r\n")
    assert.equal("3f2504e0-4f89-11d3-9a0c-0305e82c3301", audit_records()[1].request_id)
  end)

  it("adds the client to the X-Forwarded-For chain a proxy sent", function()
    cancel_with(104, "X-Forwarded-For: 10.1.2.3, 192.0.2.7\r\n")
    assert.equal("10.1.2.3, 192.0.2.7, 127.0.0.1", fake:requests()[1].headers["x-forwarded-for"])
  end)

  it("replaces an X-Request-Id that is too long or holds other bytes with its own", function()
    cancel_with(105, "X-Request-Id: " .. string.rep("a", 65) .. "\r\n")
    cancel_with(106, "X-Request-Id: two words\r\n")
    cancel_with(107, 'X-Request-Id: x" level=error\r\n')
    for _, request in ipairs(fake:requests()) do
      assert.matches("^%x%x%x%x%x%x%x%x%-%d+$", request.headers["x-request-id"])
    end
    assert.is_nil(gw:log():find("level=error", 1, true))
  end)

  it("names the request in the rules' log lines", function()
    local down = gateway.start({ args = "--upstream http://127.0.0.1:1/api/v2/task" })
    local status = down:raw(gateway.post_request(gateway.methodcall("cancel_task", "<task_id>9</task_id>"),
      "X-Request-Id: r-17\r\n"))
    assert.equal(200, status)
    down:stop()
    assert.matches("event=rule_log request_id=r-17 rule=cancel_task", down:log(), 1, true)
  end)

  it("sends the same identity with a rule's own HTTP requests", function()
    local notify = [[
return function(call)
  assert(http.request{ url = call.params.url, body = "done" })
  return {}
end
]]
    local rules_gw = gateway.start({ rules = gateway.rules_dir({ notify = notify }) })
    local status = rules_gw:raw(gateway.post_request(gateway.methodcall("notify", "<url>" .. fake.url .. "</url>"),
      "X-Request-Id: n-5\r\nX-Forwarded-For: 10.0.0.9\r\n"))
    assert.equal(200, status)
    rules_gw:stop()
    local headers = fake:requests()[1].headers
    assert.equal("n-5", headers["x-request-id"])
    assert.equal("10.0.0.9, 127.0.0.1", headers["x-forwarded-for"])
  end)

  it("names itself last in the Via chain it sends upstream", function()
    cancel_with(109, "Via: 1.1 wms-proxy\r\n")
    cancel_with(110, "")
    local requests = fake:requests()
    assert.matches("^1%.1 wms%-proxy, 1%.1 taskgate%-%x+$", requests[1].headers.via)
    assert.matches("^1%.1 taskgate%-%x+$", requests[2].headers.via)
  end)

  it("ends a forwarding loop at once: an upstream that leads back to the gateway gets 1922, sent nothing", function()
    local port = gateway.free_port()
    local looped = gateway.start({ args = string.format("--listen 127.0.0.1:%d --upstream http://127.0.0.1:%d/api/v2/task",
      port, port) })
    local started = socket.gettime()
    assert.equal(F(1922), looped:call("cancel_task", "<task_id>5</task_id>"))
    assert.is_true(socket.gettime() - started < 2)
    socket.sleep(0.3)
    looped:stop()
    local log = looped:log()
    assert.equal(2, select(2, log:gsub("event=call ", ""))) -- the call, and its one return through the loop
    assert.matches("event=forwarding_loop", log, 1, true)
    assert.matches('reason="forwarding loop: the call came through this gateway"', log, 1, true)
  end)

  it("ends a loop through two gateways that name each other upstream", function()
    local port_a, port_b = gateway.free_port(), gateway.free_port()
    local a = gateway.start({ args = string.format("--listen 127.0.0.1:%d --upstream http://127.0.0.1:%d/api/v2/task",
      port_a, port_b) })
    local b = gateway.start({ args = string.format("--listen 127.0.0.1:%d --upstream http://127.0.0.1:%d/api/v2/task",
      port_b, port_a) })
    assert.equal(F(1922), a:call("cancel_task", "<task_id>5</task_id>"))
    socket.sleep(0.3)
    a:stop()
    b:stop()
    assert.equal(2, select(2, a:log():gsub("event=call ", ""))) -- the call, and its return from B
    assert.equal(1, select(2, b:log():gsub("event=call ", "")))
    assert.matches("event=forwarding_loop", a:log(), 1, true)
  end)

  it("drops an X-Forwarded-For that is not a list of addresses", function()
    cancel_with(108, "X-Forwarded-For: evil\r\n")
    assert.equal("127.0.0.1", fake:requests()[1].headers["x-forwarded-for"])
  end)
end)
