-- The admin and console addresses as an attacker meets them, through the real binary: a URL's
-- credentials never shown or logged (redact.h), Host names a rebinding page could send refused
-- (host_allow.h), and the small protocol edges of the console's answers.
local dkjson = require "dkjson"
local gateway = require "helpers.gateway"
local socket = require "socket"

-- A raw request on port; returns status, body, headers.
local function request(port, head_lines, method, path)
  local conn = assert(socket.connect("127.0.0.1", port))
  conn:settimeout(5)
  conn:send((method or "GET") .. " " .. path .. " HTTP/1.1\r\n" .. head_lines .. "\r\n")
  local status, headers, body = gateway.read_response(conn, method == "HEAD")
  conn:close()
  return status, body, headers
end

local function get(port, path, host, extra)
  return request(port, (host and ("Host: " .. host .. "\r\n") or "") .. (extra or ""), "GET", path)
end

-- Reads the console's event stream for `seconds`; returns everything it sent.
local function stream_text(port, seconds)
  local conn = assert(socket.connect("127.0.0.1", port))
  conn:send("GET /console/api/events?calls=0 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
  local text, deadline = "", socket.gettime() + seconds
  while socket.gettime() < deadline do
    conn:settimeout(math.max(0.01, deadline - socket.gettime()))
    local chunk, err, partial = conn:receive(4096)
    text = text .. (chunk or partial or "")
    if err == "closed" then break end
  end
  conn:close()
  return text
end

local SECRETS = { "wmsuser", "S3cretPw", "KEY123", "hooksecret", "outboxpw" }

local function assert_clean(where, text)
  for _, secret in ipairs(SECRETS) do
    assert.is_nil(text:find(secret, 1, true), where .. " shows " .. secret .. ":\n" .. text:sub(1, 2000))
  end
end

describe("credentials in URLs", function()
  it("are masked in /status, /metrics, the console's views, its event stream and the log", function()
    local upstream = gateway.fake_upstream("ok")
    local dead = gateway.free_port() -- a second upstream nobody answers: its failover and down lines
    local urls = string.format("http://wmsuser:S3cretPw@127.0.0.1:%d/api/v2/task?apikey=KEY123&site=4,"
      .. "http://wmsuser:S3cretPw@127.0.0.1:%d/api/v2/task?token=KEY123", upstream.port, dead)
    local gw = gateway.start({ args = string.format("--upstream '%s' --upstream-probe-interval 0.2 "
      .. "--outbox-target 'wms=http://hook:hooksecret@127.0.0.1:%d/hook?sig=outboxpw'", urls, dead) })
    -- the upstream is sent the login (userinfo is how the controller's login is given)
    local conn = gw:connect()
    conn:send(gateway.post_request(gateway.methodcall("getportstatus", "<port_id>1</port_id>")))
    gateway.read_response(conn)
    conn:close()
    local requests = upstream:requests()
    assert.is_true(#requests >= 1)
    assert.matches("^Basic ", requests[1].headers.Authorization or requests[1].headers.authorization)
    -- the other one goes down; its line is written once the probe finds it so
    local log
    for _ = 1, 300 do
      log = gw:log()
      if log:find("event=upstream_down", 1, true) then break end
      socket.sleep(0.02)
    end
    local _, status = gw:admin("/status")
    local _, metrics = gw:admin("/metrics")
    local _, health = get(gw.admin_port, "/console/api/health", "127.0.0.1")
    local events = stream_text(gw.admin_port, 1.5)
    for where, text in pairs({ status = status, metrics = metrics, health = health, events = events, log = log }) do
      assert_clean(where, text)
    end
    -- what is shown still tells the upstreams apart
    local decoded = dkjson.decode(health)
    assert.equal(string.format("http://***@127.0.0.1:%d/api/v2/task?apikey=***&site=***", upstream.port),
      decoded.upstreams[1].url)
    assert.equal(string.format("http://***@127.0.0.1:%d/api/v2/task?token=***", dead), decoded.upstreams[2].url)
    assert.equal("down", decoded.upstreams[2].state)
    assert.matches('"upstream":"http://%*%*%*@127%.0%.0%.1:' .. upstream.port, status)
    assert.matches('"url":"http://%*%*%*@127%.0%.0%.1:%d+/hook%?sig=%*%*%*"', status)
    assert.matches('taskgate_upstream_up{upstream="http://***@127.0.0.1:' .. dead .. '/api/v2/task?token=***"} 0',
      metrics, 1, true)
    assert.matches("event=started .*upstream=http://%*%*%*@127%.0%.0%.1:" .. upstream.port
      .. "/api/v2/task%?apikey=%*%*%*&site=%*%*%*,http://%*%*%*@127%.0%.0%.1:" .. dead .. "/api/v2/task%?token=%*%*%* ", log)
    assert.matches("event=upstream_down upstream=http://%*%*%*@127", log)
    assert.matches('"upstreams":%[{"url":"http://%*%*%*@', events)
    gw:stop()
    upstream:stop()
  end)

  it("are masked in the message that refuses a bad --upstream", function()
    local out, code = gateway.run(gateway.binary .. " serve --upstream 'ftp://wmsuser:S3cretPw@host/x?apikey=KEY123' 2>&1")
    assert.is_not.equal(0, code)
    assert.matches("invalid value 'ftp://%*%*%*@host/x%?apikey=%*%*%*' for %-%-upstream", out)
    assert_clean("the error", out)
  end)
end)

describe("the Host header on the admin and console addresses", function()
  it("answers IP addresses, localhost and --admin-host names; 421 to any other name", function()
    local gw = gateway.start({ args = "--admin-host Gateway-7.site.example --admin-host floor" })
    for _, host in ipairs({ "127.0.0.1", "127.0.0.1:" .. gw.admin_port, "localhost", "LOCALHOST:8080", "[::1]",
      "[::1]:9", "10.1.2.3", "gateway-7.site.example", "gateway-7.site.example.:443", "floor" }) do
      assert.equal(200, (get(gw.admin_port, "/status", host)), host)
      assert.equal(200, (get(gw.admin_port, "/console/api/health", host)), host)
    end
    for _, host in ipairs({ "evil.com", "attacker.example:" .. gw.admin_port, "rebind.127.0.0.1.nip.io",
      "localhost.evil.com", "127.0.0.1.evil.com", "floor.evil.com", "gateway-7", "[::1]x", "127.0.0.1:x" }) do
      for _, path in ipairs({ "/status", "/metrics", "/console/", "/console/api/audit", "/console/api/events" }) do
        local status, body = get(gw.admin_port, path, host)
        assert.equal(421, status, host .. " " .. path)
        assert.matches("only the Host names it knows", body)
      end
      -- /healthz tells nothing: load balancers may ask it by any name
      assert.equal(200, (get(gw.admin_port, "/healthz", host)))
    end
    -- an HTTP/1.0 request without Host (a script, never a browser) is answered
    local conn = assert(socket.connect("127.0.0.1", gw.admin_port))
    conn:settimeout(5)
    conn:send("GET /status HTTP/1.0\r\n\r\n")
    assert.equal(200, (gateway.read_response(conn)))
    conn:close()
    -- the task port is not concerned: its clients name the controller as they like
    local task = gw:connect()
    task:send(gateway.post_request(gateway.methodcall("getportstatus", "<port_id>1</port_id>")):gsub("Host: taskgate",
      "Host: wms-controller.example"))
    assert.equal(200, (gateway.read_response(task)))
    task:close()
    assert.matches("status=421", gw:log())
    gw:stop()
  end)

  it("applies on a console address of its own too", function()
    local gw = gateway.start({ args = "--console-listen localhost:0" })
    local port = tonumber(gateway.read_file(gw.out):match("console on http://127%.0%.0%.1:(%d+)/console/"))
    assert.is_number(port)
    assert.equal(200, (get(port, "/console/api/health", "localhost:" .. port)))
    assert.equal(421, (get(port, "/console/api/health", "evil.com")))
    assert.equal(421, (get(port, "/console/", "evil.com")))
    assert.equal(200, (get(port, "/healthz", "evil.com")))
    gw:stop()
  end)

  it("refuses a bad --admin-host at start", function()
    local out, code = gateway.run(gateway.binary .. " serve --admin-host 'evil.com/x' 2>&1")
    assert.is_not.equal(0, code)
    assert.matches("invalid value 'evil.com/x' for %-%-admin%-host", out)
  end)
end)

describe("--console-listen on the admin address", function()
  it("is refused with a message that says so", function()
    local port, dir = gateway.free_port(), gateway.tmpdir()
    local out, code = gateway.run(string.format("%s --listen 127.0.0.1:0 --admin-listen 127.0.0.1:%d "
      .. "--console-listen localhost:%d --store %s/s.db", gateway.binary, port, port, dir))
    assert.equal(1, code)
    assert.matches("%-%-console%-listen 127%.0%.0%.1:" .. port .. " is the admin address: %-%-console%-listen admin", out)
  end)
end)

describe("localhost in listen addresses", function()
  it("is the loopback address for --listen, --admin-listen and --console-listen", function()
    local dir = gateway.tmpdir()
    local out = dir .. "/out"
    local pid = io.popen(string.format("%s --listen localhost:0 --admin-listen localhost:0 --console-listen localhost:0 "
      .. "--store %s/s.db --rules %s >%s 2>%s/err & echo $!", gateway.binary, dir, gateway.rules, out, dir)):read("l")
    local text
    for _ = 1, 500 do
      text = gateway.read_file(out) or ""
      if text:find("console on", 1, true) then break end
      socket.sleep(0.01)
    end
    os.execute("kill " .. pid)
    assert.matches("listening on 127%.0%.0%.1:%d+", text)
    assert.matches("admin listening on 127%.0%.0%.1:%d+", text)
    assert.matches("console on http://127%.0%.0%.1:%d+/console/", text)
  end)
end)

describe("the console's answers", function()
  local gw
  setup(function() gw = gateway.start({ args = "" }) end)
  teardown(function() gw:stop() end)

  it("refuses two Authorization headers with 400, whichever comes first", function()
    local dir = gateway.tmpdir()
    gateway.write_file(dir .. "/token", "console-token-0123456789\n")
    local t = gateway.start({ args = "--console-token-file " .. dir .. "/token" })
    local good, bad = "Authorization: Bearer console-token-0123456789\r\n", "Authorization: Bearer wrong\r\n"
    assert.equal(200, (get(t.admin_port, "/console/api/health", "127.0.0.1", good)))
    assert.equal(400, (get(t.admin_port, "/console/api/health", "127.0.0.1", good .. bad)))
    assert.equal(400, (get(t.admin_port, "/console/api/health", "127.0.0.1", bad .. good)))
    assert.equal(400, (get(t.admin_port, "/status", "127.0.0.1", good .. good)))
    t:stop()
  end)

  it("describes the event stream's type on HEAD, and sends Cache-Control once", function()
    local status, _, headers = request(gw.admin_port, "Host: 127.0.0.1\r\n", "HEAD", "/console/api/events")
    assert.equal(200, status)
    assert.equal("text/event-stream", headers["content-type"])
    local conn = assert(socket.connect("127.0.0.1", gw.admin_port))
    conn:settimeout(5)
    conn:send("GET /console/api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    local head = ""
    repeat
      local line = assert(conn:receive("*l"))
      head = head .. line .. "\n"
    until line == ""
    conn:close()
    local _, count = head:lower():gsub("cache%-control:", "")
    assert.equal(1, count)
  end)
end)

describe("token files", function()
  local function serve(args)
    local dir = gateway.tmpdir()
    return gateway.run(string.format("%s --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --store %s/s.db %s",
      gateway.binary, dir, args(dir)))
  end

  for _, case in ipairs({ { "console", "console-token-file" }, { "admin", "admin-token-file" } }) do
    it("refuse to start with a " .. case[1] .. " token shorter than 16 characters, naming the file", function()
      local out, code = serve(function(dir)
        gateway.write_file(dir .. "/tok", "fifteen-chars-x\n")
        return "--" .. case[2] .. " " .. dir .. "/tok"
      end)
      assert.equal(1, code)
      assert.matches("the " .. case[1] .. " token file .-/tok must hold one token of 16 to 100 printable characters", out)
      out, code = serve(function(dir)
        gateway.write_file(dir .. "/tok", "")
        return "--" .. case[2] .. " " .. dir .. "/tok"
      end)
      assert.equal(1, code)
      assert.matches("the " .. case[1] .. " token file", out)
    end)
  end

  it("are read again on SIGHUP: the old token stops working, streams opened with it end", function()
    local dir = gateway.tmpdir()
    gateway.write_file(dir .. "/admin", "admin-token-one-0123456789\n")
    gateway.write_file(dir .. "/console", "console-token-one-0123456789\n")
    local gw = gateway.start({ args = string.format("--admin-token-file %s/admin --console-token-file %s/console", dir, dir) })
    local function status_with(path, token)
      return (get(gw.admin_port, path, "127.0.0.1", "Authorization: Bearer " .. token .. "\r\n"))
    end
    assert.equal(200, status_with("/status", "admin-token-one-0123456789"))
    assert.equal(200, status_with("/console/api/health", "console-token-one-0123456789"))
    local conn = assert(socket.connect("127.0.0.1", gw.admin_port))
    conn:settimeout(5)
    conn:send("GET /console/api/events?calls=0 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer console-token-one-0123456789\r\n\r\n")
    assert.matches("200", conn:receive("*l"))
    gateway.write_file(dir .. "/admin", "admin-token-two-0123456789\n")
    gateway.write_file(dir .. "/console", "console-token-two-0123456789\n")
    os.execute("kill -HUP " .. gw.pid)
    local reloaded
    for _ = 1, 300 do
      reloaded = select(2, gw:log():gsub("event=token_reloaded", ""))
      if reloaded >= 2 then break end
      socket.sleep(0.02)
    end
    assert.equal(2, reloaded)
    assert.equal(401, status_with("/status", "admin-token-one-0123456789"))
    assert.equal(401, status_with("/console/api/health", "console-token-one-0123456789"))
    assert.equal(200, status_with("/status", "admin-token-two-0123456789"))
    assert.equal(200, status_with("/console/api/health", "console-token-two-0123456789"))
    assert.equal(200, status_with("/console/api/health", "admin-token-two-0123456789"))
    -- the stream opened with the old token was ended
    local ended = false
    for _ = 1, 100 do
      local _, err = conn:receive("*l")
      if err == "closed" then ended = true break end
    end
    assert.is_true(ended)
    conn:close()
    -- a file that went bad keeps the token in force, and says so
    gateway.write_file(dir .. "/console", "")
    os.remove(dir .. "/admin")
    os.execute("kill -HUP " .. gw.pid)
    for _ = 1, 300 do
      if select(2, gw:log():gsub("event=token_reload_failed", "")) >= 2 then break end
      socket.sleep(0.02)
    end
    local log = gw:log()
    assert.matches("event=token_reload_failed token=admin error=\"cannot read the admin token file", log)
    assert.matches("event=token_reload_failed token=console error=\"the console token file", log)
    assert.equal(200, status_with("/status", "admin-token-two-0123456789"))
    assert.equal(200, status_with("/console/api/health", "console-token-two-0123456789"))
    assert.is_nil(log:find("token-two", 1, true)) -- no token in the log
    gw:stop()
  end)
end)

describe("wrong tokens", function()
  it("from one address are answered 429 after 20 in a minute, right token or not, and logged as a summary", function()
    local dir = gateway.tmpdir()
    gateway.write_file(dir .. "/console", "console-token-0123456789abc\n")
    local gw = gateway.start({ args = "--console-token-file " .. dir .. "/console" })
    local good = "Authorization: Bearer console-token-0123456789abc\r\n"
    assert.equal(200, (get(gw.admin_port, "/console/api/health", "127.0.0.1", good)))
    for i = 1, 19 do
      assert.equal(401, (get(gw.admin_port, "/console/api/health", "127.0.0.1", "Authorization: Bearer guess" .. i .. "\r\n")))
    end
    assert.equal(200, (get(gw.admin_port, "/console/api/health", "127.0.0.1", good))) -- still under the limit
    assert.equal(401, (get(gw.admin_port, "/console/api/calls", "127.0.0.1", "Authorization: Bearer guess20\r\n")))
    for _, path in ipairs({ "/console/api/health", "/console/api/events", "/status" }) do
      local status, _, headers = get(gw.admin_port, path, "127.0.0.1", good)
      assert.equal(429, status, path)
      assert.is_true(tonumber(headers["retry-after"]) >= 1 and tonumber(headers["retry-after"]) <= 61)
    end
    assert.equal(200, (get(gw.admin_port, "/healthz", "127.0.0.1"))) -- tells nothing: never held back
    -- the task port is not concerned
    local conn = gw:connect()
    conn:send(gateway.post_request(gateway.methodcall("getportstatus", "<port_id>1</port_id>")))
    assert.equal(200, (gateway.read_response(conn)))
    conn:close()
    local log = gw:log()
    assert.matches("event=auth_blocked client=127%.0%.0%.1 failures=20 seconds=60", log)
    -- one summary line for the first refusal, the rest summed up later: not a line each
    assert.is_true(select(2, log:gsub("event=auth_refused", "")) <= 2)
    assert.is_nil(log:find("status=401", 1, true))
    assert.is_nil(log:find("guess", 1, true))
    local metrics_status = get(gw.admin_port, "/metrics", "127.0.0.1", good)
    assert.equal(429, metrics_status)
    gw:stop()
  end)
end)
