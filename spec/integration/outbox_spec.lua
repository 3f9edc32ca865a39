-- The outbox: messages rules queue for other systems, in the call's transaction, delivered in
-- order per target until acknowledged, across a receiver that is down, a kill -9 and a restart.
local dkjson = require "dkjson"
local gateway = require "helpers.gateway"
local socket = require "socket"

local F = gateway.fault

-- Rules that queue messages: note (one message per call, its task_id in the body), note_then_fault
-- (queues, then refuses), note_then_fail (queues, then errors), note_then_call (queues before an
-- outbound request: refused), note_twice (two targets).
local RULES = {
  note = [[
return function(call)
  return { message = outbox.send{ target = "erp", body = { task_id = call.params.task_id } } }
end
]],
  note_then_fault = [[
return function(call)
  outbox.send{ target = "erp", body = "never" }
  return fault(1921)
end
]],
  note_then_fail = [[
return function(call)
  outbox.send{ target = "erp", body = "never" }
  error("the rule broke")
end
]],
  note_then_call = [[
return function(call)
  outbox.send{ target = "erp", body = "never" }
  http.request{ url = "http://127.0.0.1:1/x" }
  return {}
end
]],
  note_unknown = [[
return function(call)
  outbox.send{ target = "nobody", body = "x" }
  return {}
end
]],
  note_headers = [[
return function(call)
  outbox.send{ target = "erp", body = "x", content_type = "text/plain\r\nX-Injected: 1" }
  return {}
end
]],
  note_both = [[
return function(call)
  outbox.send{ target = "erp", body = "to erp " .. call.params.task_id, content_type = "text/plain" }
  outbox.send{ target = "wms", body = "to wms " .. call.params.task_id, content_type = "text/plain" }
  return {}
end
]],
}

local rules_dir
local function rules()
  rules_dir = rules_dir or gateway.rules_dir(RULES)
  return rules_dir
end

-- A gateway with these rules and the outbox target erp at url; extra: more arguments.
local function outbox_gateway(url, extra)
  return gateway.start({ rules = rules(), args = "--outbox-target erp=" .. url .. (extra and " " .. extra or "") })
end

-- The same gateway started again on gw's store (after a stop or a kill -9).
local function restarted(gw, args)
  return gateway.start({ rules = rules(), args = args, store = gw.store, dir = gw.dir })
end

-- A receiver started and killed at once: its url and port name a target that is down until
-- gateway.fake_upstream("receiver", { port = receiver.port }) revives it.
local function receiver_down()
  local receiver = gateway.fake_upstream("receiver")
  receiver:stop("KILL")
  return receiver
end

local function note(gw, task_id)
  return gw:call("note", "<task_id>" .. task_id .. "</task_id>")
end

