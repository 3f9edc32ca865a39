-- Operating taskgate: metrics, health, status, logs, drain on SIGTERM, backup, config, systemd.
local gateway = require "helpers.gateway"
local socket = require "socket"

local F = gateway.fault

local get = gateway.get

local metric = gateway.metric

local run = gateway.run

describe("metrics", function()
  local gw
  setup(function() gw = gateway.start() end)
  teardown(function() gw:stop() end)

  it("count calls by method and outcome, HTTP errors, latency and reloads as they happen", function()
    local _, before = gw:admin("/metrics")
    assert.equal(gateway.OK, gw:call("create_taskgroup", gateway.taskgroup_params(1, { { 1, 1 }, { 2, 2 } })))
    assert.equal(gateway.OK, gw:call("cancel_task", "<task_id>1</task_id>"))
    assert.equal(F(1017), gw:call("cancel_task", "<task_id>1</task_id>"))
    assert.equal(F(1017), gw:call("cancel_task", "<task_id>99</task_id>"))
    assert.equal(F(1012), gw:call("cancel_task", "<task_id>x</task_id>"))
    assert.equal(404, (gw:raw("GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n")))
    os.execute("kill -HUP " .. gw.pid)
    socket.sleep(0.3)
    local client = gw:connect() -- an open task connection, counted
    local status, text, headers = gw:admin("/metrics")
    client:close()
    assert.equal(200, status)
    assert.matches("^text/plain; version=0%.0%.4", headers["content-type"])
    assert.equal(1, metric(text, 'taskgate_calls_total{method="cancel_task",outcome="ok"}'))
    assert.equal(2, metric(text, 'taskgate_calls_total{method="cancel_task",outcome="1017",fault="TASK_DOES_NOT_EXIST"}'))
    assert.equal(1, metric(text, 'taskgate_calls_total{method="cancel_task",outcome="1012",fault="INVALID_PARAMETER_TASK_ID"}'))
    assert.equal(1, metric(text, 'taskgate_calls_total{method="create_taskgroup",outcome="ok"}'))
    assert.equal(1, metric(text, 'taskgate_http_errors_total{status="404"}'))
    assert.equal((metric(before, "taskgate_request_duration_seconds_count") or 0) + 5,
      metric(text, "taskgate_request_duration_seconds_count"))
    assert.is_true(metric(text, "taskgate_store_commit_duration_seconds_count") >= 2)
    assert.equal(1, metric(text, 'taskgate_reloads_total{outcome="ok"}'))
    assert.equal(2, metric(text, "taskgate_rules_generation"))
    assert.is_true(metric(text, "taskgate_store_size_bytes") > 0)
    assert.is_true(metric(text, "taskgate_open_connections") >= 1)
    assert.is_true(metric(text, "process_start_time_seconds") > 1.7e9)
  end)

  it("count rule failures by rule and kind", function()
    local dir = gateway.rules_dir({ spin = "return function(call) while true do end end\n" })
    local g = gateway.start({ rules = dir })
    assert.equal(F(1999), g:call("spin"))
    local _, text = g:admin("/metrics")
    assert.equal(1, metric(text, 'taskgate_rule_failures_total{rule="spin",kind="timeout"}'))
    assert.equal(1, metric(text, 'taskgate_calls_total{method="spin",outcome="1999",fault="INTERNAL_ERROR"}'))
    g:stop()
  end)
end)

