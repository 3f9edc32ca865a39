-- Bridge mode with two real gateways: A (--upstream) in front of B (embedded store).
local gateway = require "helpers.gateway"
local socket = require "socket"
local steps = require "helpers.conformance_steps"

local F = gateway.fault

local function upstream_args(b, extra)
  return string.format("--upstream http://127.0.0.1:%d/api/v2/task %s", b.port, extra or "")
end

local function audit_of(gw)
  local p = io.popen(gateway.binary .. " audit --store " .. gw.store)
  local out = p:read("a")
  p:close()
  return out
end

describe("bridge mode", function()
  local a, b
  setup(function()
    b = gateway.start()
    a = gateway.start({ args = upstream_args(b, "--upstream-connect-timeout 0.5 --upstream-reply-timeout 1") })
  end)
  teardown(function()
    a:stop()
    b:stop()
  end)

  it("forwards a bin-interface call to the upstream's bin endpoint, and answers JSON in JSON", function()
    assert.equal(gateway.OK, b:call("openport", "<port_id>9</port_id>"))
    assert.matches("<bin_id>4321</bin_id>", b:call("openbin", "<port_id>9</port_id><bin_id>4321</bin_id>"))
    local _, _, reply = a:raw(gateway.post_request(gateway.methodcall("getbinstate", "<bin_id>4321</bin_id>"), nil, "/api/v2/bin"))
    assert.matches("<bin_mode>O</bin_mode>", reply)
    local json = '{"method": "getbinstate", "params": {"bin_id": 4321}}'
    _, _, reply = a:raw(string.format("POST /api/v2/bin HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", #json, json))
    assert.equal('{"params":{"bins":{"bin":{"bin_id":"4321","bin_mode":"O","content":"0","port_id":"9"}}}}', reply)
    assert.equal(gateway.OK, b:call("closeport", "<port_id>9</port_id>"))
  end)

  describe("runs the conformance cases through A", function()
    for i, step in ipairs(steps) do
      it(string.format("%02d %s: %s", i, step[2], step[1]), function()
        assert.equal(step[4], a:call(step[2], step[3]))
      end)
    end
  end)

  it("leaves the changes in B's store, where B answers the same as A", function()
    assert.equal(b:call("gettaskinfo"), a:call("gettaskinfo"))
    assert.matches("<taskgroup_id>1</taskgroup_id>", b:call("gettaskinfo"))
  end)

  it("records in A's audit what was forwarded and what came back", function()
    local trail = audit_of(a)
    assert.matches('"method":"create_taskgroup","params":{"forwarded":{"taskgroup_id":1,"tasks":2},"upstream":"upstream ok"}', trail, 1, true)
    assert.matches('"method":"cancel_task","params":{"forwarded":{"task_id":11},"upstream":"upstream fault 1045"}', trail, 1, true)
  end)

  it("validates locally before anything leaves A (1040, 1012)", function()
    local before = #audit_of(b)
    assert.equal(F(1040), a:call("cancel_task", ""))
    assert.equal(F(1012), a:call("cancel_task", "<task_id>x</task_id>"))
    assert.equal(before, #audit_of(b))
  end)

  it("answers a v1 client on the v1 path, through A to B", function()
    local body = "<methodcall><name>create_taskgroup</name><params><create_taskgroup>" ..
      "<taskgroup_id>500</taskgroup_id><category>1</category><req_time>2024-05-01 08:00:00</req_time>" ..
      "<priority>1</priority><tasks><task><task_id>5001</task_id><bin_id>1</bin_id></task></tasks>" ..
      "</create_taskgroup></params></methodcall>"
    local status, _, reply = a:raw(gateway.post_request(body, nil, gateway.V1_PATH))
    assert.equal(200, status)
    assert.equal(gateway.OK, reply)
    assert.matches("<req_time>2024%-05%-01T08:00:00Z</req_time>", b:call("gettaskinfo", "<taskgroup_id>500</taskgroup_id>"))
  end)
end)

describe("an upstream that fails", function()
  it("answers 1922 within the connect timeout while B is down, and recovers when B is back", function()
    local b = gateway.start()
    local port = b.port
    local a = gateway.start({ args = upstream_args(b, "--upstream-connect-timeout 0.5") })
    assert.equal(F(1017), a:call("cancel_task", "<task_id>9</task_id>"))
    b:stop("KILL")
    local start = socket.gettime()
    assert.equal(F(1922), a:call("cancel_task", "<task_id>9</task_id>"))
    assert.is_true(socket.gettime() - start < 1.5)
    assert.equal(F(1012), a:call("cancel_task", "<task_id>x</task_id>")) -- A keeps serving
    assert.matches("upstream unavailable", a:log())
    local b2 = gateway.start({ store = b.store, dir = b.dir, args = "--listen 127.0.0.1:" .. port })
    assert.equal(F(1017), a:call("cancel_task", "<task_id>9</task_id>"))
    a:stop()
    b2:stop()
  end)

  it("answers 1922 after the reply timeout to a slow upstream without stalling other clients", function()
    local silent = assert(socket.bind("127.0.0.1", 0)) -- accepts connections, never answers
    local _, port = silent:getsockname()
    local a = gateway.start({ args = string.format("--upstream http://127.0.0.1:%d/api/v2/task --upstream-reply-timeout 1", port) })
    local waiting = a:connect()
    local start = socket.gettime()
    waiting:send(gateway.post_request(gateway.methodcall("cancel_task", "<task_id>9</task_id>")))
    -- Meanwhile another client is answered at once.
    assert.equal(F(1012), a:call("cancel_task", "<task_id>x</task_id>"))
    assert.equal(200, (a:raw("HEAD /api/v2/task HTTP/1.1\r\nHost: x\r\n\r\n", true)))
    assert.is_true(socket.gettime() - start < 0.5)
    local status, _, body = gateway.read_response(waiting)
    assert.equal(200, status)
    assert.equal(F(1922), body)
    local took = socket.gettime() - start
    assert.is_true(took > 0.9 and took < 2, "took " .. took)
    waiting:close()
    silent:close()
    a:stop()
  end)

  it("answers 1922 to an upstream that answers garbage", function()
    local b = gateway.start()
    -- B's status page is not a task interface: its JSON is garbage to A.
    local a = gateway.start({ args = string.format("--upstream http://127.0.0.1:%d/status", b.admin_port) })
    assert.equal(F(1922), a:call("cancel_task", "<task_id>9</task_id>"))
    a:stop()
    b:stop()
  end)

  it("keeps pipelined replies in order when the first waits on the upstream", function()
    local b = gateway.start()
    local a = gateway.start({ args = upstream_args(b) })
    local conn = a:connect()
    conn:send(gateway.post_request(gateway.methodcall("cancel_task", "<task_id>9</task_id>")) ..
      gateway.post_request(gateway.methodcall("cancel_task", "<task_id>x</task_id>")) ..
      gateway.post_request(gateway.methodcall("cancel_task", "<task_id>8</task_id>")))
    assert.equal(F(1017), select(3, gateway.read_response(conn)))
    assert.equal(F(1012), select(3, gateway.read_response(conn)))
    assert.equal(F(1017), select(3, gateway.read_response(conn)))
    conn:close()
    a:stop()
    b:stop()
  end)
end)

describe("outbound HTTP from rules", function()
  it("lets a rule notify another system without blocking, and reports failures", function()
    local b = gateway.start()
    local notify = [[
return function(call)
  local answer, why = http.request{ url = call.params.url, content_type = "application/xml",
    body = "<methodcall><name>cancel_task</name><params><task_id>1</task_id></params></methodcall>" }
  if not answer then return { error = why } end
  return { status = answer.status, fault = answer.body:match("<code>(%d+)</code>") }
end
]]
    local write_first = [[
return function(call)
  store.cancel_task(1)
  http.request{ url = call.params.url }
end
]]
    local a = gateway.start({ rules = gateway.rules_dir({ notify = notify, write_first = write_first }) })
    local url = "http://127.0.0.1:" .. b.port .. "/api/v2/task"
    assert.matches("<fault>1017</fault>.*<status>200</status>", a:call("notify", "<url>" .. url .. "</url>"))
    assert.matches("<error>connection refused</error>", a:call("notify", "<url>http://127.0.0.1:1/x</url>"))
    assert.matches("<error>bad URL or unknown host</error>", a:call("notify", "<url>ftp://x/y</url>"))
    assert.equal(gateway.OK, a:call("create_taskgroup", gateway.taskgroup_params(1, { { 1, 1 } })))
    assert.equal(F(1999), a:call("write_first", "<url>" .. url .. "</url>"))
    assert.matches("<task_id>1</task_id>", a:call("gettaskinfo")) -- the write was undone
    assert.matches("store changes must come after outbound calls", a:log())
    a:stop()
    b:stop()
  end)
end)
