-- The PostgreSQL store (--store postgresql://...): several gateways on one real PostgreSQL 15,
-- started by the specs (spec/helpers/postgres.lua). Skipped, saying why, only where the
-- server's programs are not installed. The core flows also run whole on this store (scripts/test,
-- TASKGATE_STORE=postgresql); this file holds what only a shared database has.
local gateway = require "helpers.gateway"
local postgres = require "helpers.postgres"
local dkjson = require "dkjson"
local socket = require "socket"

local OK, F = gateway.OK, gateway.fault

local function open_port(gw, port, category)
  assert.equal(OK, gw:call("openport", string.format("<port_id>%d</port_id>%s", port,
    category and ("<select><category>" .. category .. "</category></select>") or "")))
end

-- Groups first..last of `per_group` tasks each: task ids group * 100 + 1.., bins alike.
local function create_groups(gw, first, last, per_group)
  for group = first, last do
    local tasks = {}
    for i = 1, per_group do tasks[i] = { group * 100 + i, group * 100 + i } end
    assert.equal(OK, gw:call("create_taskgroup", gateway.taskgroup_params(group, tasks)))
  end
end

describe("the PostgreSQL store", function()
  local why_not = postgres.unavailable()
  if why_not then
    it("is skipped: " .. why_not, function() pending(why_not) end)
    return
  end

  local uri, a, b
  before_each(function()
    uri = select(2, postgres.database())
    a = gateway.start({ store = uri })
    b = gateway.start({ store = uri })
  end)
  after_each(function()
    if a then a:stop() end
    if b then b:stop() end
  end)

  it("serves the console's views of the store: ports, queue, search and audit", function()
    create_groups(a, 1, 2, 2)
    open_port(b, 7, 1)
    assert.matches("<task_id>101</task_id>", b:call("openbin", "<port_id>7</port_id>"))
    assert.equal(OK, a:call("cancel_task", "<task_id>202</task_id>"))
    local function view(gw, path)
      local status, body = gw:admin("/console/api/" .. path)
      assert.equal(200, status, path .. ": " .. tostring(body))
      return dkjson.decode(body)
    end
    local ports = view(a, "ports").ports
    assert.same({ 7, true, 101, 101, 1 }, { ports[1].port_id, ports[1].open, ports[1].bin_id, ports[1].task_id, ports[1].taskgroup_id })
    local queue = view(a, "queue")
    assert.equal(2, queue.any[1].taskgroup_id)
    assert.same({ 7 }, queue.categories[1].ports)
    assert.equal("selected", view(a, "search?task=102").group.standing.state)
    local methods = {}
    for _, record in ipairs(view(b, "audit?task=202").records) do methods[#methods + 1] = record.method end
    assert.same({ "cancel_task", "create_taskgroup" }, methods)
    methods = {}
    for _, record in ipairs(view(a, "audit?group=1").records) do methods[#methods + 1] = record.method end
    assert.same({ "openbin", "create_taskgroup" }, methods) -- who selected the group
    local newest = view(b, "audit").records
    assert.is_true(#newest >= 5, #newest .. " records")
    assert.equal("cancel_task", newest[1].method)
  end)

  it("serves two gateways on one database with one state: a task selected through A answers 1045 through B", function()
    create_groups(a, 1, 1, 2)
    open_port(b, 7)
    local reply = b:call("openbin", "<port_id>7</port_id>")
    assert.matches("<task_id>101</task_id>", reply)
    assert.equal(F(1045), a:call("cancel_task", "<task_id>101</task_id>"))
    assert.equal(OK, a:call("cancel_task", "<task_id>102</task_id>"))
    open_port(a, 8)
    assert.equal(F(1019), a:call("openbin", "<port_id>8</port_id><task_id>101</task_id>")) -- the group is at port 7
    assert.equal(F(1902), a:call("create_taskgroup", gateway.taskgroup_params(1, { { 900, 9 } })))
    assert.equal(OK, b:call("closebin", "<port_id>7</port_id><bin_id>101</bin_id><task_id>101</task_id>"))
    assert.equal(F(1017), a:call("cancel_task", "<task_id>101</task_id>")) -- done through B, gone for A
    assert.matches("<taskgroups/>", a:call("gettaskinfo"))
    -- Both gateways wrote their calls' audit rows into the one database.
    local out = postgres.psql("SELECT method FROM audit WHERE marked IS NULL ORDER BY audit_id",
      uri:match("^postgresql:///([%w_]+)"))
    assert.matches("create_taskgroup\nopenport\nopenbin\ncancel_task\nopenport\nclosebin", out)
  end)

  it("never gives one task to two ports picking through different gateways, while a client cancels through a third",
    function()
      local c = gateway.start({ store = uri })
      create_groups(a, 1, 30, 2) -- 60 tasks
      local tasks = {}
      for group = 1, 30 do
        for i = 1, 2 do tasks[#tasks + 1] = group * 100 + i end
      end
      for port = 1, 4 do open_port(port <= 2 and a or b, port) end
      local out, code = gateway.run(string.format("%s %s/spec/helpers/pick_race.py http://127.0.0.1:%d/api/v2/task %s "
        .. "http://127.0.0.1:%d/api/v2/task:1 http://127.0.0.1:%d/api/v2/task:2 "
        .. "http://127.0.0.1:%d/api/v2/task:3 http://127.0.0.1:%d/api/v2/task:4",
        gateway.python, os.getenv("TASKGATE_ROOT") or ".", c.port, table.concat(tasks, ","), a.port, a.port, b.port, b.port))
      c:stop()
      assert.equal(0, code, out)
      local result = dkjson.decode(out)
      assert.same({}, result.errors)
      local picked_by, through = {}, { a = 0, b = 0 }
      for port, tasks in pairs(result.picked) do
        for _, task in ipairs(tasks) do
          assert.is_nil(picked_by[task], "task " .. task .. " picked at ports " .. tostring(picked_by[task]) .. " and " .. port)
          picked_by[task] = port
          through[tonumber(port) <= 2 and "a" or "b"] = through[tonumber(port) <= 2 and "a" or "b"] + 1
        end
      end
      local cancelled = 0
      for _, task in ipairs(tasks) do
        local cancel = result.cancels[tostring(task)]
        if cancel == "ok" then
          cancelled = cancelled + 1
          assert.is_nil(picked_by[task], "task " .. task .. " both cancelled and picked")
        else
          -- picked before the cancel came (1017: done already), while its bin was open (1045), or
          -- the cancel waited past the lock timeout for a pick's turn (1934: nothing changed)
          assert.is_truthy(cancel == "1017" or cancel == "1045" or cancel == "1934",
            "cancel of " .. task .. ": " .. tostring(cancel))
          assert.is_not_nil(picked_by[task], "task " .. task .. " neither cancelled nor picked")
        end
      end
      assert.is_true(through.a > 0 and through.b > 0, "both gateways served picks")
      assert.matches("<taskgroups/>", a:call("gettaskinfo")) -- every task went exactly one way
      print(string.format("\n  picked through A %d, through B %d, cancelled %d", through.a, through.b, cancelled))
    end)

  it("loses no acknowledged change when a gateway is killed with -9 mid-load: the other serves on", function()
    local tasks = {}
    for group = 1, 20 do -- 2,000 tasks: cancelled one after another, they take a few seconds
      local of_group = {}
      for i = 1, 100 do
        of_group[i] = { group * 1000 + i, group }
        tasks[#tasks + 1] = group * 1000 + i
      end
      assert.equal(OK, b:call("create_taskgroup", gateway.taskgroup_params(group, of_group)))
    end
    local dir = gateway.tmpdir()
    os.execute(string.format("%s %s/spec/helpers/pick_race.py http://127.0.0.1:%d/api/v2/task %s >%s/out 2>&1 &",
      gateway.python, os.getenv("TASKGATE_ROOT") or ".", a.port, table.concat(tasks, ","), dir))
    local name = uri:match("^postgresql:///([%w_]+)")
    for _ = 1, 200 do -- until the cancels are under way: some committed
      if tonumber(postgres.psql("SELECT count(*) FROM task", name):match("%d+")) < 1900 then break end
      socket.sleep(0.05)
    end
    os.execute("kill -9 " .. a.pid)
    local result
    for _ = 1, 300 do
      result = dkjson.decode(gateway.read_file(dir .. "/out") or "")
      if result then break end
      socket.sleep(0.1)
    end
    a = nil
    local answered = { ok = 0, error = 0 }
    for _, task in ipairs(tasks) do
      local outcome = result.cancels[tostring(task)]
      answered[outcome] = (answered[outcome] or 0) + 1
      assert.is_truthy(outcome == "ok" or outcome == "error", outcome) -- acknowledged, or no answer at all
    end
    assert.is_true(answered.ok > 0 and answered.error > 0, "the kill came while the cancels were under way")
    -- B serves on: it lists no task whose cancel was acknowledged, and every unanswered one
    -- that the killed gateway's last turn did not commit (the rest of them were done). (Listing
    -- some 1,900 tasks in one reply may take past the 50 ms Lua time limit on a loaded machine:
    -- B's successor on the same database gets room for it.)
    b:stop()
    b = gateway.start({ store = uri, args = "--lua-time-limit 5000" })
    local listed, still_there = b:call("gettaskinfo"), 0
    for task in listed:gmatch("<task_id>(%d+)</task_id>") do
      assert.equal("error", result.cancels[task])
      still_there = still_there + 1
    end
    assert.is_true(still_there > 0 and still_there <= answered.error, listed:sub(1, 200))
    print(string.format("\n  acknowledged through A before the kill %d, unanswered %d", answered.ok, answered.error))
  end)

  it("faults calls clearly while the database is down, fails /healthz, and serves again once it is back", function()
    create_groups(a, 1, 1, 1)
    assert.equal(200, (a:admin("/healthz")))
    local stopped = postgres.stop_server()
    local ok, fault_seen = pcall(function()
      local started = socket.gettime()
      assert.equal(F(1934), a:call("cancel_task", "<task_id>101</task_id>"))
      assert.equal(F(1934), b:call("create_taskgroup", gateway.taskgroup_params(2, { { 201, 1 } })))
      assert.is_true(socket.gettime() - started < 5, "the faults came within the bounded time")
      local status, body = a:admin("/healthz")
      assert.equal(503, status)
      assert.matches("store unusable", body)
    end)
    local _, code = postgres.start_server()
    assert.equal(0, code, stopped)
    assert(ok, fault_seen)
    -- Reconnection is attempted at most once a second, by calls and by /healthz.
    local healthy
    for _ = 1, 50 do
      healthy = a:admin("/healthz") == 200
      if healthy then break end
      socket.sleep(0.1)
    end
    assert.is_true(healthy)
    -- Nothing was changed while it was down. (Right after the database came back a call may still
    -- meet it starting up: 1934 again, which changed nothing either.)
    local reply
    for _ = 1, 30 do
      reply = a:call("cancel_task", "<task_id>101</task_id>")
      if reply ~= F(1934) then break end
      socket.sleep(0.1)
    end
    assert.equal(OK, reply)
    for _ = 1, 30 do
      if b:call("cancel_task", "<task_id>101</task_id>") == F(1017) then break end
      socket.sleep(0.1)
    end
    assert.equal(F(1017), b:call("cancel_task", "<task_id>101</task_id>"))
    assert.equal(F(1017), b:call("cancel_task", "<task_id>201</task_id>")) -- its create was not acknowledged, nor done
    assert.matches("event=store_reconnected", a:log())
  end)

  it("migrates the schema once for gateways starting together, and refuses a newer schema", function()
    local name = uri:match("^postgresql:///([%w_]+)")
    assert.equal("3", (postgres.psql("SELECT version FROM taskgate_schema", name):gsub("%s+", "")))
    a:stop()
    b:stop()
    a, b = nil, nil
    postgres.psql("UPDATE taskgate_schema SET version = 99", name)
    local out, code = gateway.run(string.format("%s --store '%s' --rules %s --listen 127.0.0.1:0", gateway.binary, uri, gateway.rules))
    assert.equal(1, code)
    assert.matches("store schema version 99 is newer than this taskgate", out)
  end)

  it("refuses to start, saying why, when the database cannot be reached", function()
    local out, code = gateway.run(string.format("%s --store 'postgresql:///none?host=/nonexistent&user=taskgate' --rules %s "
      .. "--listen 127.0.0.1:0", gateway.binary, gateway.rules))
    assert.equal(1, code)
    assert.matches("taskgate: store: .*/nonexistent", out)
  end)

  it("takes a SQLite store over with migrate-store, state, selections and audit trail alike", function()
    local lite = gateway.start()
    create_groups(lite, 1, 3, 2)
    open_port(lite, 5)
    assert.matches("<task_id>101</task_id>", lite:call("openbin", "<port_id>5</port_id>"))
    assert.equal(OK, lite:call("cancel_task", "<task_id>302</task_id>"))
    local listing = lite:call("gettaskinfo")
    lite:stop()
    a:stop()
    b:stop()
    local _, empty = postgres.database()
    local out, code = gateway.run(string.format("%s migrate-store '%s' --store %s", gateway.binary, empty, lite.store))
    assert.equal(0, code, out)
    assert.matches("task: 5 rows", out)
    a = gateway.start({ store = empty })
    b = nil
    assert.equal(listing, a:call("gettaskinfo"))
    assert.equal(F(1045), a:call("cancel_task", "<task_id>101</task_id>")) -- still selected by port 5
    assert.equal(OK, a:call("closebin", "<port_id>5</port_id><bin_id>101</bin_id><task_id>101</task_id>"))
    local name = empty:match("^postgresql:///([%w_]+)")
    -- the copied trail, then the new record of a change after it (ids of calls that rolled back
    -- are skipped; the 1045's own record is marked, not a change)
    local ids = postgres.psql("SELECT string_agg(audit_id::text, ',' ORDER BY audit_id) FROM audit WHERE marked IS NULL",
      name):gsub("%s+", "")
    assert.matches("^1,2,3,4,5,6,%d+$", ids)
    assert.is_true(tonumber(ids:match("(%d+)$")) > 6)
    -- A database holding a store already is refused, and the SQLite file is left as it was.
    out, code = gateway.run(string.format("%s migrate-store '%s' --store %s", gateway.binary, empty, lite.store))
    assert.equal(1, code)
    assert.matches("holds a store already", out)
  end)

  it("runs the rule test helpers (taskgate.testing) on a PostgreSQL store too", function()
    package.path = (os.getenv("TASKGATE_ROOT") or ".") .. "/spec/?.lua;" .. package.path
    local testing = require("helpers.runtime") and require "taskgate.testing"
    local site = testing.open((os.getenv("TASKGATE_ROOT") or ".") .. "/rules", { store = uri })
    local ok, problem = pcall(function()
      assert.same({ params = {} }, site.call("create_taskgroup", { taskgroup_id = "1", category = "1",
        req_time = "2024-05-01T08:00:00Z", priority = "1", tasks = { task = { { task_id = "10", bin_id = "100" } } } }))
      assert.is_true(site.store.select_task(10, 3))
      assert.same({ fault = { code = 1045 } }, site.call("cancel_task", { task_id = "10" }))
      assert.equal(3, site.store.task(10).port_id)
    end)
    site.close()
    assert(ok, problem)
    assert.matches("<task_id>10</task_id>", a:call("gettaskinfo")) -- the same database, seen by a gateway
  end)

  it("keeps the password of the URI out of the log and /status", function()
    local with_password = uri:gsub("^postgresql://", "postgresql://taskgate:s3cret@")
    with_password = with_password:gsub("&user=taskgate", "")
    local gw = gateway.start({ store = with_password })
    local _, status = gw:admin("/status")
    gw:stop()
    assert.not_matches("s3cret", status)
    assert.not_matches("s3cret", gw:log())
    -- masked as every URL with credentials is (src/redact.c): the whole user part
    assert.matches("postgresql://%*%*%*@", status, 1)
  end)
end)
