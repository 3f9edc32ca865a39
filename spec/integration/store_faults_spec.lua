-- A store that cannot take changes (a full disk, deleted files, another gateway) is never
-- acknowledged into: calls are dropped or refused, and the log, /metrics and /healthz say so.
local gateway = require "helpers.gateway"
local socket = require "socket"

local function healthz(gw) return gw:admin("/healthz") end
local function metrics(gw) return select(2, gw:admin("/metrics")) end

-- Sends a methodcall; returns the HTTP status and body, or nil when the gateway closed the
-- connection without answering.
local function try_call(gw, name, params)
  local conn = gw:connect()
  conn:send(gateway.post_request(gateway.methodcall(name, params)))
  local status, _, body = gateway.read_response(conn)
  conn:close()
  return status, body
end

local function group_of(id, size)
  local tasks = {}
  for i = 1, size do tasks[i] = { id * 1000 + i, i } end
  return gateway.taskgroup_params(id, tasks)
end

describe("one store, one gateway", function()
  it("refuses a second gateway on the same store and leaves the first's pid file alone", function()
    local first = gateway.start()
    local pid_file = first.store .. ".pid"
    assert.equal(first.pid .. "\n", gateway.read_file(pid_file))
    local out, code = gateway.run(string.format("%s --listen 127.0.0.1:0 --store %s --rules %s --pid-file %s/other.pid",
      gateway.binary, first.store, gateway.rules, first.dir))
    assert.equal(1, code)
    assert.matches("in use by another process %(pid " .. first.pid .. " holds", out)
    assert.equal(first.pid .. "\n", gateway.read_file(pid_file))
    assert.equal(gateway.OK, first:call("create_taskgroup", group_of(1, 1)))
    assert.is_true(first:stop())
    assert.is_nil(gateway.read_file(pid_file)) -- removed at a clean stop
  end)

  it("refuses a gateway whose --pid-file another gateway holds", function()
    local first = gateway.start()
    local dir = gateway.tmpdir()
    local out, code = gateway.run(string.format("%s --listen 127.0.0.1:0 --store %s/other.db --rules %s --pid-file %s.pid",
      gateway.binary, dir, gateway.rules, first.store))
    assert.equal(1, code)
    assert.matches("pid file .* is held by another taskgate %(pid " .. first.pid .. "%)", out)
    assert.equal(first.pid .. "\n", gateway.read_file(first.store .. ".pid"))
    first:stop()
  end)

  it("writes --pid-file where it is told", function()
    local dir = gateway.tmpdir()
    local gw = gateway.start({ args = "--pid-file " .. dir .. "/gateway.pid" })
    assert.equal(gw.pid .. "\n", gateway.read_file(dir .. "/gateway.pid"))
    gw:stop()
  end)

  it("starts on the store again once the first gateway is gone, even after kill -9", function()
    local first = gateway.start()
    assert.is_true(first:stop("KILL"))
    local again = gateway.start({ store = first.store, dir = first.dir })
    assert.equal(gateway.fault(1017), again:call("cancel_task", "<task_id>1</task_id>"))
    again:stop()
  end)
end)

describe("a store whose files are deleted under the gateway", function()
  it("acknowledges nothing more, fails /healthz and says why in the log", function()
    local gw = gateway.start()
    assert.equal(gateway.OK, gw:call("create_taskgroup", group_of(1, 3)))
    os.execute(string.format("rm -f %s %s-wal %s-shm", gw.store, gw.store, gw.store))
    -- At once, before the gateway's periodic look: the commit finds the file gone and drops it.
    local status = try_call(gw, "create_taskgroup", group_of(2, 3))
    assert.is_true(status == nil or status == 503, "a change into deleted files was answered " .. tostring(status))
    socket.sleep(1.2) -- the periodic look has run: every call is refused
    assert.equal(503, (try_call(gw, "cancel_task", "<task_id>1001</task_id>")))
    local code, body = healthz(gw)
    assert.equal(503, code)
    assert.matches("store unusable: .*taskgate.db was deleted or replaced", body)
    -- the task port's /healthz, for load balancers, tells the state but not the store's path
    local public_status, public_body = gateway.get(gw.port, "/healthz")
    assert.same({ 503, "store unusable\n" }, { public_status, public_body })
    assert.equal(0, gateway.metric(metrics(gw), "taskgate_store_healthy"))
    assert.matches("event=store_lost file=[^ ]*taskgate.db", gw:log())
    local _, acknowledged = gw:log():gsub("method=create_taskgroup outcome=ok", "")
    assert.equal(1, acknowledged) -- the group created before the files went, and no other
    gw:stop()
  end)

  it("notices a deleted -wal without any traffic", function()
    local gw = gateway.start()
    assert.equal(gateway.OK, gw:call("create_taskgroup", group_of(1, 1)))
    os.remove(gw.store .. "-wal")
    socket.sleep(1.2)
    local code, body = healthz(gw)
    assert.equal(503, code)
    assert.matches("taskgate.db%-wal was deleted", body)
    gw:stop()
  end)
end)

