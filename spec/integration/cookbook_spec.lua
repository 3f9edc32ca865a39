-- The cookbook's policies on real gateways, copied in unchanged (cp -R docs/cookbook/<recipe>/.
-- rules/): A in bridge mode (--upstream) in front of B, which holds the store, as a controller
-- would. Nothing a policy refuses may reach B; everything it lets through must. Then the rate
-- limit across --workers 2 and a reload. spec/rules/cookbook_spec.lua tests the same recipes
-- through taskgate.testing, standalone and bridged.
local gateway = require "helpers.gateway"
local socket = require "socket"

local root = os.getenv("TASKGATE_ROOT") or "."
local F = gateway.fault
-- Under the sanitizers on a loaded machine, loading the rules can take longer than 20 call limits.
local LIMIT = os.getenv("TASKGATE_SANITIZED") and " --lua-time-limit 1000" or ""

local function with_recipes(...)
  local dir = gateway.rules_dir()
  for _, recipe in ipairs({ ... }) do
    assert(os.execute(string.format("cp -R %s/docs/cookbook/%s/. %s/", root, recipe, dir)))
  end
  return dir
end

-- Calls `name` on gw from the local address `source` (127.0.0.x: Linux routes all of 127/8 to
-- the loopback); returns the reply body.
local function call_from(gw, source, name, params_xml)
  local conn = assert(socket.tcp())
  conn:settimeout(5)
  assert(conn:bind(source, 0))
  assert(conn:connect("127.0.0.1", gw.port))
  assert(conn:send(gateway.post_request(gateway.methodcall(name, params_xml))))
  local status, _, body = gateway.read_response(conn)
  conn:close()
  assert(status == 200, "HTTP status " .. tostring(status))
  return body
end

-- How many calls of `method` B answered with outcome `outcome` (its metrics).
local function answered(b, method, outcome)
  local _, metrics = b:admin("/metrics")
  return gateway.metric(metrics, string.format('taskgate_calls_total{method="%s",outcome="%s"}', method, outcome)) or 0
end

local function bridge(b, rules, args)
  return gateway.start({ rules = rules, args = string.format("--upstream http://127.0.0.1:%d/api/v2/task %s", b.port, args or "") .. LIMIT })
end

describe("cookbook policies in bridge mode, two gateways", function()
  local b, a
  before_each(function()
    b = gateway.start({ args = LIMIT })
    assert.equal(gateway.OK, b:call("create_taskgroup", gateway.taskgroup_params(1, { { 10, 100 }, { 11, 101 }, { 12, 102 } })))
  end)
  after_each(function()
    if a then a:stop() end
    b:stop()
    a = nil
  end)

  it("client_allowlist: an unknown client's cancel never reaches the controller; a known one's does", function()
    a = bridge(b, with_recipes("client_allowlist"))
    assert.equal(F(1921), call_from(a, "127.0.0.2", "cancel_task", "<task_id>10</task_id>"))
    assert.equal(0, answered(b, "cancel_task", "ok"))
    assert.matches("<taskgroup_id>1</taskgroup_id>", call_from(a, "127.0.0.2", "gettaskinfo")) -- queries pass
    assert.equal(gateway.OK, a:call("cancel_task", "<task_id>10</task_id>")) -- 127.0.0.1 is listed
    assert.equal(1, answered(b, "cancel_task", "ok"))
    assert.equal(F(1017), b:call("cancel_task", "<task_id>10</task_id>")) -- it is gone from B's store
    assert.matches("outcome=1921 fault=REFUSED_BY_SITE_POLICY reason=client_allowlist", a:log(), 1, true)
  end)

  it("maintenance_window: outside the window changes reach the controller, inside none does", function()
    a = bridge(b, with_recipes("maintenance_window"))
    -- The window is Sunday 02:00-04:00 in Berlin: the expectation follows the real clock.
    local p = io.popen("TZ=Europe/Berlin date +%u%H")
    local day_hour = p:read("l")
    p:close()
    local inside = day_hour == "702" or day_hour == "703"
    local reply = a:call("cancel_task", "<task_id>11</task_id>")
    if inside then
      assert.equal(F(1921), reply)
      assert.equal(0, answered(b, "cancel_task", "ok"))
    else
      assert.equal(gateway.OK, reply)
      assert.equal(1, answered(b, "cancel_task", "ok"))
    end
    assert.matches("<taskgroup_id>1</taskgroup_id>", a:call("gettaskinfo"))
  end)

  it("rate_limit: what A refuses is never forwarded, and everything else is", function()
    a = bridge(b, with_recipes("rate_limit"))
    local refused = 0
    for _ = 1, 60 do -- faster than 20 a second, even forwarded
      if a:call("getportstatus", "<port_id>1</port_id>") == F(1921) then refused = refused + 1 end
    end
    assert.is_true(refused >= 1, "nothing refused")
    assert.equal(60 - refused, answered(b, "getportstatus", "ok"))
    assert.matches("reason=rate_limit", a:log(), 1, true)
  end)

  it("audit_fields: A's record of the forwarded cancel carries the WMS's reason", function()
    a = bridge(b, with_recipes("audit_fields"))
    assert.equal(gateway.OK, a:call("cancel_task", "<task_id>12</task_id><reason>short pick</reason>"))
    local trail = a:command("audit --method cancel_task")
    assert.matches('"forwarded":{"task_id":12}', trail, 1, true)
    assert.matches('"reason":"short pick"', trail, 1, true)
    assert.equal(1, answered(b, "cancel_task", "ok"))
  end)

  it("custom_method: taskcount on A counts what the controller lists", function()
    a = bridge(b, with_recipes("custom_method"))
    assert.matches("<taskgroups>1</taskgroups>%s*<tasks>3</tasks>", a:call("taskcount"))
  end)

  it("two policies side by side: the allow-list refuses first and names itself", function()
    a = bridge(b, with_recipes("client_allowlist", "rate_limit"))
    assert.equal(F(1921), call_from(a, "127.0.0.2", "cancel_task", "<task_id>10</task_id>"))
    assert.matches("reason=client_allowlist", a:log(), 1, true)
    assert.equal(gateway.OK, a:call("cancel_task", "<task_id>10</task_id>"))
    assert.equal(1, answered(b, "cancel_task", "ok"))
  end)
end)

