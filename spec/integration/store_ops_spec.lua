-- Store operations on a live gateway: a backup under a steady write load, restore, one gateway
-- per store, and the log file that logrotate can move away.
local gateway = require "helpers.gateway"
local socket = require "socket"

local F = gateway.fault
local run = gateway.run
local root = os.getenv("TASKGATE_ROOT") or "."

local function taskgate(args)
  return run(gateway.binary .. " " .. args)
end

-- A store of n tasks (ids 1..n, 100 per group), written through the gateway's own store code.
local function prefilled(n)
  local dir = gateway.tmpdir()
  local out, code = run(string.format("lua5.4 %s/bench/prefill.lua %s/taskgate.db %d", root, dir, n))
  assert(code == 0, out)
  return dir
end

local function cancel(id)
  return gateway.post_request(gateway.methodcall("cancel_task", "<task_id>" .. id .. "</task_id>"))
end

describe("taskgate backup", function()
  it("finishes within seconds while clients write steadily, and the copy serves", function()
    local dir = prefilled(200000) -- 9 MB: a copy in steps would restart on every write
    local gw = gateway.start({ dir = dir, store = dir .. "/taskgate.db" })
    local conns = {}
    for c = 1, 4 do conns[c] = gw:connect() end
    local copy, done = dir .. "/copy.db", dir .. "/backup.exit"
    os.execute(string.format("(%s backup %s --store %s/taskgate.db >%s/backup.out 2>&1; echo $? >%s) &",
      gateway.binary, copy, dir, dir, done))
    local started, next_id, acked = socket.gettime(), 0, 0
    -- the shell creates the file before it writes the status: wait for the whole line
    while not (gateway.read_file(done) or ""):find("\n") and socket.gettime() - started < 30 do
      for _, conn in ipairs(conns) do
        next_id = next_id + 1
        conn:send(cancel(next_id))
      end
      for _, conn in ipairs(conns) do
        if select(3, gateway.read_response(conn)) == gateway.OK then acked = acked + 1 end
      end
    end
    local took = socket.gettime() - started
    assert.equal("0\n", gateway.read_file(done), gateway.read_file(dir .. "/backup.out"))
    assert.is_true(took < 10, "took " .. took .. " s")
    assert.is_true(acked >= 20, "only " .. acked .. " writes during the backup")
    -- the copy is a store of its own: the last task was never cancelled, the first one was
    local second = gateway.start({ store = copy })
    assert.equal(gateway.OK, second:call("cancel_task", "<task_id>200000</task_id>"))
    assert.equal(F(1017), second:call("cancel_task", "<task_id>1</task_id>"))
    second:stop()
    for _, conn in ipairs(conns) do conn:close() end
    gw:stop()
  end)

  it("refuses a store that does not exist, and creates no file", function()
    local dir = gateway.tmpdir()
    local out, code = taskgate(string.format("backup %s/copy.db --store %s/none.db", dir, dir))
    assert.equal(1, code)
    assert.matches("none%.db", out)
    assert.is_nil(gateway.read_file(dir .. "/copy.db"))
  end)
end)

