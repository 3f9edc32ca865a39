-- Every reply counts towards a connection's output bound, admin ones included, and the admin
-- endpoints cost the same whatever the store's size.
local gateway = require "helpers.gateway"
local socket = require "socket"

local CANCEL = gateway.methodcall("cancel_task", "<task_id>5</task_id>")
local SANITIZED = os.getenv("TASKGATE_SANITIZED") -- ASan keeps freed memory: RSS says nothing there

local function rss_kb(gw)
  return tonumber(gateway.read_file("/proc/" .. gw.pid .. "/status"):match("VmRSS:%s*(%d+)"))
end

local function get_request(path) return "GET " .. path .. " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" end

-- Sends `batch` on conn until the socket takes no more (the gateway stopped reading) or `times`.
local function send_until_stalled(conn, batch, times)
  conn:settimeout(0.05)
  for _ = 1, times do
    local ok = conn:send(batch)
    if not ok then return end
  end
end

local function status_json(gw) return select(2, gw:admin("/status")) end

describe("the per-connection output bound", function()
  local gw
  before_each(function() gw = gateway.start() end)
  after_each(function() gw:stop() end)

  -- Admin replies on the admin address, and the small answers of the task port alike.
  for _, case in ipairs({ { "admin_port", "/metrics" }, { "admin_port", "/status" }, { "port", "/healthz" },
    { "port", "/not-here" } }) do
    local port, path = case[1], case[2]
    it("holds for pipelined GET " .. path .. " (" .. port .. ") from ten clients that never read", function()
      gw:call("create_taskgroup", gateway.taskgroup_params(1, { { 1, 1 } })) -- some metrics series
      local before = rss_kb(gw)
      local clients, batch = {}, string.rep(get_request(path), 500)
      for i = 1, 10 do
        clients[i] = assert(socket.connect("127.0.0.1", gw[port]))
        send_until_stalled(clients[i], batch, 400) -- up to 200,000 requests each
      end
      socket.sleep(0.3)
      assert.equal(gateway.fault(1017), select(3, gw:post(CANCEL))) -- others are served meanwhile
      local growth = rss_kb(gw) - before
      if not SANITIZED then -- 1 MiB of replies each, and what is in flight: well under 40 MB
        assert.is_true(growth < 40 * 1024, "RSS grew by " .. growth .. " KiB")
      end
      for _, conn in ipairs(clients) do conn:close() end
    end)
  end

  it("answers every pipelined request, in order, once the client reads", function()
    local conn = assert(socket.connect("127.0.0.1", gw.admin_port))
    conn:settimeout(5)
    -- 70 KB of requests fit the socket buffers; their 20 MB of replies do not fit the bound.
    assert(conn:send(string.rep(get_request("/metrics"), 2000) .. get_request("/healthz")))
    socket.sleep(0.3) -- the gateway answers up to its bound, then waits for this client to read
    for _ = 1, 2000 do
      local status, _, body = gateway.read_response(conn)
      assert.equal(200, status)
      assert.matches("taskgate_open_connections", body)
    end
    assert.equal("ok\n", select(3, gateway.read_response(conn)))
    conn:close()
  end)
end)

describe("a client that stalls with replies pending", function()
  it("is cut at the idle timeout, and its connection is released", function()
    local gw = gateway.start({ args = "--idle-timeout 1" })
    local conn = gw:connect()
    send_until_stalled(conn, string.rep(get_request("/healthz"), 500), 200)
    assert.matches('"open_connections":1', status_json(gw)) -- this one (the admin address counts apart)
    local released = false
    for _ = 1, 60 do -- the idle timeout, then at most 2 s of linger for the unread replies
      socket.sleep(0.1)
      if status_json(gw):find('"open_connections":0', 1, true) then released = true break end
    end
    assert.is_true(released)
    conn:close()
    gw:stop()
  end)
end)

