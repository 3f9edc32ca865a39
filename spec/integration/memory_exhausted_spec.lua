-- A rule that keeps growing state in its file's locals (a careless cache) brings its Lua state to
-- the memory limit: the calls that grow it fail one by one, and then every call of every method
-- would fail too, each after a full collection. The gateway notices (a call failed for memory and
-- a full collection left the state over three quarters of its limit), logs it naming the method
-- whose failed call left the most behind, rebuilds that generation from the same files, and says
-- so in /healthz (503 until rebuilt), /status and /metrics. Before, every method answered 1999
-- until someone reloaded, and /healthz said ok.
local gateway = require "helpers.gateway"
local socket = require "socket"

local SLOWER = os.getenv("TASKGATE_SANITIZED") and 4 or 1

local GROW = [[
local keep = {}
return function(call)
  local n = #keep
  for i = 1, 200000 do keep[n + i] = { i } end -- stopped at the time limit; what it added stays
  return { n = #keep }
end
]]

local function wait_for(seconds, fn)
  local deadline = socket.gettime() + seconds
  repeat
    local values = table.pack(fn())
    if values[1] then return table.unpack(values, 1, values.n) end
    socket.sleep(0.05)
  until socket.gettime() > deadline
end

-- Calls grow until a call fails for memory, at most 60 times.
local function grow_until_full(gw)
  for _ = 1, 60 do
    gw:call("grow")
    if gw:log():find('error="not enough memory"', 1, true) or gw:log():find("memory limit", 1, true) then return true end
  end
end

local function metric(gw, name) return gateway.metric(select(2, gw:admin("/metrics")), name) end

describe("a rules generation at its memory limit", function()
  local gw, dir
  before_each(function()
    dir = gateway.rules_dir({ grow = GROW })
    gw = gateway.start({ rules = dir, args = "--lua-memory-limit 32 --log-level info --lua-time-limit " .. 50 * SLOWER })
  end)
  after_each(function() gw:stop() end)

  it("is rebuilt from the same files, the log naming the method that grew it, and every method serves again", function()
    assert.equal(gateway.fault(1017), gw:call("cancel_task", "<task_id>424242</task_id>"))
    assert.truthy(grow_until_full(gw), "grow never reached the memory limit")
    local line = wait_for(5 * SLOWER, function() return gw:log():match("[^\n]*event=lua_memory_exhausted[^\n]*") end)
    assert.truthy(line, "no lua_memory_exhausted line")
    assert.matches("grew_most=grow ", line, 1, true)
    assert.matches("action=rebuild", line, 1, true)
    assert.truthy(wait_for(5 * SLOWER, function() return gw:log():find("event=reloaded trigger=memory", 1, true) end))
    assert.equal(gateway.fault(1017), gw:call("cancel_task", "<task_id>424242</task_id>"))
    assert.matches("<task_id>", gw:call("gettaskinfo", "<task_id>1</task_id>") .. "<task_id>") -- answers, whatever it is
    assert.equal(200, (gw:admin("/healthz")))
    assert.equal(1, metric(gw, "taskgate_rules_memory_rebuilds_total"))
    assert.equal(0, metric(gw, "taskgate_rules_memory_exhausted"))
    local rules = gw:status().rules
    assert.is_false(rules.memory_exhausted)
    assert.equal(1, rules.memory_rebuilds)
  end)

  it("that cannot be rebuilt fails /healthz until the rules are fixed", function()
    gateway.write_file(dir .. "/broken.lua", "return function(call) return {} end end\n")
    assert.truthy(wait_for(5 * SLOWER, function() return gw:log():find("event=reload_failed", 1, true) end))
    assert.truthy(grow_until_full(gw), "grow never reached the memory limit")
    assert.truthy(wait_for(5 * SLOWER, function() return gw:log():find("event=lua_memory_exhausted", 1, true) end))
    local status, body = wait_for(5 * SLOWER, function()
      local code, text = gw:admin("/healthz")
      if code == 503 then return code, text end
    end)
    assert.equal(503, status)
    assert.matches("rules at their memory limit", body, 1, true)
    assert.equal(1, metric(gw, "taskgate_rules_memory_exhausted"))
    assert.is_true(gw:status().rules.memory_exhausted)
    os.remove(dir .. "/broken.lua")
    assert.truthy(wait_for(5 * SLOWER, function() return (gw:admin("/healthz")) == 200 end))
    assert.equal(gateway.fault(1017), gw:call("cancel_task", "<task_id>424242</task_id>"))
  end)
end)
