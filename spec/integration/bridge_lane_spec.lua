-- Bridge mode's lane: at most --upstream-max-in-flight calls sent to the upstreams at once; the
-- others wait in a queue, unsent, at most --upstream-queue-timeout. A queued call whose client
-- has gone (reset) is never sent, one whose client only half-closed is sent and answered; queue waits neither count against the reply timeout nor mark an
-- upstream down; /status and /metrics show the calls in flight and queued.
local dkjson = require "dkjson"
local gateway = require "helpers.gateway"
local socket = require "socket"

local F = gateway.fault

local function send_cancel(gw, task_id)
  local conn = gw:connect()
  conn:send(gateway.post_request(gateway.methodcall("cancel_task", "<task_id>" .. task_id .. "</task_id>")))
  return conn
end

local function status(gw)
  local _, body = gw:admin("/status")
  return dkjson.decode(body)
end

local function wait_for(what, check)
  for _ = 1, 200 do
    if check() then return end
    socket.sleep(0.05)
  end
  error("waited in vain for " .. what)
end

describe("the lane of calls to the upstreams", function()
  it("answers a call 1922 unsent when no place frees within the queue timeout, and keeps the upstream up", function()
    local fake = gateway.fake_upstream("slow") -- answers 3 s after each request
    local gw = gateway.start({ args = "--upstream " .. fake.url ..
      " --upstream-max-in-flight 1 --upstream-queue-timeout 0.5 --upstream-reply-timeout 5" })
    local first = send_cancel(gw, 1)
    wait_for("the first call at the upstream", function() return fake:count(1) == 1 end)
    local started = socket.gettime()
    assert.equal(F(1922), gw:call("cancel_task", "<task_id>2</task_id>"))
    local took = socket.gettime() - started
    assert.is_true(took > 0.4 and took < 2.5, "took " .. took)
    assert.equal(0, fake:count(2)) -- never sent
    local log = gw:log()
    assert.matches('msg="upstream unavailable"', log, 1, true)
    assert.matches('reason="no upstream connection free within the queue timeout"', log, 1, true)
    assert.equal("up", status(gw).upstreams[1].state) -- our queue says nothing of the upstream
    local _, _, body = gateway.read_response(first)
    assert.matches("<task_id>1</task_id>", body, 1, true) -- the first call, sent, is answered in full
    first:close()
    gw:stop()
    fake:stop()
  end)

  it("sends and answers the calls of a client that half-closes after its requests", function()
    local fake = gateway.fake_upstream("ok")
    local gw = gateway.start({ args = "--upstream " .. fake.url })
    for _, ids in ipairs({ { 61, 62, 63 }, { 64 } }) do -- pipelined, and one alone
      local conn = gw:connect()
      local requests = {}
      for i, id in ipairs(ids) do
        requests[i] = gateway.post_request(gateway.methodcall("cancel_task", "<task_id>" .. id .. "</task_id>"))
      end
      conn:send(table.concat(requests))
      conn:shutdown("send") -- RFC 9112: done sending, still reading
      for _, id in ipairs(ids) do
        local _, _, body = gateway.read_response(conn)
        assert.matches("<task_id>" .. id .. "</task_id>", body, 1, true)
        assert.equal(1, fake:count(id))
      end
      conn:close()
    end
    assert.not_matches("client gone", gw:log(), 1, true)
    gw:stop()
    fake:stop()
  end)

  it("never sends a queued call whose client hung up, and shows calls in flight and queued", function()
    local fake = gateway.fake_upstream("slow")
    local gw = gateway.start({ args = "--upstream " .. fake.url ..
      " --upstream-max-in-flight 1 --upstream-queue-timeout 10 --upstream-reply-timeout 5" })
    local first = send_cancel(gw, 1)
    wait_for("the first call at the upstream", function() return fake:count(1) == 1 end)
    local second = send_cancel(gw, 2)
    wait_for("the second call queued", function() return status(gw).upstream_queued == 1 end)
    local now = status(gw)
    assert.equal(1, now.upstreams[1].in_flight)
    local _, metrics = gw:admin("/metrics")
    assert.equal(1, gateway.metric(metrics, "taskgate_upstream_queued"))
    assert.equal(1, gateway.metric(metrics, 'taskgate_upstream_in_flight{upstream="' .. fake.url .. '"}'))
    second:setoption("linger", { on = true, timeout = 0 })
    second:close() -- the WMS gives up on it: its connection is reset
    local _, _, body = gateway.read_response(first)
    assert.matches("<task_id>1</task_id>", body, 1, true)
    first:close()
    wait_for("the queue to empty", function() return status(gw).upstream_queued == 0 end)
    socket.sleep(0.5)
    assert.equal(0, fake:count(2)) -- never reached the upstream
    assert.matches("client gone before the call was sent", gw:log(), 1, true)
    assert.equal(0, status(gw).upstreams[1].in_flight)
    -- A call after it goes out at once.
    local third = send_cancel(gw, 3)
    wait_for("the third call at the upstream", function() return fake:count(3) == 1 end)
    third:close()
    gw:stop()
    fake:stop()
  end)
end)