describe("health, status and logs", function()
  it("answers /healthz 200 and /status with the store's counts", function()
    local gw = gateway.start()
    assert.equal(gateway.OK, gw:call("create_taskgroup", gateway.taskgroup_params(1, { { 1, 1 }, { 2, 2 } })))
    local status, body = gw:admin("/healthz")
    assert.equal(200, status)
    assert.equal("ok\n", body)
    local _, json = gw:admin("/status")
    assert.matches('"taskgroups":1,"tasks":2,"open_ports":0', json)
    assert.matches('"version":"%d+%.%d+%.%d+"', json)
    assert.matches('"upstream":null', json)
    gw:stop()
  end)

  it("logs one line per call with request id, client, method, outcome and duration", function()
    local gw = gateway.start()
    gw:call("cancel_task", "<task_id>5</task_id>")
    assert.matches("event=call request_id=%x+%-%d+ client=127%.0%.0%.1 method=cancel_task outcome=1017 fault=TASK_DOES_NOT_EXIST ms=[%d%.]+", gw:log())
    gw:stop()
  end)

  it("writes JSON lines with --log-format json", function()
    local gw = gateway.start({ args = "--log-format json" })
    gw:call("cancel_task", "<task_id>5</task_id>")
    gw:stop()
    local call_line
    for line in gw:log():gmatch("[^\n]+") do
      assert.matches("^{.*}$", line)
      if line:find('"event":"call"', 1, true) then call_line = line end
    end
    assert.matches('"level":"info","event":"call","request_id":"%x+%-%d+","client":"127.0.0.1","method":"cancel_task","outcome":"1017"', call_line)
  end)

  it("keeps /status and /metrics off the task port: 404 there, 200 on the admin address", function()
    local gw = gateway.start()
    assert.equal(200, (gw:admin("/status")))
    assert.equal(200, (gw:admin("/metrics")))
    assert.equal(404, (get(gw.port, "/status")))
    assert.equal(404, (get(gw.port, "/metrics")))
    assert.equal(404, (gw:admin("/api/v2/task")))
    assert.equal(F(1017), gw:call("cancel_task", "<task_id>5</task_id>"))
    gw:stop()
  end)

  it("answers /healthz on the task port too, for load balancers that probe it", function()
    local gw = gateway.start()
    local status, body = get(gw.port, "/healthz")
    assert.equal(200, status)
    assert.equal("ok\n", body)
    gw:stop()
  end)

  it("reports both addresses in the started log line", function()
    local gw = gateway.start()
    for _ = 1, 200 do -- the address is printed on stdout a moment before the log line is written
      if gw:log():find("event=started", 1, true) then break end
      socket.sleep(0.01)
    end
    assert.matches("event=started listen=127%.0%.0%.1:" .. gw.port .. " admin=127%.0%.0%.1:" .. gw.admin_port, gw:log())
    gw:stop()
  end)

  it("refuses to start when the admin address is taken, naming it", function()
    local taken = assert(socket.bind("127.0.0.1", 0))
    local _, port = taken:getsockname()
    local out, code = run(string.format("%s --listen 127.0.0.1:0 --admin-listen 127.0.0.1:%d --store %s/s.db",
      gateway.binary, port, gateway.tmpdir()))
    taken:close()
    assert.equal(1, code)
    assert.matches("cannot listen on 127%.0%.0%.1:" .. port .. " %(admin%-listen%)", out)
  end)
end)

