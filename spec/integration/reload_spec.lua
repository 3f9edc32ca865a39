-- Hot reload on the real binary: edits take effect within a second, broken rules never
-- replace working ones, and operators can trigger and inspect reloads.
local gateway = require "helpers.gateway"
local socket = require "socket"

local write = gateway.write_file
local function rules_dir() return gateway.rules_dir() end

-- Polls until fn() is true or `seconds` pass; returns the elapsed time or nil.
local function within(seconds, fn)
  local start = socket.gettime()
  repeat
    if fn() then return socket.gettime() - start end
    socket.sleep(0.02)
  until socket.gettime() - start > seconds
  return nil
end

local function status(gw)
  local code, body, headers = gw:admin("/status")
  assert.equal(200, code)
  assert.equal("application/json", headers["content-type"])
  return body
end

local PING = "return function(call) return { answer = %q } end\n"

describe("hot reload", function()
  local gw, dir
  before_each(function()
    dir = rules_dir()
    write(dir .. "/ping.lua", PING:format("one"))
    gw = gateway.start({ rules = dir })
  end)
  after_each(function() gw:stop() end)

  local function answer()
    return gw:call("ping"):match("<answer>(.-)</answer>") or gw:call("ping")
  end

  it("serves an edited rule within one second, with no restart", function()
    assert.equal("one", answer())
    write(dir .. "/ping.lua", PING:format("two"))
    assert.is_number(within(1, function() return answer() == "two" end))
  end)

  it("picks up a rule saved by rename, as many editors do", function()
    write(dir .. "/.ping.lua.swp", PING:format("renamed"))
    os.rename(dir .. "/.ping.lua.swp", dir .. "/ping.lua")
    assert.is_number(within(1, function() return answer() == "renamed" end))
  end)

  it("serves a new rule file as a new method", function()
    assert.equal(gateway.fault(1901), gw:call("pong"))
    write(dir .. "/pong.lua", PING:format("pong"))
    assert.is_number(within(1, function() return gw:call("pong"):find("<answer>pong</answer>", 1, true) ~= nil end))
  end)

  local broken = {
    ["a syntax error"] = "return function(call)\n  if then\nend\n",
    ["a runtime error at load"] = "local x = nil\nlocal y = x.field\nreturn function(call) end\n",
    ["a missing handler"] = "local answer = 'three'\n",
    ["a loop at load"] = "while true do end\n",
    ["an unknown global at load"] = "return function(call) return {} end, undefined_thing.x\n",
  }
  for what, source in pairs(broken) do
    it("keeps the old rules serving after " .. what .. ", reports it, then takes the fix", function()
      write(dir .. "/ping.lua", source)
      assert.is_number(within(2, function() return status(gw):find('"ok":false', 1, true) ~= nil end))
      assert.equal("one", answer())
      assert.equal(gateway.fault(1017), gw:call("cancel_task", "<task_id>5</task_id>"))
      assert.matches("event=reload_failed", gw:log())
      assert.matches("ping%.lua", status(gw))
      write(dir .. "/ping.lua", PING:format("fixed"))
      assert.is_number(within(1, function() return answer() == "fixed" end))
      assert.matches('"ok":true', status(gw))
    end)
  end

  it("names the file and line of a syntax error in the log", function()
    write(dir .. "/ping.lua", "return function(call)\n  local = 1\nend\n")
    assert.is_number(within(2, function() return gw:log():find("reload_failed", 1, true) ~= nil end))
    assert.matches("ping%.lua:2:", gw:log())
  end)

  it("refuses rules whose self-checks fail", function()
    write(dir .. "/cancel_task.lua", "return function(call) return {} end\n")
    assert.is_number(within(2, function() return status(gw):find("self-check failed", 1, true) ~= nil end))
    assert.equal(gateway.fault(1040), gw:call("cancel_task", ""))
  end)

  it("reloads on SIGHUP", function()
    local before = tonumber(status(gw):match('"generation":(%d+)'))
    os.execute("kill -HUP " .. gw.pid)
    assert.is_number(within(1, function() return tonumber(status(gw):match('"generation":(%d+)')) == before + 1 end))
    assert.matches('"trigger":"SIGHUP"', status(gw))
  end)

  it("reloads with `taskgate reload` through the pid file", function()
    local before = tonumber(status(gw):match('"generation":(%d+)'))
    local out, code = gw:command("reload")
    assert.equal(0, code, out)
    assert.is_number(within(1, function() return tonumber(status(gw):match('"generation":(%d+)')) == before + 1 end))
  end)

  it("shows every loaded file with its sha256 in status", function()
    local p = io.popen("sha256sum " .. dir .. "/ping.lua")
    local sha = p:read("a"):match("^(%x+)")
    p:close()
    assert.matches('"name":"ping","path":"[^"]*ping%.lua","sha256":"' .. sha .. '"', status(gw))
    assert.matches('"name":"cancel_task"', status(gw))
  end)

  it("prints the status with `taskgate status`", function()
    local p = io.popen(gateway.binary .. " status --admin-listen 127.0.0.1:" .. gw.admin_port)
    local out = p:read("a")
    p:close()
    assert.matches('^{"version":"', out)
    assert.matches('"generation":1', out)
  end)
end)

