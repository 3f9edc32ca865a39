-- Writers side by side on one PostgreSQL: cancels through two gateways, or through the two
-- workers of one, land in the same groups at once while ports pick. No call faults 1934: none
-- may wait out the lock timeout, and a call a deadlock chose as its victim runs again (docs/ha.md)
-- and is answered as if it had met none. Every invariant holds: no task picked twice, each
-- cancel answered as the task's fate says, no group left without tasks, the audit trail naming
-- exactly the cancels acknowledged. Lock waits the database logged (over 20 ms) and deadlocks it
-- broke (two turns cancelling tasks in opposite orders can still meet one) are printed beside
-- the counts, not asserted: a loaded machine may stretch a commit. A real PostgreSQL 15
-- (spec/helpers/postgres.lua).
local gateway = require "helpers.gateway"
local postgres = require "helpers.postgres"
local dkjson = require "dkjson"
local socket = require "socket"

local OK = gateway.OK
local GROUPS, PER_GROUP, PORTS, CANCELLERS = 20, 20, 4, 3

local function sql(query, name)
  local out, code = postgres.psql(query, name)
  assert.equal(0, code, out)
  return (out:gsub("%s+$", ""))
end

local function log_size()
  local file = assert(io.open(postgres.host() .. "/server.log"))
  local size = file:seek("end")
  file:close()
  return size
end

local function log_since(offset)
  local file = assert(io.open(postgres.host() .. "/server.log"))
  file:seek("set", offset)
  local text = file:read("a")
  file:close()
  return text
end

local function count(text, pattern)
  return select(2, text:gsub(pattern, ""))
end

