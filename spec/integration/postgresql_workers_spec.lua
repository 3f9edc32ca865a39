-- --workers N on the PostgreSQL store: each worker has a connection of its own, so the workers'
-- turns run side by side, kept apart by the database's row locks (as several gateways' are), and
-- each connection breaks and comes back on its own. A real PostgreSQL 15 (spec/helpers/postgres.lua).
local gateway = require "helpers.gateway"
local postgres = require "helpers.postgres"
local dkjson = require "dkjson"
local socket = require "socket"

local OK, F = gateway.OK, gateway.fault

local function connections(gw)
  local status, body = gw:admin("/status")
  assert.equal(200, status, body)
  return dkjson.decode(body).store.connections
end

-- Waits (up to 10 s) until every connection of /status is up; returns them.
local function all_up(gw)
  local list
  for _ = 1, 100 do
    list = connections(gw)
    local up = 0
    for _, c in ipairs(list) do up = up + (c.state == "up" and 1 or 0) end
    if up == #list then return list end
    socket.sleep(0.1)
  end
  error("the connections never all came up: " .. dkjson.encode(list))
end

describe("--workers on the PostgreSQL store", function()
  local why_not = postgres.unavailable()
  if why_not then
    it("is skipped: " .. why_not, function() pending(why_not) end)
    return
  end

  local name, uri, gw
  before_each(function()
    name, uri = postgres.database()
    gw = gateway.start({ store = uri, args = "--workers 2" })
  end)
  after_each(function()
    if gw then gw:stop() end
  end)

  it("gives each worker a connection of its own, shown in /status and /metrics", function()
    local list = all_up(gw)
    assert.equal(2, #list)
    assert.same({ 0, 1 }, { list[1].worker, list[2].worker })
    assert.is_true(list[1].backend_pid > 0 and list[2].backend_pid > 0)
    assert.are_not.equal(list[1].backend_pid, list[2].backend_pid)
    local pids = postgres.psql(string.format("SELECT count(*) FROM pg_stat_activity WHERE pid IN (%d, %d) "
      .. "AND datname = '%s'", list[1].backend_pid, list[2].backend_pid, name), "postgres")
    assert.equal("2", (pids:gsub("%s+", "")))
    local _, metrics = gw:admin("/metrics")
    assert.equal(1, gateway.metric(metrics, 'taskgate_store_connection_up{worker="1"}'))
    assert.is_true(gateway.metric(metrics, 'taskgate_store_connection_round_trips_total{worker="0"}') > 0)
    assert.is_not_nil(gateway.metric(metrics, 'taskgate_store_connection_round_trip_seconds_total{worker="1"}'))
  end)

  it("picks through both workers at once and never gives one task to two ports", function()
    local tasks = {}
    for group = 1, 40 do
      local of_group = {}
      for i = 1, 2 do
        of_group[i] = { group * 100 + i, group * 100 + i }
        tasks[#tasks + 1] = group * 100 + i
      end
      assert.equal(OK, gw:call("create_taskgroup", gateway.taskgroup_params(group, of_group)))
    end
    local pickers = {}
    for port = 1, 12 do
      assert.equal(OK, gw:call("openport", string.format("<port_id>%d</port_id>", port)))
      pickers[port] = string.format("http://127.0.0.1:%d/api/v2/task:%d", gw.port, port)
    end
    local before = all_up(gw)
    local out, code = gateway.run(string.format("%s %s/spec/helpers/pick_race.py http://127.0.0.1:%d/api/v2/task %s %s",
      gateway.python, os.getenv("TASKGATE_ROOT") or ".", gw.port, table.concat(tasks, ","), table.concat(pickers, " ")))
    assert.equal(0, code, out)
    local result = dkjson.decode(out)
    assert.same({}, result.errors)
    local picked_by, picked = {}, 0
    for port, list in pairs(result.picked) do
      for _, task in ipairs(list) do
        assert.is_nil(picked_by[task], "task " .. task .. " picked at ports " .. tostring(picked_by[task]) .. " and " .. port)
        picked_by[task] = port
        picked = picked + 1
      end
    end
    for _, task in ipairs(tasks) do
      local cancel = result.cancels[tostring(task)]
      if cancel == "ok" then
        assert.is_nil(picked_by[task], "task " .. task .. " both cancelled and picked")
      else
        assert.is_truthy(cancel == "1017" or cancel == "1045" or cancel == "1934", "cancel of " .. task .. ": " .. tostring(cancel))
        assert.is_not_nil(picked_by[task], "task " .. task .. " neither cancelled nor picked")
      end
    end
    assert.matches("<taskgroups/>", gw:call("gettaskinfo")) -- every task went exactly one way
    -- 13 client connections spread over the two workers' listeners by the kernel: both served.
    local after = connections(gw)
    for i = 1, 2 do
      assert.is_true(after[i].round_trips > before[i].round_trips, "worker " .. (i - 1) .. " served no call")
    end
    print(string.format("\n  picked %d, round trips by worker 0: %d, worker 1: %d", picked,
      after[1].round_trips - before[1].round_trips, after[2].round_trips - before[2].round_trips))
  end)

  it("faults the calls of a worker whose connection broke (1934) while the other serves, then reconnects it", function()
    local ids = {}
    for group = 1, 40 do
      assert.equal(OK, gw:call("create_taskgroup", gateway.taskgroup_params(group, { { group, group } })))
      ids[#ids + 1] = group
    end
    local worker1 = all_up(gw)[2]
    -- Worker 1's session ends, and no new one may begin until the database lets connections in again.
    postgres.psql(string.format("ALTER DATABASE %s ALLOW_CONNECTIONS false", name), "postgres")
    local faulted, done = {}, {}
    local ok, problem = pcall(function()
      postgres.psql(string.format("SELECT pg_terminate_backend(%d)", worker1.backend_pid), "postgres")
      for _, id in ipairs(ids) do -- a connection of its own each: the kernel spreads them over both workers
        local started = socket.gettime()
        local reply = gw:call("cancel_task", "<task_id>" .. id .. "</task_id>")
        assert.is_true(socket.gettime() - started < 5, "the reply came within the bounded time")
        if reply == F(1934) then faulted[#faulted + 1] = id
        else
          assert.equal(OK, reply)
          done[#done + 1] = id
        end
      end
      assert.is_true(#faulted > 0 and #done > 0, #faulted .. " faulted, " .. #done .. " cancelled")
      local status, body = gw:admin("/healthz")
      assert.equal(200, status)
      assert.matches("degraded", body)
      assert.are_not.equal("up", connections(gw)[2].state)
    end)
    postgres.psql(string.format("ALTER DATABASE %s ALLOW_CONNECTIONS true", name), "postgres")
    assert(ok, problem)
    -- nothing acknowledged that was not done, nothing done that was not acknowledged
    local left = postgres.psql("SELECT string_agg(task_id::text, ',' ORDER BY task_id) FROM task", name):gsub("%s+", "")
    assert.equal(table.concat(faulted, ","), left)
    local back = all_up(gw)[2] -- by itself, with no call needed
    assert.are_not.equal(worker1.backend_pid, back.backend_pid)
    assert.equal(1, back.reconnects)
    assert.matches("event=store_reconnected", gw:log())
    assert.equal(200, (gw:admin("/healthz")))
    for _, id in ipairs(faulted) do -- whichever worker each lands on, both serve again
      assert.equal(OK, gw:call("cancel_task", "<task_id>" .. id .. "</task_id>"))
    end
    for _, id in ipairs(done) do
      assert.equal(F(1017), gw:call("cancel_task", "<task_id>" .. id .. "</task_id>"))
    end
  end)
end)
