-- Several listeners (--listen repeatable, also in the config file) served by the same rules and
-- store; every other option may be set once per source, never silently twice.
local gateway = require "helpers.gateway"
local socket = require "socket"

-- The ports of the "listening on A B ..." line.
local function ports_of(gw)
  local ports = {}
  for port in gateway.read_file(gw.out):match("listening on ([^\n]*)"):gmatch("127%.0%.0%.1:(%d+)") do
    ports[#ports + 1] = tonumber(port)
  end
  return ports
end

-- Calls a method on 127.0.0.1:port; returns the reply body.
local function call_on(port, path, name, params_xml)
  local conn = assert(socket.connect("127.0.0.1", port))
  conn:settimeout(5)
  conn:send(gateway.post_request(gateway.methodcall(name, params_xml), nil, path))
  local _, _, body = gateway.read_response(conn)
  conn:close()
  return body
end

describe("several listeners", function()
  it("serves every --listen address from the same store and lists them all at startup", function()
    local gw = gateway.start({ args = "--listen 127.0.0.1:0 --listen 127.0.0.1:0" })
    local ports = ports_of(gw)
    assert.equal(3, #ports)
    assert.equal(gateway.OK, call_on(ports[1], "/api/v2/task", "create_taskgroup", gateway.taskgroup_params(1, { { 10, 5 } })))
    -- created through one address, cancelled through another (a v1 client), gone for the third
    assert.equal(gateway.OK, call_on(ports[2], gateway.V1_PATH, "cancel_task", "<task_id>10</task_id>"))
    assert.equal(gateway.fault(1017), call_on(ports[3], "/api/v2/task", "cancel_task", "<task_id>10</task_id>"))
    assert.matches("event=started listen=127%.0%.0%.1:%d+,127%.0%.0%.1:%d+,127%.0%.0%.1:%d+", gw:log())
    local _, status = gw:admin("/status")
    assert.matches('"listeners":%["127%.0%.0%.1:%d+","127%.0%.0%.1:%d+","127%.0%.0%.1:%d+"%]', status)
    gw:stop()
  end)

  it("serves them all from each of --workers", function()
    local gw = gateway.start({ args = "--listen 127.0.0.1:0 --workers 2" })
    local ports = ports_of(gw)
    assert.equal(2, #ports)
    for i = 1, 20 do -- new connections spread over the workers; each worker listens on both
      assert.equal(gateway.fault(1017), call_on(ports[i % 2 + 1], "/api/v2/task", "cancel_task", "<task_id>1</task_id>"))
    end
    gw:stop()
  end)

  it("takes its addresses from the config file, one listen line each", function()
    local pid, line = gateway.start_from_config("listen = 127.0.0.1:0\nlisten = 127.0.0.1:0\n")
    os.execute("kill " .. pid)
    assert.matches("^127%.0%.0%.1:%d+ 127%.0%.0%.1:%d+$", line)
  end)

  it("lets the command line's --listen replace the config file's addresses", function()
    local dir = gateway.tmpdir()
    gateway.write_file(dir .. "/taskgate.conf", "listen = 127.0.0.1:1\nlisten = 127.0.0.1:2\n")
    local gw = gateway.start({ args = "--config " .. dir .. "/taskgate.conf" })
    assert.equal(1, #ports_of(gw)) -- only the command line's 127.0.0.1:0 (ports 1 and 2 would fail)
    gw:stop()
  end)

  it("refuses a ninth address", function()
    local out, code = gateway.run(gateway.binary .. string.rep(" --listen 127.0.0.1:0", 9))
    assert.equal(2, code)
    assert.matches("listen", out)
  end)

  it("exits 1 naming the address it cannot bind, and leaves no listener behind", function()
    local gw = gateway.start()
    local out, code = gateway.run(string.format("%s --listen 127.0.0.1:0 --listen 127.0.0.1:%d --store %s/x.db --rules %s",
      gateway.binary, gw.port, gw.dir, gateway.rules))
    gw:stop()
    assert.equal(1, code)
    assert.matches("cannot listen on 127%.0%.0%.1:" .. gw.port, out)
  end)
end)

describe("single-valued options", function()
  local values = {
    rules = "rules", store = "x.db", sync = "full", ["log-level"] = "warn", ["log-format"] = "json",
    ["admin-listen"] = "127.0.0.1:0", ["drain-timeout"] = "5", ["lua-time-limit"] = "40", ["header-timeout"] = "5",
    ["body-timeout"] = "5", ["idle-timeout"] = "5", ["max-connections"] = "10", workers = "1",
    ["lua-memory-limit"] = "32", upstream = "http://127.0.0.1:1/api/v2/task", ["upstream-connect-timeout"] = "1",
    ["upstream-reply-timeout"] = "1", ["pid-file"] = "x.pid", runtime = "lua", ["admin-token-file"] = "token",
    ["upstream-ca"] = "/dev/null", ["upstream-cert"] = "/dev/null", ["upstream-key"] = "/dev/null",
    ["log-file"] = "x.log", ["upstream-probe-interval"] = "2", ["outbox-retry-max"] = "5",
    ["outbox-dead-after"] = "60",
    ["console-listen"] = "off", ["console-token-file"] = "token", ["console-dir"] = "console",
    ["shared-memory"] = "4", ["journal-size"] = "100", ["body-memory"] = "16",
    ["upstream-max-in-flight"] = "8", ["upstream-queue-timeout"] = "1",
  }

  -- --tls-cert and --tls-key come once per --listen (spec/integration/tls_spec.lua), and
  -- --outbox-target once per target (spec/integration/outbox_spec.lua).
  it("are all covered here: every option of --help but --listen, --tls-*, --outbox-target, --admin-host, --config, --help and --version", function()
    local help = gateway.run(gateway.binary .. " --help")
    for flag in help:gmatch("\n  %-%-([%w%-]+)") do
      local per_address = flag == "listen" or flag == "tls-cert" or flag == "tls-key" or flag == "outbox-target"
        or flag == "admin-host"
      if not per_address and flag ~= "config" and flag ~= "help" and flag ~= "version" then
        assert.is_not_nil(values[flag], "--" .. flag .. " has no case here")
      end
    end
  end)

  for flag, value in pairs(values) do
    it("refuse --" .. flag .. " given twice on the command line, even with the same value", function()
      local out, code = gateway.run(string.format("%s --%s %s --%s=%s", gateway.binary, flag, value, flag, value))
      assert.equal(2, code)
      assert.matches("'%-%-" .. flag:gsub("%-", "%%-") .. "' given twice", out)
    end)

    it("refuse " .. flag .. " set twice in the config file", function()
      local dir = gateway.tmpdir()
      gateway.write_file(dir .. "/c.conf", string.format("%s = %s\n# a comment\n%s = %s\n", flag, value, flag, value))
      local out, code = gateway.run(gateway.binary .. " --config " .. dir .. "/c.conf")
      assert.equal(2, code)
      assert.matches("c%.conf:3: set twice", out)
    end)
  end

  it("refuse --config given twice", function()
    local dir = gateway.tmpdir()
    gateway.write_file(dir .. "/c.conf", "")
    local out, code = gateway.run(string.format("%s --config %s/c.conf --config %s/c.conf", gateway.binary, dir, dir))
    assert.equal(2, code)
    assert.matches("given twice", out)
  end)

  it("may be set once in the config file and once on the command line, which wins", function()
    local dir = gateway.tmpdir()
    gateway.write_file(dir .. "/c.conf", "log-level = debug\n")
    local gw = gateway.start({ args = "--config " .. dir .. "/c.conf --log-level warn" })
    gw:call("cancel_task", "<task_id>1</task_id>")
    gw:stop()
    assert.not_matches("event=call", gw:log())
  end)
end)
