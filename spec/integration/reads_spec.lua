-- Read-only calls (taskgate.interfaces.read_only: gettaskinfo, getportstatus, the bin state
-- queries) run on their worker's own read connection, beside the batch that writes: they never
-- wait for the store lock, see the store as last committed (never a change not yet committed, an
-- acknowledged one always), and cannot write.
local gateway = require "helpers.gateway"
local socket = require "socket"

-- A method for these specs: creates a task group (taskgroup_id), then keeps its worker's batch
-- and the store lock for `seconds` before the change is committed.
local HOLD_STORE = [[
return function(call)
  local id = tonumber(call.params.taskgroup_id)
  store.create_taskgroup({ taskgroup_id = id, category = 1, req_time = "2024-05-01T08:00:00Z",
    req_epoch = 1714550400, priority = 1 }, { { task_id = id * 10, bin_id = 1 } })
  local until_time = clock.now() + tonumber(call.params.seconds)
  while clock.now() < until_time do end
end
]]

local function request(name, params_xml)
  return gateway.post_request(gateway.methodcall(name, params_xml))
end

local function group_query(id)
  return request("gettaskinfo", "<taskgroup_id>" .. id .. "</taskgroup_id>")
end

local function shows_group(body, id)
  return body:find("<taskgroup_id>" .. id .. "</taskgroup_id>", 1, true) ~= nil
end

