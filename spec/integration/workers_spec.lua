-- --workers N: several event-loop threads on one port, sharing one store. Every guarantee of
-- the single loop must hold across them: exact replies, no lost or doubled change, reloads
-- that reach every worker, one connection cap, one set of metrics, a clean drain.
local gateway = require "helpers.gateway"
local socket = require "socket"

local steps = require "helpers.conformance_steps"
local F = gateway.fault

local get = gateway.get

-- Waits (up to 5 s) until /status matches the Lua pattern `pattern`.
local function wait_for_status(gw, pattern)
  local body
  for _ = 1, 500 do
    body = select(2, gw:admin("/status"))
    if body:find(pattern) then return end
    socket.sleep(0.01)
  end
  error("status never showed " .. pattern .. ": " .. body)
end

-- Sends one cancel_task per open connection, all before reading any reply, for `rounds`
-- rounds; returns the ids acknowledged with the success reply and how many other replies came.
local function cancel_over(conns, first_id, rounds)
  local acked, other, next_id = {}, 0, first_id - 1
  for _ = 1, rounds do
    local sent = {}
    for c, conn in ipairs(conns) do
      next_id = next_id + 1
      assert(conn:send(gateway.post_request(gateway.methodcall("cancel_task", "<task_id>" .. next_id .. "</task_id>"))))
      sent[c] = next_id
    end
    for c, id in pairs(sent) do
      local status, _, body = gateway.read_response(conns[c])
      if status == 200 and body == gateway.OK then acked[#acked + 1] = id else other = other + 1 end
    end
  end
  return acked, other
end

describe("--workers", function()
  it("refuses a worker count outside 1..64", function()
    for _, n in ipairs({ "0", "65", "two" }) do
      local out, code = gateway.run(gateway.binary .. " --workers " .. n .. " --store /tmp/none.db")
      assert.equal(2, code, out)
      assert.matches("workers", out)
    end
  end)

  describe("with three workers", function()
    local gw
    setup(function() gw = gateway.start({ args = "--workers 3 --lua-time-limit 5000" }) end)
    teardown(function() gw:stop() end)

    it("gives the exact reply of every conformance step, whichever worker answers", function()
      for i, step in ipairs(steps) do
        assert.equal(step[4], gw:call(step[2], step[3]), string.format("step %02d %s", i, step[1]))
      end
    end)

    it("applies every acknowledged change exactly once under concurrent load", function()
      local tasks = {}
      for i = 1, 2000 do tasks[i] = { 100000 + i, i } end
      assert.equal(gateway.OK, gw:call("create_taskgroup", gateway.taskgroup_params(9000, tasks)))
      local conns = {}
      for c = 1, 12 do conns[c] = gw:connect() end -- spread over the three listeners
      local acked, other = cancel_over(conns, 100001, 100)
      assert.equal(1200, #acked)
      assert.equal(0, other)
      -- A second cancel of each is refused: the first was really stored, once.
      local again = cancel_over(conns, 100001, 100)
      assert.equal(0, #again)
      for _, conn in ipairs(conns) do conn:close() end
      local audit = gateway.run(gateway.binary .. " audit --store " .. gw.store)
      local cancels = select(2, audit:gsub('"method":"cancel_task","params":{"task_id":1%d%d%d%d%d', ""))
      assert.equal(1200, cancels)
    end)

    it("shows one status and one set of metrics for all workers", function()
      local status, body = gw:admin("/status")
      assert.equal(200, status)
      assert.matches('"workers":3', body, 1, true)
      local conns = {}
      for c = 1, 6 do conns[c] = gw:connect() end
      for _, conn in ipairs(conns) do
        assert(conn:send(gateway.post_request(gateway.methodcall("cancel_task", "<task_id>1</task_id>"))))
        assert.equal(200, (gateway.read_response(conn)))
      end
      local _, metrics = gw:admin("/metrics")
      local open = tonumber(metrics:match("\ntaskgate_open_connections (%d+)"))
      assert.is_true(open >= 6, metrics)
      for _, conn in ipairs(conns) do conn:close() end
      local calls = tonumber(metrics:match('taskgate_calls_total{method="cancel_task",outcome="ok"} (%d+)'))
      assert.is_true(calls >= 1200) -- counted by whichever worker served them
    end)
  end)

  it("reloads the rules of every worker, and keeps them all on the old rules when the new ones fail", function()
    local rules = gateway.rules_dir()
    local gw = gateway.start({ rules = rules, args = "--workers 3" })
    finally(function() gw:stop() end) -- a failure must not leave the gateway running
    local function all_answer(expected)
      for _ = 1, 12 do -- new connections land on every worker
        assert.equal(expected, gw:call("cancel_task", "<task_id>77</task_id>"))
      end
    end
    all_answer(F(1017))
    local original = gateway.read_file(rules .. "/cancel_task.lua")
    local changed = original:gsub("return function%(call%)\n",
      'return function(call)\n  if call.params.task_id == "77" then return fault(1045) end\n', 1)
    gateway.write_file(rules .. "/cancel_task.lua", changed)
    local out, code = gw:command("reload")
    assert.equal(0, code, out)
    -- The file watch and the signal may each reload: one or two generations, both the new rules.
    wait_for_status(gw, '"reloads_ok":[12],')
    all_answer(F(1045))
    gateway.write_file(rules .. "/cancel_task.lua", "return function(call) return fault(\n")
    assert.equal(1, select(2, gw:command("reload")))
    wait_for_status(gw, '"last_reload":{"ok":false') -- the signal and the file watch may both reload
    all_answer(F(1045))
    gw:stop()
  end)

  it("caps open connections across all workers", function()
    local gw = gateway.start({ args = "--workers 2 --max-connections 4" })
    local conns, refused = {}, 0
    for c = 1, 6 do
      conns[c] = gw:connect()
      socket.sleep(0.05) -- accepted in this order
    end
    for _, conn in ipairs(conns) do
      assert(conn:send(gateway.post_request(gateway.methodcall("cancel_task", "<task_id>5</task_id>"))))
      local status = gateway.read_response(conn)
      if status == 503 then refused = refused + 1 else assert.equal(200, status) end
      conn:close()
    end
    assert.equal(2, refused)
    gw:stop()
  end)

  it("drains every worker on SIGTERM: calls in flight are answered, then the process exits", function()
    local gw = gateway.start({ args = "--workers 2" })
    local conns = {}
    for c = 1, 4 do conns[c] = gw:connect() end
    assert.equal(gateway.OK, gw:call("create_taskgroup", gateway.taskgroup_params(1, { { 1, 1 }, { 2, 2 } })))
    for _, conn in ipairs(conns) do
      assert(conn:send(gateway.post_request(gateway.methodcall("cancel_task", "<task_id>9</task_id>"))))
    end
    os.execute("kill -TERM " .. gw.pid)
    for _, conn in ipairs(conns) do -- sent before the signal: still answered
      local status, _, body = gateway.read_response(conn)
      assert.equal(200, status)
      assert.equal(F(1017), body)
      conn:close()
    end
    for _ = 1, 300 do
      if not gw:alive() then break end
      socket.sleep(0.01)
    end
    assert.is_false(gw:alive())
    assert.matches("event=stopped", gw:log())
  end)
end)