-- A real full disk: a small tmpfs in a mount namespace of the gateway's own, with a filler file
-- that the spec removes (through /proc/PID/root) to give the space back. Where mount namespaces
-- are not allowed (or NO_TMPFS is set), a file-size limit (ulimit -f) makes the writes fail
-- instead.
local function can_mount()
  local _, code = gateway.run("unshare -m sh -c 'mount -t tmpfs -o size=1m tmpfs /mnt'")
  return code == 0
end

describe("a store on a full disk", function()
  local tmpfs = os.getenv("NO_TMPFS") == nil and can_mount()

  local function start_full()
    local dir = gateway.tmpdir() -- the store's: a tmpfs is mounted over it in the namespace
    local prefix
    if tmpfs then
      prefix = string.format("unshare -m sh -c 'mount -t tmpfs -o size=4m tmpfs %s && " ..
        "dd if=/dev/zero of=%s/filler bs=1k count=3400 2>/dev/null && exec \"$@\"' sh", dir, dir)
    else
      prefix = "sh -c 'ulimit -f 1024 && exec \"$@\"' sh" -- 512 KB per file
    end
    return gateway.start({ store = dir .. "/taskgate.db", prefix = prefix }), dir
  end

  it("drops the call whose commit fails, and the log, /metrics and /healthz say so; then recovers", function()
    local gw, dir = start_full()
    local dropped
    for id = 1, 300 do
      local status, body = try_call(gw, "create_taskgroup", group_of(id, 200))
      if status == nil then dropped = id break end
      assert.equal(200, status)
      assert.equal(gateway.OK, body) -- every answer before the disk filled is a real one
    end
    assert.is_not_nil(dropped, "the disk never filled")
    local code, body = healthz(gw)
    assert.equal(503, code)
    assert.matches("store unusable: writing failed: ", body)
    local text = metrics(gw)
    assert.equal(0, gateway.metric(text, "taskgate_store_healthy"))
    -- The dropped group is not in the store: reads still work, and find none of it. (That call's
    -- own trace, a journal row and a marked record, is a small write the full disk may still
    -- take: /healthz is asked first.)
    assert.equal(gateway.fault(1017), select(2, try_call(gw, "cancel_task", "<task_id>" .. (dropped * 1000 + 1) .. "</task_id>")))
    assert.is_true(gateway.metric(text, 'taskgate_calls_total{method="create_taskgroup",outcome="dropped"}') >= 1)
    local log = gw:log()
    assert.matches("event=commit_failed", log)
    assert.matches("method=create_taskgroup outcome=dropped", log)
    if tmpfs then -- give the space back: the next change goes through, and the store is healthy
      os.remove(string.format("/proc/%s/root%s/filler", gw.pid, dir))
      assert.equal(gateway.OK, select(2, try_call(gw, "create_taskgroup", group_of(dropped, 200))))
      assert.equal(200, (healthz(gw)))
      assert.equal(1, gateway.metric(metrics(gw), "taskgate_store_healthy"))
      assert.matches("event=store_writable", gw:log())
    end
    gw:stop()
  end)

  it("finds the store writable again without traffic, by a probe write a while after the failure", function()
    local gw, dir = start_full()
    for id = 1, 300 do
      if try_call(gw, "create_taskgroup", group_of(id, 200)) == nil then break end
    end
    assert.equal(503, (healthz(gw))) -- at once: the failure is fresh
    if tmpfs then os.remove(string.format("/proc/%s/root%s/filler", gw.pid, dir)) end
    if tmpfs then -- (under a file-size limit there is no space to give back)
      socket.sleep(5.2) -- no commit has failed for 5 s: /healthz writes a probe
      local code, body = healthz(gw)
      assert.equal(200, code, body)
    end
    gw:stop()
  end)
end)