describe("read-only calls", function()
  describe("with --workers 2", function()
    local gw
    setup(function()
      gw = gateway.start({ rules = gateway.rules_dir({ holdstore = HOLD_STORE }),
        args = "--workers 2 --lua-time-limit 8000" })
    end)
    teardown(function() gw:stop() end)

    it("answer during a long writing batch without waiting, and never show its uncommitted change", function()
      local writer = gw:connect()
      writer:settimeout(10)
      assert(writer:send(request("holdstore", "<taskgroup_id>500</taskgroup_id><seconds>3</seconds>")))
      socket.sleep(0.5) -- the batch runs: the group is inserted, not committed
      -- Connections are spread over the two workers by the kernel: reads on the other worker's
      -- must answer while the batch holds the store; those on its own worker wait for its turn.
      local readers, sockets, from = {}, { writer }, {}
      for i = 1, 16 do
        readers[i] = gw:connect()
        assert(readers[i]:send(group_query(500)))
        sockets[#sockets + 1] = readers[i]
        from[readers[i]] = i
      end
      local before_ack, after_ack, acked, left = 0, 0, false, 17
      while left > 0 do
        local ready = socket.select(sockets, nil, 10)
        assert.is_true(#ready > 0, "no reply within 10 s")
        -- The write's reply was sent before any read its commit let through: take it first.
        table.sort(ready, function(a, b) return a == writer and b ~= writer end)
        for _, conn in ipairs(ready) do
          local status, _, body = gateway.read_response(conn)
          assert.equal(200, status)
          if conn == writer then
            assert.equal(gateway.OK, body)
            acked = true
          elseif acked then
            after_ack = after_ack + 1
          else
            assert.is_false(shows_group(body, 500), "a read showed the uncommitted group: " .. body)
            before_ack = before_ack + 1
          end
          for k, s in ipairs(sockets) do
            if s == conn then table.remove(sockets, k) break end
          end
          left = left - 1
        end
      end
      assert.is_true(acked)
      assert.is_true(before_ack > 0, "every read waited for the writing batch")
      assert.equal(16, before_ack + after_ack)
      writer:close()
      for _, conn in ipairs(readers) do conn:close() end
      -- once acknowledged, every read sees it
      for _ = 1, 8 do
        local status, _, body = gw:raw(group_query(500))
        assert.equal(200, status)
        assert.is_true(shows_group(body, 500), body)
      end
    end)

    it("see every acknowledged change at once, whichever worker answers the read", function()
      local conns = {}
      for i = 1, 8 do conns[i] = gw:connect() end
      local function call(conn, bytes)
        assert(conn:send(bytes))
        local status, _, body = gateway.read_response(conn)
        assert.equal(200, status)
        return body
      end
      for round = 1, 40 do
        local id = 1000 + round
        local write, read = conns[round % 8 + 1], conns[(round * 3 + 1) % 8 + 1]
        assert.equal(gateway.OK, call(write, request("create_taskgroup", gateway.taskgroup_params(id, { { id * 10, 7 } }))))
        assert.is_true(shows_group(call(read, group_query(id)), id), "round " .. round)
        assert.equal(gateway.OK, call(write, request("cancel_taskgroup", "<taskgroup_id>" .. id .. "</taskgroup_id>")))
        assert.is_false(shows_group(call(read, group_query(id)), id), "round " .. round)
        local port = call(read, request("getportstatus", "<port_id>" .. round .. "</port_id>"))
        assert.matches("<status>closed</status>", port)
        assert.equal(gateway.OK, call(write, request("openport", "<port_id>" .. round .. "</port_id>")))
        assert.matches("<status>open</status>", call(read, request("getportstatus", "<port_id>" .. round .. "</port_id>")))
      end
      for _, conn in ipairs(conns) do conn:close() end
    end)
  end)

  it("keep answering through reloads, on the rules of the generation that took them", function()
    local rules = gateway.rules_dir()
    local gw = gateway.start({ rules = rules, args = "--workers 2" })
    finally(function() gw:stop() end)
    local conns = {}
    for i = 1, 8 do conns[i] = gw:connect() end
    local original = gateway.read_file(rules .. "/getportstatus.lua")
    for round = 1, 12 do
      for _, conn in ipairs(conns) do assert(conn:send(request("getportstatus", "<port_id>5</port_id>"))) end
      if round % 3 == 0 then -- a new generation answers with port_id 5 or 6 (the last: 6)
        local sign = round % 2 == 0 and "6" or "5"
        gateway.write_file(rules .. "/getportstatus.lua", original:gsub("local port_id = params.port_id%(call.params.port_id%)",
          "local port_id = " .. sign, 1))
        assert.equal(0, select(2, gw:command("reload")))
      end
      for _, conn in ipairs(conns) do
        local status, _, body = gateway.read_response(conn)
        assert.equal(200, status)
        assert.matches("<port_id>[56]</port_id>\n%s*<status>closed</status>", body)
      end
    end
    for _, conn in ipairs(conns) do conn:close() end
    for _ = 1, 8 do -- whichever worker: the last generation
      assert.matches("<port_id>6</port_id>", gw:call("getportstatus", "<port_id>5</port_id>"))
    end
  end)

  describe("whose rule writes", function()
    local gw
    setup(function()
      -- getportstatus is declared read-only; this site's version writes (a group) before answering
      gw = gateway.start({ rules = gateway.rules_dir({ getportstatus = [[
return function(call)
  store.create_taskgroup({ taskgroup_id = 77, category = 1, req_time = "2024-05-01T08:00:00Z",
    req_epoch = 1714550400, priority = 1 }, { { task_id = 770, bin_id = 1 } })
  return { port_id = call.params.port_id, status = "closed" }
end
]] }) })
    end)
    teardown(function() gw:stop() end)

    it("get 1999, change nothing, and the log says the method is declared read-only", function()
      assert.equal(gateway.fault(1999), gw:call("getportstatus", "<port_id>1</port_id>"))
      assert.is_false(shows_group(gw:call("gettaskinfo", "<taskgroup_id>77</taskgroup_id>"), 77))
      assert.matches("a read%-only method cannot write %(taskgate%.interfaces%.read_only%)", gw:log())
      -- the writing methods are not concerned
      assert.equal(gateway.OK, gw:call("create_taskgroup", gateway.taskgroup_params(78, { { 780, 1 } })))
      assert.is_true(shows_group(gw:call("gettaskinfo", "<taskgroup_id>78</taskgroup_id>"), 78))
    end)
  end)
end)