describe("taskgate restore", function()
  it("puts a backup back in place and keeps the store it replaced", function()
    local gw = gateway.start()
    assert.equal(gateway.OK, gw:call("create_taskgroup", gateway.taskgroup_params(1, { { 10, 1 }, { 11, 2 } })))
    local copy = gw.dir .. "/copy.db"
    assert.equal(0, select(2, gw:command("backup " .. copy)))
    assert.equal(gateway.OK, gw:call("cancel_task", "<task_id>10</task_id>")) -- after the backup
    gw:stop()
    local out, code = taskgate(string.format("restore %s --store %s", copy, gw.store))
    assert.equal(0, code, out)
    assert.matches("previous store is in .*taskgate%.db%.before%-restore", out)
    local again = gateway.start({ store = gw.store })
    assert.equal(gateway.OK, again:call("cancel_task", "<task_id>10</task_id>")) -- as at the backup
    again:stop()
    local before = gateway.start({ store = gw.store .. ".before-restore" })
    assert.equal(F(1017), before:call("cancel_task", "<task_id>10</task_id>")) -- the replaced store
    before:stop()
  end)

  it("is refused while a gateway runs on the store, which stays as it was", function()
    local gw = gateway.start()
    assert.equal(gateway.OK, gw:call("create_taskgroup", gateway.taskgroup_params(1, { { 10, 1 } })))
    local copy = gw.dir .. "/copy.db"
    assert.equal(0, select(2, gw:command("backup " .. copy)))
    assert.equal(gateway.OK, gw:call("cancel_task", "<task_id>10</task_id>"))
    local out, code = taskgate(string.format("restore %s --store %s", copy, gw.store))
    assert.equal(1, code)
    assert.matches("in use by another process %(pid " .. gw.pid .. " holds", out)
    assert.matches("stop the gateway first", out)
    assert.equal(F(1017), gw:call("cancel_task", "<task_id>10</task_id>"))
    assert.is_nil(gateway.read_file(gw.store .. ".before-restore"))
    gw:stop()
  end)

  for _, case in ipairs({ { "a file that is not a database", "not a database\n", "not an intact SQLite database" },
    { "a database that is not a taskgate store", nil, "not a taskgate store" },
    { "a file that does not exist", false, "cannot read .*bad%.db: No such file" } }) do
    it("refuses " .. case[1] .. " and leaves the store alone", function()
      local gw = gateway.start()
      assert.equal(gateway.OK, gw:call("create_taskgroup", gateway.taskgroup_params(1, { { 10, 1 } })))
      gw:stop()
      local bad = gw.dir .. "/bad.db"
      if case[2] then
        gateway.write_file(bad, case[2])
      elseif case[2] == nil then
        assert.equal(0, select(2, run(string.format(
          "python3 -c \"import sqlite3; db = sqlite3.connect('%s'); db.execute('CREATE TABLE task (x)'); db.commit()\"", bad))))
      end
      local out, code = taskgate(string.format("restore %s --store %s", bad, gw.store))
      assert.equal(1, code)
      assert.matches(case[3], out)
      local again = gateway.start({ store = gw.store })
      assert.equal(gateway.OK, again:call("cancel_task", "<task_id>10</task_id>"))
      again:stop()
    end)
  end
end)

describe("one gateway per store", function()
  it("refuses a second gateway on a store in use, naming the first one's pid", function()
    local gw = gateway.start()
    local out, code = taskgate(string.format("--listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --store %s", gw.store))
    assert.equal(1, code)
    assert.matches("in use by another process %(pid " .. gw.pid .. " holds", out)
    assert.equal(F(1017), gw:call("cancel_task", "<task_id>5</task_id>"))
    gw:stop()
  end)

  it("lets the store go when the gateway is killed", function()
    local gw = gateway.start()
    gw:stop("KILL")
    local again = gateway.start({ store = gw.store })
    assert.equal(F(1017), again:call("cancel_task", "<task_id>5</task_id>"))
    again:stop()
  end)
end)

describe("--log-file", function()
  it("takes the log lines, and after SIGUSR1 a new file at the same path does", function()
    local dir = gateway.tmpdir()
    local log = dir .. "/taskgate.log"
    local gw = gateway.start({ args = "--log-file " .. log })
    gw:call("cancel_task", "<task_id>5</task_id>")
    assert.matches("event=call .*outcome=1017", gateway.read_file(log))
    os.rename(log, log .. ".1") -- as logrotate does
    os.execute("kill -USR1 " .. gw.pid)
    for _ = 1, 100 do
      if gateway.read_file(log) then break end
      socket.sleep(0.02)
    end
    gw:call("cancel_task", "<task_id>6</task_id>")
    gw:stop()
    assert.matches("event=log_reopened", gateway.read_file(log))
    assert.matches("event=call .*outcome=1017", gateway.read_file(log))
    assert.matches("event=stopped", gateway.read_file(log))
    assert.is_nil(gateway.read_file(log .. ".1"):find("event=stopped", 1, true))
    assert.equal("", gw:log()) -- nothing went to stderr
  end)

  it("refuses to start when the log file cannot be opened", function()
    local dir = gateway.tmpdir()
    local out, code = taskgate(string.format("--listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --store %s/s.db --log-file %s/no/dir/log",
      dir, dir))
    assert.equal(1, code)
    assert.matches("cannot open log file", out)
  end)
end)
