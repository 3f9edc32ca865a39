-- An acknowledged change survives kill -9 of the gateway: the reply is sent only after commit.
local gateway = require "helpers.gateway"
local socket = require "socket"

describe("durability", function()
  it("checkpoints the WAL off the commit path: it stays bounded under steady writes, and nothing is lost", function()
    -- Without the call journal, whose row is one more WAL page a commit: the bound measured here
    -- is the checkpointer's, for the pages the changes themselves write.
    local gw = gateway.start({ args = "--lua-time-limit 5000 --journal-size 0" })
    for group = 1, 2 do
      local tasks = {}
      for i = 1, 3000 do tasks[i] = { (group - 1) * 3000 + i, i } end
      assert.equal(gateway.OK, gw:call("create_taskgroup", gateway.taskgroup_params(group, tasks)))
    end
    local conn = gw:connect()
    for i = 1, 6000 do -- one commit per call: some 24,000 WAL pages if nothing checkpointed
      conn:send(gateway.post_request(gateway.methodcall("cancel_task", "<task_id>" .. i .. "</task_id>")))
      local status, _, body = gateway.read_response(conn)
      assert.equal(200, status)
      assert.equal(gateway.OK, body)
    end
    conn:close()
    -- Both kinds of pass ran and were timed: copying beside the writers, and the short pass
    -- under the store lock that lets the WAL restart.
    local _, metrics = gw:admin("/metrics")
    assert.is_true(gateway.metric(metrics, "taskgate_store_checkpoint_duration_seconds_count") >= 1)
    local locked = gateway.metric(metrics, "taskgate_store_checkpoint_locked_duration_seconds_count")
    assert.is_true(locked >= 1)
    assert.is_true(gateway.metric(metrics, 'taskgate_store_checkpoint_locked_duration_seconds_bucket{le="+Inf"}') == locked)
    local wal = io.open(gw.store .. "-wal", "rb")
    local wal_bytes = wal and wal:seek("end") or 0
    if wal then wal:close() end
    -- The WAL restarts at 10000 pages; should the thread fall behind, the commit at 10500 pages
    -- makes the pass itself: 43 MB and one turn at most, on any machine (24,000 pages, 99 MB,
    -- if it never restarted).
    assert.is_true(wal_bytes < 44 * 1024 * 1024, "WAL of " .. wal_bytes .. " bytes")
    assert.is_true(gw:stop())
    assert.is_nil(io.open(gw.store .. "-wal", "rb")) -- a clean stop folds the WAL into the store
    local again = gateway.start({ store = gw.store, dir = gw.dir, args = "--lua-time-limit 5000" })
    assert.equal(gateway.fault(1017), again:call("cancel_task", "<task_id>5999</task_id>"))
    again:stop()
  end)

  it("keeps every acknowledged cancel and create across kill -9", function()
    local gw = gateway.start({ args = "--lua-time-limit 5000" }) -- 200 new tasks, even under ASan on a loaded machine
    local tasks = {}
    for i = 1, 200 do tasks[i] = { i, i } end
    assert.equal(gateway.OK, gw:call("create_taskgroup", gateway.taskgroup_params(1, tasks)))
    -- Cancel over one keep-alive connection and kill the process mid-stream.
    local conn = gw:connect()
    local acknowledged = {}
    for i = 1, 150 do
      conn:send(gateway.post_request(gateway.methodcall("cancel_task", "<task_id>" .. i .. "</task_id>")))
      local status, _, body = gateway.read_response(conn)
      if status == 200 and body == gateway.OK then acknowledged[#acknowledged + 1] = i end
      if i == 100 then os.execute("kill -9 " .. gw.pid) end
      if not status then break end
    end
    conn:close()
    assert.is_true(#acknowledged >= 100)
    socket.sleep(0.1)
    local again = gateway.start({ store = gw.store, dir = gw.dir, args = "--lua-time-limit 5000" })
    for _, id in ipairs(acknowledged) do
      assert.equal(gateway.fault(1017), again:call("cancel_task", "<task_id>" .. id .. "</task_id>"))
    end
    -- Everything after the kill is still there, and the audit trail matches the store.
    assert.equal(gateway.OK, again:call("cancel_task", "<task_id>200</task_id>"))
    again:stop()
    local p = io.popen(gateway.binary .. " audit --store " .. gw.store)
    local lines = {}
    for line in p:lines() do
      if line:find('"marked":null', 1, true) then lines[#lines + 1] = line end -- the changes, not the 1017s
    end
    p:close()
    assert.equal(1 + #acknowledged + 1, #lines)
    assert.matches('"method":"create_taskgroup"', lines[1])
    assert.matches('"params":{"task_id":1,', lines[2])
  end)
end)