describe("the admin endpoints", function()
  local gw
  before_each(function() gw = gateway.start() end)
  after_each(function() gw:stop() end)

  it("count groups, tasks and ports exactly through creates, cancels, faults and ports", function()
    local tasks = {}
    for i = 1, 50 do tasks[i] = { i, i } end
    assert.equal(gateway.OK, gw:call("create_taskgroup", gateway.taskgroup_params(1, tasks)))
    assert.equal(gateway.OK, gw:call("create_taskgroup", gateway.taskgroup_params(2, { { 100, 1 }, { 101, 1 } })))
    -- a group whose task id is taken is refused as a whole: nothing of it is counted
    assert.is_not.equal(gateway.OK, gw:call("create_taskgroup", gateway.taskgroup_params(3, { { 200, 1 }, { 1, 1 } })))
    for i = 1, 10 do assert.equal(gateway.OK, gw:call("cancel_task", "<task_id>" .. i .. "</task_id>")) end
    assert.equal(gateway.OK, gw:call("cancel_task", "<task_id>100</task_id>"))
    assert.equal(gateway.OK, gw:call("cancel_task", "<task_id>101</task_id>")) -- group 2 finishes
    assert.equal(gateway.OK, gw:call("openport", "<port_id>1</port_id><select><category>1</category></select>"))
    assert.equal(gateway.OK, gw:call("openport", "<port_id>2</port_id><select><category>1</category></select>"))
    assert.equal(gateway.OK, gw:call("closeport", "<port_id>2</port_id>"))
    assert.matches('"taskgroups":1,"tasks":40,"open_ports":1', status_json(gw))
    assert.equal(gateway.OK, gw:call("cancel_taskgroup", "<taskgroup_id>1</taskgroup_id>"))
    assert.matches('"taskgroups":0,"tasks":0,"open_ports":1', status_json(gw))
  end)

  it("read the kept counts instead of counting rows", function()
    assert.equal(gateway.OK, gw:call("create_taskgroup", gateway.taskgroup_params(1, { { 1, 1 } })))
    gw:stop()
    -- A store whose kept counts say millions: /status must report them, not count its rows.
    local native = require("helpers.runtime").native
    local db = native.open_store(gw.store)
    db.exec("UPDATE category_counts SET taskgroups = 7000000, tasks = 10000000 WHERE category = 1")
    db.close()
    gw = gateway.start({ store = gw.store, dir = gw.dir })
    assert.matches('"taskgroups":7000000,"tasks":10000000,"open_ports":0', status_json(gw))
  end)
end)

describe("a gateway paused past its deadlines", function()
  local gw
  before_each(function() gw = gateway.start({ args = "--idle-timeout 1 --header-timeout 1" }) end)
  after_each(function()
    os.execute("kill -CONT " .. gw.pid)
    gw:stop()
  end)

  -- Stops the gateway for longer than its deadlines while `during` sends bytes, then resumes it.
  local function pause(during)
    os.execute("kill -STOP " .. gw.pid)
    socket.sleep(1.5)
    during()
    os.execute("kill -CONT " .. gw.pid)
  end

  it("answers a request that arrived on an idle connection during the pause", function()
    local conn = gw:connect()
    assert(conn:send(gateway.post_request(CANCEL)))
    assert.equal(gateway.fault(1017), select(3, gateway.read_response(conn)))
    pause(function() assert(conn:send(gateway.post_request(CANCEL))) end)
    assert.equal(gateway.fault(1017), select(3, gateway.read_response(conn)))
    conn:close()
  end)

  it("answers a request whose headers were completed during the pause", function()
    local conn = gw:connect()
    local request = gateway.post_request(CANCEL)
    assert(conn:send(request:sub(1, 20)))
    socket.sleep(0.2) -- the gateway has read the first bytes: the header deadline runs
    pause(function() assert(conn:send(request:sub(21))) end)
    assert.equal(gateway.fault(1017), select(3, gateway.read_response(conn)))
    conn:close()
  end)

  it("still closes a connection that stays idle after the pause", function()
    local conn = gw:connect()
    pause(function() end)
    conn:settimeout(3)
    local data, err, partial = conn:receive("*a")
    assert.equal("", data or partial)
    conn:close()
  end)
end)
