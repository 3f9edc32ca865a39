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

describe("the bound on request bodies held at once (--body-memory)", function()
  -- Sends a task request's line, headers and `bytes` of its body of `length`, then stalls.
  local function stall_in_body(gw, length, bytes)
    local conn = gw:connect()
    conn:send("POST /api/v2/task HTTP/1.1\r\nHost: x\r\nContent-Type: application/xml\r\nContent-Length: " ..
      length .. "\r\n\r\n<methodcall>" .. string.rep(" ", bytes - 12))
    return conn
  end

  it("answers 503 to a body past it, serves others meanwhile, and gives it back when bodies end", function()
    local gw = gateway.start({ args = "--body-memory 1" })
    local held = {}
    -- Bodies are taken from the budget in steps of 64 KiB: 300,000 bytes hold 320 KiB.
    for i = 1, 3 do held[i] = stall_in_body(gw, 320000, 300000) end
    socket.sleep(0.2)
    local status = gw:status()
    assert.equal(1048576, status.request_bodies.limit_bytes)
    assert.is_true(status.request_bodies.bytes >= 3 * 300000)
    assert.equal(0, status.request_bodies.refused)

    local over = stall_in_body(gw, 400000, 100000) -- 128 KiB more do not fit
    local data = read_to_close(over, 3)
    assert.matches("^HTTP/1.1 503 ", data)
    assert.matches("\r\nRetry%-After: 1\r\n", data)
    assert.matches("\r\nConnection: close\r\n", data)
    over:close()
    -- A small call is served at once, and a body finished within the bound is answered.
    assert.equal(gateway.fault(1017), select(3, gw:post(CANCEL)))
    held[1]:send(string.rep(" ", 20000)) -- its whole body, within what it holds: answered
    local answered = gateway.read_response(held[1])
    assert.equal(200, answered)
    local _, metrics = gw:admin("/metrics")
    assert.equal(1, gateway.metric(metrics, "taskgate_request_body_refused_total"))

    for _, conn in ipairs(held) do conn:close() end
    socket.sleep(0.2)
    status = gw:status()
    assert.equal(0, status.request_bodies.bytes)
    assert.equal(1, status.request_bodies.refused)
    -- Once the bodies are gone, a body as big as the first three fits again.
    local again = stall_in_body(gw, 400000, 300000)
    socket.sleep(0.1)
    assert.is_true(gw:status().request_bodies.bytes >= 300000)
    again:close()
    gw:stop()
  end)
end)
