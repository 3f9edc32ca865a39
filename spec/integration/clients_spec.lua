-- Slow, idle, many and non-reading clients: deadlines and caps keep the gateway serving.
local gateway = require "helpers.gateway"
local socket = require "socket"

local CANCEL = gateway.methodcall("cancel_task", "<task_id>5</task_id>")

local function rss_kb(gw)
  return tonumber(gateway.read_file("/proc/" .. gw.pid .. "/status"):match("VmRSS:%s*(%d+)"))
end

-- Reads until the gateway closes the connection; returns what arrived and the seconds it took.
local function read_to_close(conn, limit)
  conn:settimeout(limit or 10)
  local start = socket.gettime()
  local data, _, partial = conn:receive("*a")
  return data or partial, socket.gettime() - start
end

describe("slow and many clients", function()
  local gw
  setup(function()
    gw = gateway.start({ args = "--header-timeout 1 --body-timeout 1 --idle-timeout 1 --max-connections 6000" })
  end)
  teardown(function() gw:stop() end)

  it("cuts a slowloris client at the header deadline while serving others", function()
    local slow = gw:connect()
    local request = gateway.post_request(CANCEL)
    local start = socket.gettime()
    local cut = false
    for i = 1, 40 do
      local ok = slow:send(request:sub(i, i))
      assert.equal(gateway.fault(1017), select(3, gw:post(CANCEL))) -- others are served meanwhile
      if not ok then cut = true break end
      socket.sleep(0.05)
      if socket.gettime() - start > 1.5 then break end
    end
    local data = read_to_close(slow, 2)
    assert.matches("^HTTP/1.1 408 ", data)
    assert.is_true(socket.gettime() - start < 2.5)
    slow:close()
  end)

  it("cuts a client that stalls in the body at the body deadline", function()
    local conn = gw:connect()
    conn:send("POST /api/v2/task HTTP/1.1\r\nHost: x\r\nContent-Type: application/xml\r\nContent-Length: 100\r\n\r\n<methodcall>")
    local data, seconds = read_to_close(conn, 3)
    assert.matches("^HTTP/1.1 408 ", data)
    assert.is_true(seconds < 2)
    conn:close()
  end)

  it("closes an idle keep-alive connection after the idle timeout", function()
    local conn = gw:connect()
    conn:send(gateway.post_request(CANCEL))
    assert.equal(200, (gateway.read_response(conn)))
    local data, seconds = read_to_close(conn, 3)
    assert.equal("", data)
    assert.is_true(seconds > 0.8 and seconds < 2)
    conn:close()
  end)

  it("keeps its memory bounded under a client that never reads its replies", function()
    local before = rss_kb(gw)
    local greedy = gw:connect()
    greedy:settimeout(0.05)
    local batch = string.rep(gateway.post_request(CANCEL), 200)
    local sent = 0
    for _ = 1, 400 do -- up to 80,000 pipelined requests, about 20 MB of replies
      local ok = greedy:send(batch)
      if not ok then break end
      sent = sent + 1
    end
    socket.sleep(0.3)
    assert.equal(gateway.fault(1017), select(3, gw:post(CANCEL)))
    local growth = rss_kb(gw) - before
    -- ASan keeps freed memory in quarantine, so RSS says nothing about leaks there.
    if not os.getenv("TASKGATE_SANITIZED") then
      assert.is_true(growth < 16 * 1024, "RSS grew by " .. growth .. " KiB")
    end
    greedy:close()
  end)
end)

describe("many connections", function()
  it("keeps serving with 5,000 idle connections open", function()
    local gw = gateway.start()
    local idle = {}
    for i = 1, 5000 do
      idle[i] = assert(socket.connect("127.0.0.1", gw.port))
    end
    assert.equal(gateway.fault(1017), select(3, gw:post(CANCEL)))
    local _, body = gw:admin("/status")
    assert.is_true(tonumber(body:match('"open_connections":(%d+)')) >= 5000)
    for _, c in ipairs(idle) do c:close() end
    gw:stop()
  end)
end)

describe("the connection cap", function()
  it("refuses a connection past --max-connections with 503 and serves again once one closes", function()
    local gw = gateway.start({ args = "--max-connections 3" })
    local open = {}
    for i = 1, 3 do
      open[i] = gw:connect()
      open[i]:send(gateway.post_request(CANCEL))
      assert.equal(200, (gateway.read_response(open[i])))
    end
    local extra = gw:connect()
    local data = read_to_close(extra, 2)
    assert.matches("^HTTP/1.1 503 ", data)
    extra:close()
    open[1]:close()
    socket.sleep(0.1)
    assert.equal(gateway.fault(1017), select(3, gw:post(CANCEL)))
    gw:stop()
  end)
end)