describe("the admin token", function()
  local gw, token_file
  setup(function()
    token_file = gateway.tmpdir() .. "/token"
    gateway.write_file(token_file, "s3cret-Token_1-0123456789\n")
    gw = gateway.start({ args = "--admin-token-file " .. token_file })
  end)
  teardown(function() gw:stop() end)

  local function admin_with(authorization)
    local conn = assert(socket.connect("127.0.0.1", gw.admin_port))
    conn:settimeout(5)
    conn:send("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n" .. (authorization and ("Authorization: " .. authorization .. "\r\n") or "") .. "\r\n")
    local status, headers, body = gateway.read_response(conn)
    conn:close()
    return status, headers, body
  end

  it("lets a scraper with the right bearer token read /metrics", function()
    local status, _, body = admin_with("Bearer s3cret-Token_1-0123456789")
    assert.equal(200, status)
    assert.matches("taskgate_calls_total", body)
  end)

  for _, case in ipairs({ { "no Authorization header", nil }, { "a wrong token", "Bearer s3cret-Token_2-0123456789" },
    { "a prefix of the token", "Bearer s3cret" }, { "the token with a suffix", "Bearer s3cret-Token_1-0123456789x" },
    { "another scheme", "Basic czNjcmV0LVRva2VuXzE=" }, { "an over-long header", "Bearer " .. string.rep("s", 300) } }) do
    it("answers 401 with WWW-Authenticate to " .. case[1], function()
      local status, headers = admin_with(case[2])
      assert.equal(401, status)
      assert.equal('Bearer realm="taskgate"', headers["www-authenticate"])
    end)
  end

  it("keeps /healthz open without the token", function()
    assert.equal(200, (gw:admin("/healthz")))
  end)

  it("counts refused scrapes as HTTP errors", function()
    admin_with("Bearer nope")
    local _, _, body = admin_with("Bearer s3cret-Token_1-0123456789")
    assert.is_true(metric(body, 'taskgate_http_errors_total{status="401"}') >= 1)
  end)

  for _, case in ipairs({ { "missing", nil }, { "empty", "\n" }, { "holding spaces", "two words\n" },
    { "over 100 bytes", string.rep("t", 101) .. "\n" } }) do
    it("refuses to start with a token file " .. case[1] .. ", exit 1", function()
      local dir = gateway.tmpdir()
      if case[2] then gateway.write_file(dir .. "/token", case[2]) end
      local out, code = run(string.format("%s --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --store %s/s.db --admin-token-file %s/token",
        gateway.binary, dir, dir))
      assert.equal(1, code)
      assert.matches("admin token file", out)
    end)
  end
end)

