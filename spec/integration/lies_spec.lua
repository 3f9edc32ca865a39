-- A fault means nothing changed, whatever fails after the rule returned: the reply is encoded
-- inside the call's transaction (src/txn.c is its one owner), so a reply that cannot be encoded
-- undoes the change, leaves no "ok" audit row, and the log and metrics say 1999. Failures are
-- classified by their kind, never by their message.
local gateway = require "helpers.gateway"

local F = gateway.fault

-- Each rule cancels task 1 (audited), then returns a reply that cannot be encoded.
local function cancel_then(reply_source)
  return "return function(call)\n  store.cancel_task(1)\n  audit.record(call, { task_id = 1 })\n  "
    .. reply_source .. "\nend\n"
end

local unencodable = {
  key_with_space = cancel_then('return { ["task id"] = 1 }'),
  function_value = cancel_then("return { f = print }"),
  numeric_key = cancel_then("return { [5] = 'x', y = 1 }"),
  cycle = cancel_then("local t = {} t.self = t return { t = t }"),
  deep = cancel_then("local t = {} local at = t for i = 1, 20 do at.x = {} at = at.x end return t"),
  list_of_lists = cancel_then("return { x = reply.list({ reply.list({ 1 }) }) }"),
  not_a_table = cancel_then('return "done"'),
  too_big = cancel_then("local s, t = string.rep('x', 8 * 2^20), {} for i = 1, 3 do t['k' .. i] = s end return t"),
  hole = cancel_then("return { x = reply.list({ 1, 2, nil, 4 }) }"),
  list_and_keys = cancel_then("local l = { 1, 2 } l.extra = 3 return { x = l }"),
  nan = cancel_then("return { n = 0 / 0 }"),
  infinity = cancel_then("return { n = -math.huge }"),
  nul_in_key = cancel_then('return { ["a\\0b"] = 1 }'),
}

local extra = {
  noncharacter = 'return function(call) return { t = "a\\239\\191\\190b" } end\n', -- U+FFFE
  log_fields = [[return function(call)
  log.warn("hostile fields", { ['a" b=c'] = 1, ["\n{"] = "two\nlines", [string.rep("k", 100)] = 3 })
  return {}
end]],
}

local kinds = {
  says_time_limit = "return function(call) error('time limit of 50 ms exceeded (said the rule)') end\n",
  says_memory = "return function(call) error('not enough memory') end\n",
  spin = "return function(call) while true do end end\n",
  -- nearly all of this loop's instructions run inside the runtime's clock.parts
  spin_in_runtime = "return function(call) while true do clock.parts(1700000000) end end\n",
  hog = "return function(call) return { n = #string.rep('x', 8 * 2^20 - 1) } end\n", -- past an 8 MiB state at once
}

local rules = {}
for name, source in pairs(unencodable) do rules[name] = source end
for name, source in pairs(kinds) do rules[name] = source end
for name, source in pairs(extra) do rules[name] = source end

local names = {}
for name in pairs(unencodable) do names[#names + 1] = name end
table.sort(names)

describe("a reply that cannot be encoded", function()
  local gw
  setup(function()
    gw = gateway.start({ rules = gateway.rules_dir(rules) })
    assert.equal(gateway.OK, gw:call("create_taskgroup", gateway.taskgroup_params(1, { { 1, 1 }, { 2, 2 } })))
  end)
  teardown(function() gw:stop() end)

  for _, name in ipairs(names) do
    it("(" .. name .. ") is fault 1999, and the change it followed is undone and not audited as one", function()
      assert.equal(F(1999), gw:call(name))
      assert.matches("<task_id>1</task_id>", gw:call("gettaskinfo", "<task_id>1</task_id>"))
      -- at most the failure's own record, marked (a reply the gateway refuses after the rule
      -- ended leaves none)
      local out = gateway.run(string.format("%s audit --store %s --method %s", gateway.binary, gw.store, name))
      assert.is_nil(out:find('"marked":null', 1, true), out)
      assert.matches("method=" .. name .. " outcome=1999", gw:log())
    end)
  end

  it("is fault 1999 to a JSON methodcall too, with the change undone", function()
    local body = '{"method": "cycle", "params": {}}'
    local status, _, reply = gw:raw((gateway.post_request(body):gsub("application/xml", "application/json")))
    assert.equal(200, status)
    assert.matches('"code":1999', reply)
    assert.matches("<task_id>1</task_id>", gw:call("gettaskinfo", "<task_id>1</task_id>"))
  end)

  it("leaves the other calls of its turn committed", function()
    local conn = gw:connect()
    local cancel2 = gateway.post_request(gateway.methodcall("cancel_task", "<task_id>2</task_id>"))
    conn:send(gateway.post_request(gateway.methodcall("cycle")) .. cancel2)
    assert.equal(F(1999), select(3, gateway.read_response(conn)))
    assert.equal(gateway.OK, select(3, gateway.read_response(conn)))
    conn:close()
    assert.equal(F(1017), gw:call("cancel_task", "<task_id>2</task_id>"))
    assert.matches("<task_id>1</task_id>", gw:call("gettaskinfo", "<task_id>1</task_id>"))
  end)
end)

