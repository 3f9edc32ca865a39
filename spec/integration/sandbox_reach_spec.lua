-- What an outside review (16-3) reached through the sandbox, and the siblings of each: Lua's own
-- next (the iterator pairs gives for any plain table) unwrapped a call's view into the gateway's
-- writable call, so a rule forged its audit record and a policy changed the task the rule
-- cancelled; audit.record took any table as the call; a shared dict's prefix (and a limiter's)
-- was a field a rule could rewrite to reach any key of the shared space. Every case runs on the
-- real binary.
local gateway = require "helpers.gateway"
local socket = require "socket"

local OK, F = gateway.OK, gateway.fault

-- Returns the audit lines `taskgate audit args` prints.
local function audit_lines(gw, args)
  local lines = {}
  for line in gw:command("audit " .. args):gmatch("[^\n]+") do lines[#lines + 1] = line end
  return lines
end

-- Waits (the log line may follow the reply by a moment) until the log holds `text`.
local function logged(gw, text)
  for _ = 1, 100 do
    if gw:log():find(text, 1, true) then return true end
    socket.sleep(0.02)
  end
  return false
end

describe("no way through a table reaches the gateway's call", function()
  -- Every way the review and we found to go through a table or an iterator, on the call, its
  -- params and a nested list: what each yields is returned, and an audit record is written.
  local PROBE = [[return function(call)
  local rnext = pairs({})                 -- Lua's own next, not the sandbox's
  local found = {}
  local function note(how, ...) if select("#", ...) > 0 and (...) ~= nil then found[#found + 1] = how end end
  for _, t in ipairs({ call, call.params, call.params.tasks }) do
    note("rnext", rnext(t))
    note("rawget", rawget(t, 1))
    local iterate = pairs(t)              -- the view's own iterator, handed a table it did not make
    note("iterate_fake", select(2, pcall(iterate, {}, nil)) ~= nil and type(select(2, pcall(iterate, {}, nil))) == "table" or nil)
    for k, v in rnext, t do note("for_rnext", k) end
    note("metatable", getmetatable(t) or nil)
  end
  for k in rnext, call do
    if type(k) ~= "string" then found[#found + 1] = "key " .. type(k) end
  end
  local ok = pcall(function() local k, shown = rnext(call); shown.client = "6.6.6.6"; shown.request_id = "forged" end)
  note("wrote", ok or nil)
  note("dump", (pcall(function() return string.dump end)) or nil)
  audit.record(call, { note = "probe" })
  return { found = table.concat(found, ","), client = call.client, keys = select(2, pcall(function()
    local n = 0 for _ in pairs(call) do n = n + 1 end return n end)) }
end
]]
  -- The review's policy: swaps task 20 for 21 through the raw call it unwrapped.
  local SWAP = [[local rnext = pairs({})
return { methods = { "cancel_task" }, run = function(call)
  local ok, _, shown = pcall(rnext, call)
  if ok and type(shown) == "table" and shown.params.task_id == "20" then
    shown.params.task_id = "21"; shown.client = "10.9.9.9"
  end
end }
]]
  local gw, dir

  setup(function()
    dir = gateway.rules_dir({ probe = PROBE })
    os.execute("mkdir -p " .. dir .. "/policies")
    gateway.write_file(dir .. "/policies/swap.lua", SWAP)
    gw = gateway.start({ rules = dir })
    assert.equal(OK, gw:call("create_taskgroup", gateway.taskgroup_params(2, { { 20, 1 }, { 21, 2 } })))
  end)
  teardown(function() gw:stop() end)

  it("gives raw next, rawget, the view's iterator and getmetatable nothing of the call, and audits the true client", function()
    local request = gateway.post_request(gateway.methodcall("probe",
      "<taskgroup_id>1</taskgroup_id><tasks><task><task_id>1</task_id></task></tasks>"), "X-Request-Id: probe-1\r\n")
    local status, _, body = gw:raw(request)
    assert.equal(200, status)
    assert.matches("<found></found>", body, 1, true, gw:log())
    assert.matches("<client>127.0.0.1</client>", body, 1, true)
    assert.matches("<keys>", body, 1, true) -- pairs still reads the call
    local records = audit_lines(gw, "--method probe")
    local record = records[#records] or ""
    assert.matches('"client":"127.0.0.1"', record, 1, true)
    assert.matches('"request_id":"probe-1"', record, 1, true)
    assert.not_matches("6.6.6.6", record, 1, true)
  end)

  it("keeps a policy from changing the task the rule cancels", function()
    assert.equal(OK, gw:cancel(20))
    assert.equal(OK, gw:cancel(21)) -- still there: the rule cancelled 20, as sent
    local records = audit_lines(gw, "--task 20")
    assert.matches('"client":"127.0.0.1"', records[#records] or "", 1, true)
    assert.matches('"params":{"task_id":20,', records[#records] or "", 1, true)
  end)
end)

describe("the runtime's functions take only the running call", function()
  local RULES = {
    -- the review's F5: records for calls that never happened
    fake_call = [[return function(call)
  audit.record({ client = "203.0.113.66", client_port = 4444, name = "cancel_task",
                 request_id = call.request_id, params = {} }, { task_id = 100001, taskgroup_id = 1000 })
  return {}
end]],
    nested_view = "return function(call) audit.record(call.params, { x = 1 }) return {} end",
    annotate_fake = "return function(call) audit.annotate({ client = '203.0.113.68' }, { x = 1 }) return {} end",
    -- a view kept from an earlier call, used in a later one
    kept_view = [[local kept
return function(call)
  if not kept then kept = call return {} end
  audit.record(kept, { replayed = true })
  return {}
end]],
    -- the audit module's runtime half: each writes rows no call made
    internals = [[return function(call)
  local reached = {}
  for _, name in ipairs({ "insert", "unchanged", "unchanged_record", "insert_unchanged", "outcome_unknown",
      "after_abort", "committed", "record_call" }) do
    if pcall(function() return audit[name] end) then reached[#reached + 1] = name end
  end
  local ok = pcall(function() return upstream.is_reply end)
  if ok then reached[#reached + 1] = "upstream.is_reply" end
  return { reached = table.concat(reached, ","), recent = type(audit.recent) }
end]],
  }
  local gw

  setup(function() gw = gateway.start({ rules = gateway.rules_dir(RULES) }) end)
  teardown(function() gw:stop() end)

  for _, case in ipairs({
    { rule = "fake_call", says = "audit.record takes the call the rule or policy was handed, not a table" },
    { rule = "nested_view", says = "audit.record takes the call the rule or policy was handed, not a view" },
    { rule = "annotate_fake", says = "audit.annotate takes the call the rule or policy was handed, not a table" },
  }) do
    it("refuses " .. case.rule .. " with 1999 and a log line, writing no record", function()
      assert.equal(F(1999), gw:call(case.rule, ""))
      assert.is_true(logged(gw, case.says), case.says)
      for _, line in ipairs(audit_lines(gw, "")) do
        assert.not_matches("203.0.113.6", line, 1, true)
        assert.not_matches("100001", line, 1, true)
      end
    end)
  end

  it("refuses a view kept from an earlier call", function()
    assert.equal(OK, gw:call("kept_view", ""))
    assert.equal(F(1999), gw:call("kept_view", ""))
    assert.is_true(logged(gw, "audit.record takes the call the rule or policy was handed, not a view of another"))
    for _, line in ipairs(audit_lines(gw, "--method kept_view")) do assert.not_matches("replayed", line, 1, true) end
  end)

  it("hands rules only audit.record, annotate and recent", function()
    local reply = gw:call("internals", "")
    assert.matches("<reached></reached>", reply, 1, true)
    assert.matches("<recent>function</recent>", reply, 1, true)
  end)
end)

describe("runtime objects keep what they are out of the rule's reach", function()
  local RULES = {
    -- the review's F6: a dict's prefix rewritten to reach the rate limiter's buckets
    dpx = [[return function(call)
  local d = shared.dict("x")
  local rewrote = pcall(function() d.prefix = "r:per_client:" end)
  local faked = pcall(d.set, { prefix = "r:per_client:" }, call.client, "garbage")
  d:set("k", "mine")
  return { rewrote = tostring(rewrote), faked = tostring(faked), prefix = tostring(d.prefix), mine = d:get("k") }
end]],
    limiter = [[local l = ratelimit.new("per_client", { rate = 1000 })
return function(call)
  local rewrote = pcall(function() l.prefix = "d:x:" end)
  local rate_set = pcall(function() l.rate = 1e-9 end)
  local faked = pcall(l.take, { prefix = "d:x:", rate = 1, burst = 1 }, "k")
  return { rewrote = tostring(rewrote), rate_set = tostring(rate_set), faked = tostring(faked),
    rate = tostring(l.rate), took = tostring((l:take(call.client))) }
end]],
    zone = [[return function(call)
  local z = clock.zone("Europe/Berlin")
  local changed = pcall(function() z.transitions = {} end)
  local hidden = getmetatable(z) == false
  local w = clock.window({ zone = "Europe/Berlin", from = "00:00", to = "24:00" })
  local window_changed = pcall(function() w.from = 5 end)
  local faked = pcall(clock.parts, 0, { offset = function() return 3600 end })
  return { changed = tostring(changed), hidden = tostring(hidden), name = z.name,
    window_changed = tostring(window_changed), inside = tostring(w:contains()), faked = tostring(faked),
    offset = clock.parts(1719835200, z).offset }
end]],
    -- a rule running http.request in a coroutine of its own got the gateway's WAIT and request
    -- back from the yield, and could then yield requests of its own making to the gateway
    own_coroutine = [[return function(call)
  local co = coroutine.create(function() return http.request({ url = "http://127.0.0.1:9/" }) end)
  local resumed, result, why = coroutine.resume(co)
  return { resumed = tostring(resumed), result = tostring(result), why = tostring(why), status = coroutine.status(co) }
end]],
  }
  local gw

  setup(function() gw = gateway.start({ rules = gateway.rules_dir(RULES) }) end)
  teardown(function() gw:stop() end)

  it("keeps a dict's prefix out of reach: its own keys only", function()
    local reply = gw:call("dpx", "")
    for _, expected in ipairs({ "<rewrote>false</rewrote>", "<faked>false</faked>", "<prefix>nil</prefix>",
      "<mine>mine</mine>" }) do
      assert.matches(expected, reply, 1, true)
    end
  end)

  it("keeps a limiter's prefix, rate and burst out of reach", function()
    local reply = gw:call("limiter", "")
    for _, expected in ipairs({ "<rewrote>false</rewrote>", "<rate_set>false</rate_set>", "<faked>false</faked>",
      "<rate>nil</rate>", "<took>true</took>" }) do
      assert.matches(expected, reply, 1, true)
    end
  end)

  it("hands out zones and windows no rule can change", function()
    local reply = gw:call("zone", "")
    for _, expected in ipairs({ "<changed>false</changed>", "<hidden>true</hidden>", "<name>Europe/Berlin</name>",
      "<window_changed>false</window_changed>", "<inside>true</inside>", "<faked>false</faked>",
      "<offset>7200</offset>" }) do
      assert.matches(expected, reply, 1, true)
    end
  end)

  it("suspends only the call's own coroutine: in a rule's own one, http.request answers nil and why", function()
    local reply = gw:call("own_coroutine", "")
    for _, expected in ipairs({ "<resumed>true</resumed>", "<result>nil</result>",
      "<why>outbound calls are only possible from a rule handling a call (not in a coroutine of its own)</why>",
      "<status>dead</status>" }) do
      assert.matches(expected, reply, 1, true)
    end
  end)
end)

-- A rule's log line names its call's request id and rule; fields by those names (or the time,
-- level, event) would be a second value a log reader takes instead.
describe("a rule's log line", function()
  it("keeps the gateway's request id, rule, level and event, and writes the rule's as rule_<name>", function()
    local gw = gateway.start({ rules = gateway.rules_dir({ spoof = [[return function(call)
  log.warn("spoof", { request_id = "forged-id", rule = "cancel_task", level = "error", event = "stopped",
    ts = "1970-01-01T00:00:00Z", ["request id"] = "spaced", note = "kept" })
  return {}
end]] }) })
    local request = gateway.post_request(gateway.methodcall("spoof", ""), "X-Request-Id: true-log-1\r\n")
    assert.equal(200, (gw:raw(request)))
    assert.is_true(logged(gw, "msg=spoof"))
    local line = gw:log():match("[^\n]*msg=spoof[^\n]*")
    gw:stop()
    assert.matches("level=warn event=rule_log request_id=true-log-1 rule=spoof ", line, 1, true)
    for _, expected in ipairs({ "rule_request_id=forged-id", "rule_rule=cancel_task", "rule_level=error",
      "rule_event=stopped", "rule_request_id=spaced", "note=kept" }) do
      assert.matches(expected, line, 1, true)
    end
    for _, name in ipairs({ "request_id", "rule", "level", "event", "ts" }) do
      local _, count = (" " .. line):gsub(" " .. name .. "=", "")
      assert.equal(1, count, name .. " once: " .. line)
    end
  end)
end)

-- The review's F6 whole: with the cookbook's rate limit installed, a rule that reached the
-- limiter's buckets locked the client out until a restart.
describe("a rate limit no rule can lock", function()
  it("keeps serving the client after a rule tried to spoil its bucket", function()
    local dir = gateway.rules_dir({ dpx = [[return function(call)
  local d = shared.dict("x")
  pcall(function() d.prefix = "r:per_client:" end)
  pcall(d.set, { prefix = "r:per_client:" }, call.client, "garbage")
  d:set(call.client, "garbage")
  return {}
end]] })
    os.execute(string.format("mkdir -p %s/policies && cp %s/docs/cookbook/rate_limit/policies/rate_limit.lua %s/policies/",
      dir, os.getenv("TASKGATE_ROOT") or ".", dir))
    local gw = gateway.start({ rules = dir })
    assert.equal(OK, gw:call("dpx", ""))
    assert.equal(F(1017), gw:cancel(424242))
    assert.equal(F(1017), gw:cancel(424243))
    gw:stop()
  end)
end)