-- What a receiver does with an X-Message-Id it has seen: nothing. Returns the task ids of the
-- messages it took, in the order it took them, and how many deliveries it got in all.
local function deduplicated(receiver)
  local seen, taken, deliveries = {}, {}, 0
  for _, request in ipairs(receiver:requests()) do
    deliveries = deliveries + 1
    local id = request.headers["x-message-id"]
    if not seen[id] then
      seen[id] = true
      taken[#taken + 1] = tonumber(dkjson.decode(request.body).task_id)
    end
  end
  return taken, deliveries
end

local function wait_for(what, check, seconds)
  for _ = 1, (seconds or 20) * 20 do
    if check() then return end
    socket.sleep(0.05)
  end
  error("waited in vain for " .. what)
end

local function outbox_of(gw)
  local _, body = gw:admin("/status")
  return dkjson.decode(body).outbox
end

local function list(gw)
  local records = {}
  for line in gw:command("outbox list"):gmatch("[^\n]+") do records[#records + 1] = dkjson.decode(line) end
  return records
end

-- Runs sql on the gateway's store beside it, as an operator's tool or an older version would.
local function store_sql(gw, sql)
  local script = gw.dir .. "/sql.py"
  gateway.write_file(script, "import sqlite3, sys\ndb = sqlite3.connect(sys.argv[1], timeout=10)\n"
    .. "db.execute(open(sys.argv[2]).read())\ndb.commit()\n")
  gateway.write_file(gw.dir .. "/statement.sql", sql)
  local out, code = gateway.run(string.format("%s %s %s %s/statement.sql", gateway.python, script, gw.store, gw.dir))
  assert.equal(0, code, out)
end

local function range(from, to)
  local list_ = {}
  for i = from, to do list_[#list_ + 1] = i end
  return list_
end

describe("the outbox", function()
  it("delivers each message once, in order, with its message id, request id and content type", function()
    local receiver = gateway.fake_upstream("receiver")
    local gw = outbox_gateway(receiver.url)
    local ids = {}
    for i = 1, 10 do ids[i] = note(gw, i):match("<message>(%x+)</message>") end
    wait_for("10 deliveries", function() return #receiver:requests() == 10 end)
    local requests = receiver:requests()
    for i, request in ipairs(requests) do
      assert.equal(ids[i], request.headers["x-message-id"])
      assert.equal(ids[i], request.headers["idempotency-key"])
      assert.equal("application/json", request.headers["content-type"])
      assert.equal("POST", request.method)
      assert.equal(i, tonumber(dkjson.decode(request.body).task_id))
      assert.matches("^%x+%-%d+$", request.headers["x-request-id"]) -- the call that queued it
    end
    assert.same({}, list(gw)) -- delivered messages leave the store
    gw:stop()
    receiver:stop()
  end)

  it("keeps every message while the target is down, across kill -9 and a restart, and delivers them all in order", function()
    local receiver = receiver_down() -- the target is down from the start
    local args = "--outbox-target erp=" .. receiver.url .. " --outbox-retry-max 0.5"
    local gw = gateway.start({ rules = rules(), args = args })
    for i = 1, 15 do note(gw, i) end
    wait_for("failed attempts", function() return outbox_of(gw).targets[1].failed_attempts >= 2 end)
    assert.equal(15, outbox_of(gw).targets[1].pending)
    assert.equal("connection refused", outbox_of(gw).targets[1].last_error)
    gw:stop("KILL")
    local again = restarted(gw, args)
    for i = 16, 25 do note(again, i) end
    local revived = gateway.fake_upstream("receiver", { port = receiver.port })
    wait_for("25 messages taken", function() return #deduplicated(revived) == 25 end)
    assert.same(range(1, 25), (deduplicated(revived)))
    wait_for("an empty outbox", function() return #list(again) == 0 end)
    again:stop()
    revived:stop()
  end)

  it("delivers every message once and in order when the gateway is killed -9 while a revived target drains its queue", function()
    local receiver = receiver_down() -- down for a while
    local args = "--outbox-target erp=" .. receiver.url .. " --outbox-retry-max 0.3"
    local gw = gateway.start({ rules = rules(), args = args })
    for i = 1, 20 do note(gw, i) end
    local revived = gateway.fake_upstream("receiver", { port = receiver.port, delay = 0.1 }) -- then back
    wait_for("a part of the queue", function() return #revived:requests() >= 5 end)
    gw:stop("KILL") -- in the middle of the drain, likely with a message's answer on its way
    local again = restarted(gw, args)
    for i = 21, 30 do note(again, i) end
    wait_for("30 messages taken", function() return #deduplicated(revived) == 30 end)
    wait_for("an empty outbox", function() return #list(again) == 0 end)
    local taken, deliveries = deduplicated(revived)
    assert.same(range(1, 30), taken)
    assert.is_true(deliveries <= 31, deliveries .. " deliveries") -- only the one in flight may come twice
    local requests = revived:requests()
    for i = 2, #requests do -- and then at once, before any later message
      local id = requests[i].headers["x-message-id"]
      for j = 1, i - 2 do assert.are_not.equal(id, requests[j].headers["x-message-id"]) end
    end
    again:stop()
    revived:stop()
  end)

  it("is delivered once again when the gateway dies before it heard the target's answer, with the same message id", function()
    local receiver = gateway.fake_upstream("slow_receiver") -- answers after 1 s
    local gw = outbox_gateway(receiver.url)
    note(gw, 1)
    wait_for("the delivery to start", function() return #receiver:requests() == 1 end)
    gw:stop("KILL") -- the receiver has the message; the gateway never learns it did
    local again = restarted(gw, "--outbox-target erp=" .. receiver.url)
    wait_for("a second delivery", function() return #receiver:requests() == 2 end)
    local requests = receiver:requests()
    assert.equal(requests[1].headers["x-message-id"], requests[2].headers["x-message-id"])
    local taken, deliveries = deduplicated(receiver)
    assert.same({ 1 }, taken)
    assert.equal(2, deliveries)
    wait_for("an empty outbox", function() return #list(again) == 0 end)
    again:stop()
    receiver:stop()
  end)

  it("hears the answer of a delivery in flight at SIGTERM before it exits, and starts no other", function()
    local receiver = gateway.fake_upstream("slow_receiver") -- answers after 1 s
    local args = "--outbox-target erp=" .. receiver.url
    local gw = gateway.start({ rules = rules(), args = args })
    note(gw, 1)
    note(gw, 2)
    wait_for("the first delivery to start", function() return #receiver:requests() == 1 end)
    os.execute("kill -TERM " .. gw.pid)
    wait_for("the gateway to exit", function() return not gw:alive() end)
    assert.equal(1, #receiver:requests())
    local left = list(gw)
    assert.equal(1, #left) -- the first was acknowledged; the second waits for the next start
    assert.equal("pending", left[1].state)
    local again = gateway.start({ rules = rules(), args = args, store = gw.store, dir = gw.dir })
    wait_for("an empty outbox", function() return #list(again) == 0 end)
    local taken, deliveries = deduplicated(receiver)
    assert.same({ 1, 2 }, taken)
    assert.equal(2, deliveries) -- none twice
    again:stop()
    receiver:stop()
  end)

  it("keeps a delivery the drain deadline cut pending, and sends it again after the restart with its id", function()
    local receiver = gateway.fake_upstream("receiver", { delay = 2 })
    local args = "--outbox-target erp=" .. receiver.url
    local gw = gateway.start({ rules = rules(), args = args .. " --drain-timeout 0.3" })
    note(gw, 1)
    wait_for("the delivery to start", function() return #receiver:requests() == 1 end)
    os.execute("kill -TERM " .. gw.pid)
    wait_for("the gateway to exit", function() return not gw:alive() end, 3)
    local left = list(gw)
    assert.equal(1, #left)
    assert.equal("pending", left[1].state)
    assert.equal(1, left[1].attempts) -- the receiver may have it: outbox list says so
    assert.equal("outcome unknown: gateway stopping", left[1].last_error)
    assert.matches("event=outbox_unknown", gw:log(), 1, true)
    local again = gateway.start({ rules = rules(), args = args, store = gw.store, dir = gw.dir })
    wait_for("an empty outbox", function() return #list(again) == 0 end)
    local requests = receiver:requests()
    assert.equal(2, #requests)
    assert.equal(requests[1].headers["x-message-id"], requests[2].headers["x-message-id"])
    assert.same({ 1 }, (deduplicated(receiver)))
    again:stop()
    receiver:stop()
  end)

  it("records no message for a call that ends in a fault or an error", function()
    local receiver = gateway.fake_upstream("receiver")
    local gw = outbox_gateway(receiver.url)
    assert.equal(F(1921), gw:call("note_then_fault"))
    assert.equal(F(1999), gw:call("note_then_fail"))
    assert.equal(F(1999), gw:call("note_then_call")) -- queued before an outbound request: refused
    assert.matches("store changes must come after outbound calls", gw:log(), 1, true)
    assert.equal(F(1999), gw:call("note_unknown"))
    assert.matches("outbox target 'nobody' is not configured", gw:log(), 1, true)
    note(gw, 7)
    wait_for("one delivery", function() return #receiver:requests() == 1 end)
    socket.sleep(0.3)
    assert.same({ 7 }, (deduplicated(receiver)))
    gw:stop()
    receiver:stop()
  end)

  it("tries again a target that answers an error status, and shows why in /status and /metrics", function()
    local receiver = gateway.fake_upstream("status_500")
    local gw = outbox_gateway(receiver.url, "--outbox-retry-max 0.2")
    note(gw, 1)
    wait_for("three attempts", function() return #receiver:requests() >= 3 end)
    local target = outbox_of(gw).targets[1]
    assert.equal("erp", target.name)
    assert.equal(receiver.url, target.url)
    assert.equal(1, target.pending)
    assert.equal("HTTP 500", target.last_error)
    assert.is_true(target.oldest_pending_seconds > 0)
    local _, metrics = gw:admin("/metrics")
    assert.equal(1, gateway.metric(metrics, 'taskgate_outbox_messages{target="erp",state="pending"}'))
    assert.is_true(gateway.metric(metrics, 'taskgate_outbox_failed_attempts_total{target="erp"}') >= 2)
    assert.matches("event=outbox_retry target=erp", gw:log(), 1, true)
    local record = list(gw)[1]
    assert.equal("pending", record.state)
    assert.is_true(record.attempts >= 2)
    gw:stop()
    receiver:stop()
  end)

  it("takes a 2xx with a large page for an acknowledgment, and does not send the message again", function()
    local receiver = gateway.fake_upstream("huge") -- 200 with 2 MiB, more than any reply a call may get
    local gw = outbox_gateway(receiver.url, "--outbox-retry-max 0.2")
    note(gw, 1)
    wait_for("an empty outbox", function() return #list(gw) == 0 end)
    socket.sleep(0.5)
    assert.equal(1, #receiver:requests())
    assert.is_nil(gw:log():find("event=outbox_retry", 1, true))
    gw:stop()
    receiver:stop()
  end)

  it("moves a message that keeps failing to the dead state, delivers the next, and can retry or drop it", function()
    local receiver = receiver_down()
    local gw = outbox_gateway(receiver.url, "--outbox-retry-max 0.2 --outbox-dead-after 1")
    note(gw, 1)
    note(gw, 2)
    wait_for("two dead messages", function() return outbox_of(gw).targets[1].dead == 2 end)
    assert.matches("event=outbox_dead target=erp", gw:log(), 1, true)
    local dead = list(gw)
    assert.equal("dead", dead[1].state)
    local revived = gateway.fake_upstream("receiver", { port = receiver.port })
    note(gw, 3) -- a later message goes on: the dead ones no longer hold the line
    wait_for("message 3", function() return #revived:requests() == 1 end)
    assert.same({ 3 }, (deduplicated(revived)))
    local out, code = gw:command("outbox retry " .. dead[1].id)
    assert.equal(0, code, out)
    assert.matches("retrying message " .. dead[1].id, out, 1, true)
    wait_for("message 1 again", function() return #revived:requests() == 2 end)
    assert.same({ 3, 1 }, (deduplicated(revived)))
    out, code = gw:command("outbox drop " .. dead[2].id)
    assert.equal(0, code, out)
    assert.same({}, list(gw))
    out, code = gw:command("outbox drop " .. dead[2].id)
    assert.equal(1, code)
    assert.matches("no message", out, 1, true)
    gw:stop()
    revived:stop()
  end)

  it("loses no message queued after an operator dropped the one in flight, and gives it an id of its own", function()
    local receiver = gateway.fake_upstream("receiver", { delay = 4 }) -- time for the commands below
    local gw = outbox_gateway(receiver.url)
    note(gw, 1)
    wait_for("the delivery to start", function() return #receiver:requests() == 1 end)
    local first = list(gw)[1]
    local out, code = gw:command("outbox drop " .. first.id)
    assert.equal(0, code, out)
    note(gw, 2) -- queued while message 1's answer is still on its way
    local second = list(gw)[1]
    assert.is_true(second.id > first.id) -- ids are never used twice: a stale `drop` cannot hit message 2
    assert.are_not.equal(first.message_id, second.message_id)
    wait_for("message 2", function() return #receiver:requests() == 2 end)
    assert.same({ 1, 2 }, (deduplicated(receiver)))
    wait_for("an empty outbox", function() return #list(gw) == 0 end)
    gw:stop()
    receiver:stop()
  end)

  it("never gives a new message the id of one delivered before, across a restart", function()
    local receiver = gateway.fake_upstream("receiver")
    local gw = gateway.start({ rules = rules(), args = "--outbox-target erp=" .. receiver.url })
    for i = 1, 3 do note(gw, i) end
    wait_for("3 deliveries", function() return #receiver:requests() == 3 end)
    wait_for("an empty outbox", function() return #list(gw) == 0 end)
    gw:stop()
    receiver:stop()
    -- Restarted against a target that is down: the next message waits in the list with its id.
    gw = gateway.start({ rules = rules(), store = gw.store, args = "--outbox-target erp=http://127.0.0.1:1/x" })
    note(gw, 4)
    local listed = list(gw)
    assert.equal(1, #listed)
    assert.equal(4, listed[1].id) -- 1 to 3 were delivered: their ids stay used
    local out, code = gw:command("outbox drop 1") -- a stale command from an earlier listing
    assert.are_not.equal(0, code, out)
    assert.equal(1, #list(gw))
    gw:stop()
  end)

  it("tries a message that waited out a gateway down past the dead-letter time before it calls it dead", function()
    local receiver = receiver_down()
    local args = "--outbox-target erp=" .. receiver.url .. " --outbox-dead-after 1"
    local gw = gateway.start({ rules = rules(), args = args })
    note(gw, 1)
    wait_for("a failed attempt", function() return (list(gw)[1] or {}).attempts == 1 end)
    gw:stop("KILL")
    socket.sleep(1.5) -- the gateway is down longer than the dead-letter time
    local revived = gateway.fake_upstream("receiver", { port = receiver.port })
    local again = restarted(gw, args)
    wait_for("message 1", function() return #revived:requests() == 1 end)
    assert.same({ 1 }, (deduplicated(revived)))
    wait_for("an empty outbox", function() return #list(again) == 0 end)
    assert.is_nil(again:log():find("event=outbox_dead", 1, true))
    again:stop()
    revived:stop()
  end)

  it("sends a message on time after the clock was set back since its last attempt", function()
    local receiver = receiver_down()
    local gw = outbox_gateway(receiver.url, "--outbox-retry-max 1")
    note(gw, 1)
    wait_for("a failed attempt", function() return (list(gw)[1] or {}).attempts >= 1 end)
    -- What an attempt made an hour "later" by a clock since set back leaves in the store.
    store_sql(gw, "UPDATE outbox SET next_attempt = unixepoch() + 3600")
    local revived = gateway.fake_upstream("receiver", { port = receiver.port })
    wait_for("message 1", function() return #revived:requests() == 1 end, 5)
    gw:stop()
    revived:stop()
  end)

  it("keeps each target's order apart: one that is down does not hold up another", function()
    local erp, wms = receiver_down(), gateway.fake_upstream("receiver")
    local gw = gateway.start({ rules = rules(), args = string.format(
      "--outbox-target erp=%s --outbox-target wms=%s --outbox-retry-max 0.3", erp.url, wms.url) })
    for i = 1, 3 do gw:call("note_both", "<task_id>" .. i .. "</task_id>") end
    wait_for("the wms messages", function() return #wms:requests() == 3 end)
    local revived = gateway.fake_upstream("receiver", { port = erp.port })
    wait_for("the erp messages", function() return #revived:requests() == 3 end)
    for i, request in ipairs(wms:requests()) do assert.equal("to wms " .. i, request.body) end
    for i, request in ipairs(revived:requests()) do assert.equal("to erp " .. i, request.body) end
    assert.equal("text/plain", revived:requests()[1].headers["content-type"])
    gw:stop()
    wms:stop()
    revived:stop()
  end)

  it("has one delivery loop however many workers queue messages", function()
    local receiver = gateway.fake_upstream("receiver")
    local gw = gateway.start({ rules = rules(), args = "--workers 3 --outbox-target erp=" .. receiver.url })
    for i = 1, 30 do note(gw, i) end
    wait_for("30 messages", function() return #deduplicated(receiver) == 30 end)
    socket.sleep(0.3)
    local taken, deliveries = deduplicated(receiver)
    assert.same(range(1, 30), taken)
    assert.equal(30, deliveries)
    gw:stop()
    receiver:stop()
  end)

  it("refuses a content type that would write headers of its own, and records nothing", function()
    local receiver = gateway.fake_upstream("receiver")
    local gw = outbox_gateway(receiver.url, "--outbox-retry-max 0.2")
    assert.equal(F(1999), gw:call("note_headers"))
    assert.matches("outbox.send: the content_type must be one line of text", gw:log(), 1, true)
    assert.same({}, list(gw))
    gw:stop()
    receiver:stop()
  end)

  it("never sends a stored message whose content type holds a line end, and shows why it waits", function()
    local receiver = gateway.fake_upstream("receiver")
    local gw = outbox_gateway(receiver.url, "--outbox-retry-max 0.2")
    note(gw, 1)
    wait_for("message 1", function() return #receiver:requests() == 1 end)
    -- A row such as an older version could have stored.
    store_sql(gw, "INSERT INTO outbox (uuid, target, body, content_type, created) VALUES"
      .. " ('u1', 'erp', 'x', 'text/plain' || char(13, 10) || 'X-Injected: 1', unixepoch())")
    wait_for("a refused attempt", function() return outbox_of(gw).targets[1].failed_attempts >= 1 end)
    assert.equal("cannot be sent: bad URL or content type", outbox_of(gw).targets[1].last_error)
    assert.equal(1, #receiver:requests())
    gw:stop()
    receiver:stop()
  end)

  it("refuses a target name or URL it cannot use, and an outbox command without an id", function()
    for _, bad in ipairs({ "erp", "=http://x/", "e rp=http://x/", "erp=ftp://x/", string.rep("e", 33) .. "=http://x/" }) do
      local out, refused = gateway.run(gateway.binary .. " check --outbox-target '" .. bad .. "'")
      assert.equal(2, refused, out)
    end
    local out, code = gateway.run(gateway.binary .. " check --outbox-target erp=http://x/ --outbox-target erp=http://y/")
    assert.equal(2, code, out)
    out, code = gateway.run(gateway.binary .. " outbox retry")
    assert.equal(2, code, out)
  end)
end)