-- Creates the groups through `creator` (starting at `start_time`, when given: the race waits
-- for it), opens the ports (spread over `pickers`), then races the pickers against CANCELLERS
-- clients per gateway of `cancellers` (none when empty); returns pick_race's result and the
-- task ids. `bin_of(group, i)` names each task's bin (default: a bin of its own).
local function race(creator, cancellers, pickers, start_time, bin_of)
  local tasks = {}
  for group = 1, GROUPS do
    local of_group = {}
    for i = 1, PER_GROUP do
      of_group[i] = { group * 100 + i, bin_of and bin_of(group, i) or group * 100 + i }
      tasks[#tasks + 1] = group * 100 + i
    end
    assert.equal(OK, creator:call("create_taskgroup", gateway.taskgroup_params(group, of_group,
      start_time and ("<start_time>" .. start_time .. "</start_time>"))))
  end
  local picker_urls = {}
  for port = 1, PORTS do
    local gw = pickers[(port - 1) % #pickers + 1]
    assert.equal(OK, gw:call("openport", string.format("<port_id>%d</port_id>", port)))
    picker_urls[port] = string.format("http://127.0.0.1:%d/api/v2/task:%d", gw.port, port)
  end
  while start_time and os.date("!%Y-%m-%dT%H:%M:%SZ") < start_time do socket.sleep(0.05) end
  local cancel_urls = {}
  for i, gw in ipairs(cancellers) do cancel_urls[i] = string.format("http://127.0.0.1:%d/api/v2/task", gw.port) end
  local out, code = gateway.run(string.format("CANCELLERS=%d %s %s/spec/helpers/pick_race.py %s %s %s", CANCELLERS,
    gateway.python, os.getenv("TASKGATE_ROOT") or ".", #cancel_urls > 0 and table.concat(cancel_urls, ",") or "-",
    #cancel_urls > 0 and table.concat(tasks, ",") or "-",
    table.concat(picker_urls, " ")))
  assert.equal(0, code, out)
  return assert(dkjson.decode(out), out), tasks
end

-- Every task went exactly one way, nothing waited out a lock, the audit trail says what was done.
-- Each task picked at most once: port by task, and how many were picked.
local function picked_once(result)
  local picked_by, picked = {}, 0
  for port, list in pairs(result.picked) do
    for _, task in ipairs(list) do
      assert.is_nil(picked_by[task], "task " .. task .. " picked at ports " .. tostring(picked_by[task]) .. " and " .. port)
      picked_by[task], picked = port, picked + 1
    end
  end
  return picked_by, picked
end

local function check(result, tasks, name, log)
  assert.same({}, result.errors)
  assert.equal(0, result.unavailable, "calls answered 1934 (a lock timeout, or a deadlock's victim not run again)")
  local picked_by, picked = picked_once(result)
  local cancelled = {}
  for _, task in ipairs(tasks) do
    local cancel = result.cancels[tostring(task)]
    if cancel == "ok" then
      assert.is_nil(picked_by[task], "task " .. task .. " both cancelled and picked")
      cancelled[#cancelled + 1] = task
    else -- picked already (1017), or its bin open at a port (1045)
      assert.is_truthy(cancel == "1017" or cancel == "1045", "cancel of " .. task .. ": " .. tostring(cancel))
      assert.is_not_nil(picked_by[task], "task " .. task .. " neither cancelled nor picked")
    end
  end
  assert.is_true(#cancelled > 0 and picked > 0, #cancelled .. " cancelled, " .. picked .. " picked")
  -- Nothing left: no task, and no group whose last tasks two sessions removed at once.
  assert.equal("0|0", sql("SELECT (SELECT count(*) FROM task) || '|' || (SELECT count(*) FROM taskgroup)", name))
  table.sort(cancelled)
  assert.equal(table.concat(cancelled, ","), sql("SELECT coalesce(string_agg((params::json->>'task_id'), ',' "
    .. "ORDER BY (params::json->>'task_id')::bigint), '') FROM audit WHERE method = 'cancel_task' AND outcome = 'ok'", name))
  assert.equal(tostring(picked), sql("SELECT count(*) FROM audit WHERE method = 'openbin' AND outcome = 'ok' "
    .. "AND (params::json->>'task_id')::bigint > 0", name))
  assert.equal(0, count(log, "canceling statement due to lock timeout"))
  -- The gateways have stopped: their sessions' statistics are in.
  print(string.format("\n  cancelled %d, picked %d, 1934 answers %d, lock waits over 20 ms logged: %d, deadlocks %s "
    .. "(each victim run again)", #cancelled, picked, result.unavailable, count(log, "still waiting for"),
    sql(string.format("SELECT deadlocks FROM pg_stat_database WHERE datname = '%s'", name), "postgres")))
end

describe("writers side by side on the PostgreSQL store", function()
  local why_not = postgres.unavailable()
  if why_not then
    it("is skipped: " .. why_not, function() pending(why_not) end)
    return
  end

  -- Bins shared by tasks of several groups: a bin one port closed is the next one another port
  -- opens, so each openbin frees its port's closed bins while taking a bin another port holds
  -- CLOSED. Every session must lock bin rows in one order (bin_id), else two ports freeing
  -- each other's bins deadlock (a 1934 after deadlock_timeout).
  local function check_shared_bins(result, tasks, name, log)
    assert.same({}, result.errors)
    local picked_by, picked = picked_once(result)
    print(string.format("\n  picked %d of %d, 1934 answers %d, deadlocks counted by the database %s, detected in its log %d",
      picked, #tasks, result.unavailable,
      sql(string.format("SELECT deadlocks FROM pg_stat_database WHERE datname = '%s'", name), "postgres"),
      count(log, "deadlock detected")))
    for detail in log:gmatch("deadlock detected.-STATEMENT:[^\n]*") do print(detail) end
    assert.equal(#tasks, picked)
    assert.equal(0, result.unavailable, "calls answered 1934 (a lock timeout or a deadlock's victim)")
    assert.equal("0|0", sql("SELECT (SELECT count(*) FROM task) || '|' || (SELECT count(*) FROM taskgroup)", name))
    assert.equal(tostring(picked), sql("SELECT count(*) FROM audit WHERE method = 'openbin' AND outcome = 'ok' "
      .. "AND (params::json->>'task_id')::bigint > 0", name))
    assert.equal("0", sql("SELECT count(*) FROM bin WHERE bin_mode = 'OPEN'", name))
    assert.equal("0", sql(string.format("SELECT deadlocks FROM pg_stat_database WHERE datname = '%s'", name), "postgres"))
    assert.equal(0, count(log, "deadlock detected"))
  end

  local name, uri, started, from
  before_each(function()
    name, uri = postgres.database()
    -- The sessions of this database log each lock they wait for over 20 ms (deadlock_timeout).
    sql(string.format("ALTER DATABASE %s SET log_lock_waits = on", name))
    sql(string.format("ALTER DATABASE %s SET deadlock_timeout = '20ms'", name))
    started, from = {}, log_size()
  end)
  after_each(function()
    for _, gw in ipairs(started) do gw:stop() end
  end)

  local function start(args)
    local gw = gateway.start({ store = uri, args = args })
    started[#started + 1] = gw
    return gw
  end
  local function stop_all()
    for _, gw in ipairs(started) do gw:stop() end
    started = {}
  end

  it("cancels through two gateways in the same groups while ports pick through both", function()
    local a, b = start(), start()
    local result, tasks = race(a, { a, b }, { a, b })
    stop_all()
    check(result, tasks, name, log_since(from))
  end)

  it("picks through two gateways when every group falls due at the same moment, while clients cancel", function()
    -- Each pick first promotes the groups whose start_time has come: the pickers of both
    -- gateways promote the same groups at once.
    local a, b = start(), start()
    local result, tasks = race(a, { a, b }, { a, b }, os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() + 3))
    stop_all()
    check(result, tasks, name, log_since(from))
  end)

  it("cancels through two workers of one gateway in the same groups while ports pick", function()
    local gw = start("--workers 2")
    local function round_trips()
      local _, status = gw:admin("/status")
      local connections = dkjson.decode(status).store.connections
      assert.equal(2, #connections)
      return { connections[1].round_trips, connections[2].round_trips }
    end
    local before = round_trips()
    local result, tasks = race(gw, { gw }, { gw })
    local after = round_trips()
    stop_all()
    check(result, tasks, name, log_since(from))
    for worker = 1, 2 do -- the clients' connections spread over both workers' listeners
      assert.is_true(after[worker] > before[worker], "worker " .. (worker - 1) .. " served no call")
    end
  end)

  it("picks through two gateways groups whose tasks share bins, without a deadlock", function()
    local a, b = start(), start()
    local result, tasks = race(a, {}, { a, b }, nil, function(group, i) return 1 + (group * 3 + i) % (PORTS + 1) end)
    stop_all()
    check_shared_bins(result, tasks, name, log_since(from))
  end)
end)
