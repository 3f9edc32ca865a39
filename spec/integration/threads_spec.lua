-- Several workers in bridge mode at once, with the admin endpoints and a reload running beside
-- their calls: the paths shared between threads (the upstream client of each worker, its name
-- resolution, the metrics and status that read every worker, a reload that swaps every worker's
-- rules). `scripts/tsan` runs this file under ThreadSanitizer with the workers and bridge specs;
-- in the normal passes it checks the same traffic is answered exactly.
local gateway = require "helpers.gateway"

local CONNECTIONS, ROUNDS, FIRST_ID = 16, 12, 700001

local function cancel(id)
  return gateway.post_request(gateway.methodcall("cancel_task", "<task_id>" .. id .. "</task_id>"))
end

describe("four workers in bridge mode", function()
  local a, b
  setup(function()
    b = gateway.start()
    -- A host name, not an address: every worker resolves it while the others serve.
    a = gateway.start({ args = string.format("--workers 4 --upstream http://localhost:%d/api/v2/task "
      .. "--upstream-reply-timeout 10 --lua-time-limit 5000", b.port) })
  end)
  teardown(function()
    a:stop()
    b:stop()
  end)

  it("answers every pipelined call exactly while /metrics, /status and reloads run beside them", function()
    local tasks = {}
    for i = 1, CONNECTIONS * ROUNDS do tasks[i] = { FIRST_ID - 1 + i, i } end
    assert.equal(gateway.OK, a:call("create_taskgroup", gateway.taskgroup_params(7000, tasks)))
    local conns = {}
    for c = 1, CONNECTIONS do conns[c] = a:connect() end
    local id, acked = FIRST_ID, 0
    for round = 1, ROUNDS do
      for _, conn in ipairs(conns) do
        assert(conn:send(cancel(id)))
        id = id + 1
      end
      -- While the workers forward those: every admin view that reads all of them, and a reload.
      assert.equal(200, (a:admin("/metrics")))
      assert.equal(200, (a:admin("/status")))
      if round % 4 == 0 then os.execute("kill -HUP " .. a.pid) end
      for _, conn in ipairs(conns) do
        local status, _, body = gateway.read_response(conn)
        if status == 200 and body == gateway.OK then acked = acked + 1 end
      end
    end
    for _, conn in ipairs(conns) do conn:close() end
    assert.equal(CONNECTIONS * ROUNDS, acked)
    -- Each cancel reached the store behind A once.
    local audit = gateway.run(gateway.binary .. " audit --store " .. b.store)
    assert.equal(CONNECTIONS * ROUNDS, select(2, audit:gsub('"method":"cancel_task","params":{"task_id":7%d%d%d%d%d', "")))
    local generation = tonumber(select(2, a:admin("/status")):match('"generation":(%d+)'))
    assert.is_true(generation > 1, "no reload happened") -- SIGHUP's reload runs on the main thread
    assert.is_true(a:alive())
  end)
end)