describe("stopping", function()
  it("drains on SIGTERM: /healthz says 503, a call in flight gets its reply, then it exits", function()
    local silent = assert(socket.bind("127.0.0.1", 0))
    local _, silent_port = silent:getsockname()
    local gw = gateway.start({ args = string.format(
      "--upstream http://127.0.0.1:%d/api/v2/task --upstream-reply-timeout 1", silent_port) })
    local waiting = gw:connect()
    waiting:send(gateway.post_request(gateway.methodcall("cancel_task", "<task_id>5</task_id>")))
    socket.sleep(0.2)
    os.execute("kill -TERM " .. gw.pid)
    socket.sleep(0.2)
    assert.equal(503, (gw:admin("/healthz")))
    assert.is_nil(socket.connect("127.0.0.1", gw.port)) -- no longer accepting
    assert.equal(F(1922), select(3, gateway.read_response(waiting)))
    waiting:close() -- the gateway lingers (up to 2 s) for a client that keeps its end open
    local gone = false
    for _ = 1, 200 do
      if not gw:alive() then gone = true break end
      socket.sleep(0.01)
    end
    assert.is_true(gone)
    assert.matches("event=draining", gw:log())
    assert.matches("event=stopped", gw:log())
    silent:close()
  end)

  it("loses no acknowledged change and resets no accepted request when SIGTERM lands under load", function()
    local gw = gateway.start({ args = "--lua-time-limit 5000" }) -- one call creates 3,000 tasks, even under ASan
    local tasks = {}
    for i = 1, 3000 do tasks[i] = { i, i } end
    assert.equal(gateway.OK, gw:call("create_taskgroup", gateway.taskgroup_params(1, tasks)))
    local conns = {}
    for c = 1, 8 do conns[c] = gw:connect() end
    local acked, next_id, resets, signalled = {}, 0, 0, false
    for round = 1, 300 do
      local sent = {}
      for c, conn in ipairs(conns) do
        if conn then
          next_id = next_id + 1
          if conn:send(gateway.post_request(gateway.methodcall("cancel_task", "<task_id>" .. next_id .. "</task_id>"))) then
            sent[c] = next_id
          end
        end
      end
      if round == 100 then
        os.execute("kill -TERM " .. gw.pid)
        signalled = true
      end
      for c, id in pairs(sent) do
        local status, err = gateway.read_response(conns[c])
        if status == 200 then
          acked[#acked + 1] = id
        else
          if err and err:find("reset") then resets = resets + 1 end
          conns[c]:close()
          conns[c] = false
        end
      end
    end
    assert.is_true(signalled)
    assert.equal(0, resets)
    assert.is_true(#acked >= 800)
    for _ = 1, 200 do
      if not gw:alive() then break end
      socket.sleep(0.01)
    end
    assert.is_false(gw:alive())
    local again = gateway.start({ store = gw.store, dir = gw.dir })
    for _, id in ipairs(acked) do
      assert.equal(F(1017), again:call("cancel_task", "<task_id>" .. id .. "</task_id>"))
    end
    again:stop()
  end)
end)

describe("backup and configuration", function()
  it("backs up a running gateway's store into a file a second gateway serves", function()
    local gw = gateway.start()
    assert.equal(gateway.OK, gw:call("create_taskgroup", gateway.taskgroup_params(7, { { 70, 1 }, { 71, 2 } })))
    local copy = gateway.tmpdir() .. "/copy.db"
    local out, code = run(gateway.binary .. " backup " .. copy .. " --store " .. gw.store)
    assert.equal(0, code, out)
    local second = gateway.start({ store = copy })
    assert.equal(gw:call("gettaskinfo"), second:call("gettaskinfo"))
    assert.equal(gateway.OK, second:call("cancel_task", "<task_id>70</task_id>"))
    second:stop()
    gw:stop()
    local _, again = run(gateway.binary .. " backup " .. copy .. " --store " .. gw.store)
    assert.equal(1, again) -- never overwrites
  end)

  it("reads --config, and command-line flags win over it", function()
    local dir = gateway.tmpdir()
    local f = assert(io.open(dir .. "/taskgate.conf", "w"))
    f:write("# a comment\nlog-level = warn\nlisten = 127.0.0.1:1\nstore = " .. dir .. "/from-config.db\n")
    f:close()
    local gw = gateway.start({ dir = dir, args = "--config " .. dir .. "/taskgate.conf" })
    gw:call("cancel_task", "<task_id>5</task_id>")
    gw:stop()
    assert.is_nil(gw:log():find("event=call", 1, true)) -- log-level warn came from the file
    local bad = io.open(dir .. "/bad.conf", "w")
    bad:write("no-such-option = 1\n")
    bad:close()
    local out, code = run(gateway.binary .. " --config " .. dir .. "/bad.conf")
    assert.equal(2, code)
    assert.matches("bad%.conf:1: unknown option 'no%-such%-option'", out)
  end)

  it("ships a config file every option of which taskgate accepts", function()
    local root = os.getenv("TASKGATE_ROOT") or "."
    local dir = gateway.tmpdir()
    -- the file's own paths are the installed ones; the command line moves them into the sandbox
    local gw = gateway.start({ dir = dir, args = "--config " .. root .. "/packaging/taskgate.conf" })
    assert.equal(F(1017), gw:call("cancel_task", "<task_id>5</task_id>"))
    gw:stop()
  end)

  it("ships a systemd unit that systemd-analyze verify accepts", function()
    local root = os.getenv("TASKGATE_ROOT") or "."
    local dir = gateway.tmpdir()
    local p = io.popen("realpath " .. gateway.binary)
    local binary = p:read("l")
    p:close()
    local unit = gateway.read_file(root .. "/packaging/taskgate.service"):gsub("/usr/bin/taskgate", binary)
    local f = assert(io.open(dir .. "/taskgate.service", "w"))
    f:write(unit)
    f:close()
    -- the man page it names is checked where the package installed it (package_spec.lua)
    local out, code = run("systemd-analyze verify --man=no " .. dir .. "/taskgate.service")
    assert.equal(0, code, out)
  end)
end)