-- A rule whose file builds a big cache when it loads (about 6 MB of Lua objects): every
-- generation holds its own, so one never freed would show.
local CACHE_RULE = [[
local cache = {}
for i = 1, 50000 do cache[i] = { id = i, name = "bin-" .. i } end
return function(call) return { size = #cache } end
]]

describe("old rules generations", function()
  local function states(gw)
    return gateway.metric(select(2, gw:admin("/metrics")), "taskgate_rules_states")
  end

  -- Sends SIGHUP `times` times, each after the last reload finished.
  local function reload(gw, times)
    for _ = 1, times do
      local before = tonumber(status(gw):match('"generation":(%d+)'))
      os.execute("kill -HUP " .. gw.pid)
      assert.is_number(within(10, function() return tonumber(status(gw):match('"generation":(%d+)')) == before + 1 end))
    end
  end

  for _, workers in ipairs({ 1, 2 }) do
    it("are freed after reloads, the first one too (" .. workers .. " worker(s), a big rule cache)", function()
      local dir = rules_dir()
      write(dir .. "/cached.lua", CACHE_RULE)
      local gw = gateway.start({ rules = dir, args = "--workers " .. workers .. " --lua-memory-limit 256 --lua-time-limit 5000" })
      local ok, err = pcall(function()
        assert.matches("<size>50000</size>", gw:call("cached", ""))
        assert.equal(workers, states(gw))
        reload(gw, 4)
        assert.matches("<size>50000</size>", gw:call("cached", ""))
        assert.equal(workers, states(gw)) -- one state per worker: nothing of the four before stays
      end)
      gw:stop()
      assert(ok, err)
    end)
  end
end)

describe("taskgate check", function()
  local function check(dir)
    return gateway.run(gateway.binary .. " check " .. dir)
  end

  it("accepts the shipped rules, exit 0", function()
    local out, code = check(gateway.rules)
    assert.equal(0, code)
    assert.matches("^ok: ", out)
  end)

  it("reports every broken file with file:line, exit 1", function()
    local dir = rules_dir()
    write(dir .. "/one.lua", "return function(call)\n  if then\nend\n")
    write(dir .. "/two.lua", "local t = nil\nreturn t.x\n")
    local out, code = check(dir)
    assert.equal(1, code)
    assert.matches("one%.lua:2:", out)
    assert.matches("two%.lua:2:", out)
  end)
end)

-- Reload requests coalesce: one that arrives while a reload is pending or running joins it, and a
-- reload waits a rest after the last (as long as it took, at least 100 ms), so a burst of
-- SIGHUPs (a config-management loop, a logrotate hook) cannot keep the loop reloading. Before,
-- 300 SIGHUPs in 1.5 s ran 295 reloads back to back and a client waited 3 s.
describe("reload requests", function()
  local SLOWER = os.getenv("TASKGATE_SANITIZED") and 4 or 1
  local gw, dir
  before_each(function()
    dir = rules_dir()
    write(dir .. "/ping.lua", PING:format("one"))
    gw = gateway.start({ rules = dir, args = "--lua-time-limit " .. 50 * SLOWER })
  end)
  after_each(function() gw:stop() end)

  local function answer_of() return gw:call("ping"):match("<answer>(.-)</answer>") end

  it("coalesce a burst of SIGHUPs, serve clients meanwhile, and load what the last one asked for", function()
    local before = gw:status().rules
    write(dir .. "/.p", PING:format("two")) -- moved in halfway through the burst
    local done = dir .. "/.burst_done"
    local started, longest = socket.gettime(), 0
    os.execute(string.format("(for i in $(seq 300); do kill -HUP %d; sleep 0.005; [ $i = 150 ] && mv %s/.p %s/ping.lua; done;"
      .. " touch %s) >/dev/null 2>&1 &", gw.pid, dir, dir, done))
    repeat -- a client calls all through the burst
      local t = socket.gettime()
      gw:call("ping")
      longest = math.max(longest, socket.gettime() - t)
    until io.open(done) or socket.gettime() - started > 60
    local elapsed = socket.gettime() - started
    assert.is_number(within(5, function() return not gw:status().rules.reload_pending and answer_of() == "two" end))
    local after = gw:status().rules
    local reloads = after.reloads_ok + after.reloads_failed - before.reloads_ok - before.reloads_failed
    assert.is_true(reloads >= 1)
    -- at most one per rest (100 ms at least) while the burst lasted, and the last one after it
    assert.is_true(reloads <= elapsed / 0.1 + 2, string.format("%d reloads in %.2f s", reloads, elapsed))
    assert.is_true(after.reloads_coalesced > 0)
    assert.is_true(longest < 1.5 * SLOWER, string.format("a client waited %.2f s", longest))
  end)

  it("run the one a SIGHUP asks for at once when none ran lately", function()
    local generation = gw:status().rules.generation
    os.execute("kill -HUP " .. gw.pid)
    assert.is_number(within(1, function() return gw:status().rules.generation == generation + 1 end))
    assert.equal(0, gw:status().rules.reloads_coalesced)
  end)
end)