describe("a rule failure's kind", function()
  local gw
  setup(function() gw = gateway.start({ rules = gateway.rules_dir(rules), args = "--lua-memory-limit 8" }) end)
  teardown(function() gw:stop() end)

  it("comes from where it happened, not from what its message says", function()
    for _, name in ipairs({ "says_time_limit", "says_memory", "spin", "hog" }) do
      assert.equal(F(1999), gw:call(name), name)
    end
    local _, text = gw:admin("/metrics")
    local function failures(rule, kind)
      return gateway.metric(text, string.format('taskgate_rule_failures_total{rule="%s",kind="%s"}', rule, kind))
    end
    assert.equal(1, failures("says_time_limit", "error"))
    assert.equal(1, failures("says_memory", "error"))
    assert.equal(1, failures("spin", "timeout"))
    assert.equal(1, failures("hog", "memory"))
    assert.is_nil(failures("says_time_limit", "timeout"))
    assert.is_nil(failures("says_memory", "memory"))
  end)

  it("is logged with the place the time ran out", function()
    assert.equal(F(1999), gw:call("spin"))
    assert.matches("spin%.lua:1: time limit of 50 ms exceeded", gw:log())
  end)

  it("names the rule's line, not the runtime function the rule had called", function()
    for _ = 1, 4 do
      assert.equal(F(1999), gw:call("spin_in_runtime"))
    end
    local log = gw:log()
    local _, named = log:gsub("spin_in_runtime%.lua:1: time limit of 50 ms exceeded", "")
    assert.equal(4, named)
    assert.not_matches("clock%.lua:%d+: time limit", log)
  end)
end)

describe("what a rule writes", function()
  it("is written as an XML reply a client can read, even a character XML cannot hold", function()
    local gw = gateway.start({ rules = gateway.rules_dir(rules) })
    local reply = gw:call("noncharacter")
    gw:stop()
    assert.equal('<?xml version="1.0"?>\n<response>\n  <params>\n    <t>a\239\191\189b</t>\n  </params>\n</response>\n',
      reply)
  end)

  it("cannot break a log line with its field names, in logfmt or JSON", function()
    local json = require "dkjson"
    for _, format in ipairs({ "logfmt", "json" }) do
      local gw = gateway.start({ rules = gateway.rules_dir(rules), args = "--log-format " .. format })
      assert.equal(gateway.OK, gw:call("log_fields"))
      gw:stop()
      local line = gw:log():match("[^\n]*hostile fields[^\n]*")
      assert.is_string(line, format)
      if format == "json" then
        local fields = json.decode(line)
        assert.is_table(fields, line)
        assert.equal("1", fields["a__b_c"])
        assert.equal("two\nlines", fields["__"])
        assert.equal("3", fields[string.rep("k", 63)])
      else
        line = line .. " "
        assert.matches(' a__b_c=1 ', line)
        assert.matches(' __="two\\nlines" ', line)
        assert.matches(" " .. string.rep("k", 63) .. "=3 ", line)
      end
    end
  end)
end)
