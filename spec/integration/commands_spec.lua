-- One way to find the gateway: status, reload, backup, audit and check read the same config as
-- serve and reach the instance it describes (its admin address, pid file, store and rules).
local gateway = require "helpers.gateway"

local run = gateway.run

local function taskgate(args)
  return run(gateway.binary .. " " .. args)
end

-- A config file for one instance: its own store, rules, pid file and admin port.
local function instance_config(extra)
  local dir = gateway.tmpdir()
  local conf = dir .. "/taskgate.conf"
  local admin_port = gateway.free_port()
  gateway.write_file(conf, table.concat({
    "store = " .. dir .. "/site.db",
    "rules = " .. (extra and extra.rules or gateway.rules),
    "admin-listen = 127.0.0.1:" .. admin_port,
    "pid-file = " .. dir .. "/site.pid",
    extra and extra.lines or "",
  }, "\n") .. "\n")
  return conf, dir, admin_port
end

describe("taskgate status", function()
  it("reaches the gateway on the config's admin-listen, not another instance", function()
    local other = gateway.start() -- a second gateway on this machine must not answer for it
    local conf, dir = instance_config()
    local gw = gateway.start({ config = conf, store = dir .. "/site.db" })
    local out, code = taskgate("status --config " .. conf)
    assert.equal(0, code, out)
    assert.matches('"pid":' .. gw.pid .. ",", out)
    assert.matches(dir .. "/site.db", out, 1, true)
    gw:stop()
    other:stop()
  end)

  it("exits 1 naming the admin address when no gateway answers there", function()
    local port = gateway.free_port()
    local out, code = taskgate("status --admin-listen 127.0.0.1:" .. port)
    assert.equal(1, code)
    assert.matches("no gateway answers on the admin address 127%.0%.0%.1:" .. port, out)
  end)

  it("sends the admin token from the config's admin-token-file", function()
    local dir = gateway.tmpdir()
    gateway.write_file(dir .. "/token", "t0ken-0123456789abcdef\n")
    local conf = instance_config({ lines = "admin-token-file = " .. dir .. "/token" })
    local gw = gateway.start({ config = conf })
    local out, code = taskgate("status --config " .. conf)
    assert.equal(0, code, out)
    assert.matches('"pid":' .. gw.pid, out)
    gateway.write_file(dir .. "/wrong", "other-token-0123456789\n")
    out, code = taskgate("status --config " .. conf .. " --admin-token-file " .. dir .. "/wrong")
    assert.equal(1, code)
    assert.matches("wants a token", out)
    gw:stop()
  end)
end)

describe("--pid-file", function()
  it("is where serve writes its pid, and gone after a clean stop", function()
    local dir = gateway.tmpdir()
    local gw = gateway.start({ args = "--pid-file " .. dir .. "/gw.pid" })
    assert.equal(gw.pid .. "\n", gateway.read_file(dir .. "/gw.pid"))
    assert.is_nil(gateway.read_file(gw.store .. ".pid")) -- not the default beside the store
    gw:stop()
    assert.is_nil(gateway.read_file(dir .. "/gw.pid"))
  end)

  it("is where reload reads the pid", function()
    local dir = gateway.tmpdir()
    local gw = gateway.start({ args = "--pid-file " .. dir .. "/gw.pid" })
    local out, code = taskgate(string.format("reload --pid-file %s/gw.pid --admin-listen 127.0.0.1:%d", dir, gw.admin_port))
    assert.equal(0, code, out)
    assert.matches("rules generation 2 serves", out)
    gw:stop()
  end)
end)

describe("taskgate reload", function()
  it("waits for the new generation and exits 0 once it serves", function()
    local rules = gateway.rules_dir({ ping = "return function(call) return { pong = 1 } end\n" })
    local conf = instance_config({ rules = rules })
    local gw = gateway.start({ config = conf })
    gateway.write_file(rules .. "/ping.lua", "return function(call) return { pong = 2 } end\n")
    local out, code = taskgate("reload --config " .. conf)
    assert.equal(0, code, out)
    assert.matches("rules generation %d+ serves %(pid " .. gw.pid .. "%)", out)
    -- the moment reload returns, the new rule answers
    assert.matches("<pong>2</pong>", gw:call("ping"))
    gw:stop()
  end)

  it("exits 1 with file:line when the new rules do not load, and the old ones serve on", function()
    local rules = gateway.rules_dir({ ping = "return function(call) return { pong = 1 } end\n" })
    local conf = instance_config({ rules = rules })
    local gw = gateway.start({ config = conf })
    gateway.write_file(rules .. "/ping.lua", "return function(call)\n  return { pong = \nend\n")
    local out, code = taskgate("reload --config " .. conf)
    assert.equal(1, code, out)
    assert.matches("reload failed; generation %d+ keeps serving", out)
    assert.matches("ping%.lua:%d+:", out)
    assert.matches("<pong>1</pong>", gw:call("ping"))
    gw:stop()
  end)

  it("exits 1 without signalling when the pid file names another process", function()
    local conf, dir = instance_config()
    local gw = gateway.start({ config = conf })
    local other = gateway.start()
    gateway.write_file(dir .. "/site.pid", other.pid .. "\n")
    local out, code = taskgate("reload --config " .. conf)
    assert.equal(1, code)
    assert.matches("pid file names pid " .. other.pid .. " but the gateway on 127%.0%.0%.1:%d+ is pid " .. gw.pid, out)
    assert.is_nil(other:log():find("event=reload", 1, true)) -- the other instance was left alone
    other:stop()
    gw:stop()
  end)

  it("exits 1 when there is no pid file", function()
    local dir = gateway.tmpdir()
    local out, code = taskgate("reload --store " .. dir .. "/none.db")
    assert.equal(1, code)
    assert.truthy(out:find("no gateway pid in " .. dir .. "/none.db.pid", 1, true), out)
  end)

  it("exits 1 when the pid is there but no gateway answers on the admin address", function()
    local dir = gateway.tmpdir()
    gateway.write_file(dir .. "/gw.pid", "1234567\n")
    local port = gateway.free_port()
    local out, code = taskgate(string.format("reload --pid-file %s/gw.pid --admin-listen 127.0.0.1:%d", dir, port))
    assert.equal(1, code)
    assert.matches("no gateway answers on the admin address", out)
  end)
end)

describe("the config file's store and rules", function()
  it("are what backup and audit read", function()
    local conf, dir = instance_config()
    local gw = gateway.start({ config = conf })
    assert.equal(gateway.OK, gw:call("create_taskgroup", gateway.taskgroup_params(3, { { 30, 1 } })))
    local out, code = taskgate("backup " .. dir .. "/copy.db --config " .. conf)
    assert.equal(0, code, out)
    assert.matches(dir .. "/site.db", out, 1, true)
    out, code = taskgate("audit --config " .. conf)
    assert.equal(0, code, out)
    assert.matches('"method":"create_taskgroup"', out)
    gw:stop()
  end)

  it("are what check loads", function()
    local broken = gateway.rules_dir({ bad = "return function(\n" })
    local conf = instance_config({ rules = broken })
    local out, code = taskgate("check --config " .. conf)
    assert.equal(1, code)
    assert.matches("bad%.lua:%d+:", out)
    out, code = taskgate("check --config " .. instance_config())
    assert.equal(0, code, out)
  end)
end)