describe("rate_limit with --workers 2", function()
  local gw, dir
  setup(function()
    dir = with_recipes("rate_limit")
    gw = gateway.start({ rules = dir, args = "--workers 2" .. LIMIT })
  end)
  teardown(function() gw:stop() end)

  local function status_generation()
    local _, body = gw:admin("/status")
    return tonumber(body:match('"generation":(%d+)'))
  end

  -- Calls as fast as one client on fresh connections can (each lands on either worker) for
  -- `seconds`; returns the calls let through and the seconds it took.
  local function hammer(seconds)
    local allowed, started = 0, socket.gettime()
    while socket.gettime() - started < seconds do
      if gw:call("gettaskinfo") ~= F(1921) then allowed = allowed + 1 end
      socket.sleep(0.005)
    end
    return allowed, socket.gettime() - started
  end

  it("keeps one bucket for both workers, and a reload keeps it", function()
    local allowed = 0
    for _ = 1, 30 do
      if gw:call("gettaskinfo") ~= F(1921) then allowed = allowed + 1 end
    end
    local emptied = socket.gettime()
    assert.is_true(allowed >= 20 and allowed <= 24, "allowed " .. allowed) -- the burst, and a little refill
    local before = status_generation()
    assert.is_true(os.execute(string.format("kill -HUP %d", gw.pid)))
    local deadline = socket.gettime() + 3
    while status_generation() == before and socket.gettime() < deadline do socket.sleep(0.02) end
    assert.equal(before + 1, status_generation())
    local after = 0
    for _ = 1, 25 do
      if gw:call("gettaskinfo") ~= F(1921) then after = after + 1 end
    end
    -- What refilled since the bucket was emptied, and no more: a bucket the reload had reset
    -- would have let its whole burst of 20 through on top.
    local refilled = 20 * (socket.gettime() - emptied)
    assert.is_true(after <= math.ceil(refilled) + 1, string.format("allowed %d after the reload, %.1f refilled", after, refilled))
  end)

  it("holds 20 calls a second within 10% over 10 seconds", function()
    socket.sleep(1.1) -- the bucket full again
    local allowed, seconds = hammer(10)
    local expected = 20 + 20 * seconds -- the burst, then the rate
    assert.is_true(math.abs(allowed - expected) <= 0.1 * expected,
      string.format("allowed %d in %.2f s, expected %.0f", allowed, seconds, expected))
  end)
end)
