-- Bridge mode: once a call may have reached the upstream, no later failure in the gateway may
-- answer 1999 ("nothing changed"): it is 1922, logged and audited as "upstream outcome unknown".
-- And the upstream's reply is decoded outside the rule's time limit: a reply a direct client
-- gets passes through the bridge.
local gateway = require "helpers.gateway"

local F = gateway.fault

local function audit_of(gw)
  return (gateway.run(gateway.binary .. " audit --store " .. gw.store))
end

local function cancel(gw, task_id, method)
  return gw:call(method or "cancel_task", "<task_id>" .. task_id .. "</task_id>")
end

describe("a call the upstream may have executed", function()
  it("passes a 720 KB reply of 90,000 elements through, under the default time limit", function()
    local fake = gateway.fake_upstream("many_elements")
    local gw = gateway.start({ args = "--upstream " .. fake.url })
    local reply = cancel(gw, 4711)
    assert.matches("<task_id>4711</task_id><e>1</e>", reply, 1, true)
    assert.is_true(#reply > 700000, #reply)
    assert.equal(1, fake:count(4711))
    assert.matches('"upstream":"upstream ok"', audit_of(gw), 1, true)
    assert.not_matches("lua_call_failed", gw:log(), 1, true)
    gw:stop()
    fake:stop()
  end)

  it("is answered 1922, logged and audited as outcome unknown when its rule fails after the reply", function()
    local fake = gateway.fake_upstream("ok")
    local rules = gateway.rules_dir({ forward_then_break = [[
return function(call)
  upstream.forward(call, { task_id = call.params.task_id })
  error("the rule breaks after forwarding")
end]] })
    local gw = gateway.start({ rules = rules, args = "--upstream " .. fake.url })
    assert.equal(F(1922), cancel(gw, 5, "forward_then_break"))
    assert.equal(1, fake:count(5))
    local log = gw:log()
    assert.matches('msg="upstream outcome unknown"', log, 1, true)
    assert.matches("the rule breaks after forwarding", log, 1, true)
    assert.matches("outcome=1922", log, 1, true)
    assert.not_matches("outcome=1999", log, 1, true)
    local trail = audit_of(gw)
    assert.matches("upstream outcome unknown: the gateway failed after the upstream had the call", trail, 1, true)
    gw:stop()
    fake:stop()
  end)

  it("is answered 1922, logged and audited as outcome unknown when the time limit strikes after the reply", function()
    local fake = gateway.fake_upstream("ok")
    local rules = gateway.rules_dir({ forward_then_loop = [[
return function(call)
  local reply = upstream.forward(call, { task_id = call.params.task_id })
  while true do end
  return reply
end]] })
    local gw = gateway.start({ rules = rules, args = "--upstream " .. fake.url })
    assert.equal(F(1922), cancel(gw, 6, "forward_then_loop"))
    assert.equal(1, fake:count(6))
    local log = gw:log()
    assert.matches("time limit of %d+ ms exceeded", log)
    assert.matches('msg="upstream outcome unknown"', log, 1, true)
    assert.matches("outcome=1922", log, 1, true)
    assert.not_matches("outcome=1999", log, 1, true)
    local trail = audit_of(gw)
    assert.matches('"method":"forward_then_loop"', trail, 1, true)
    assert.matches("upstream outcome unknown: the gateway failed after the upstream had the call", trail, 1, true)
    -- The gateway goes on serving, and a JSON client gets the same fault in JSON.
    local json = '{"method":"forward_then_loop","params":{"task_id":7}}'
    local status, _, body = gw:raw(string.format(
      "POST /api/v2/task HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", #json, json))
    assert.equal(200, status)
    assert.equal('{"fault":{"code":1922}}', body)
    gw:stop()
    fake:stop()
  end)

  it("still answers 1999 when the rule fails before anything was sent", function()
    local fake = gateway.fake_upstream("ok")
    local rules = gateway.rules_dir({ break_first = [[
return function(call)
  error("the rule breaks before forwarding")
end]] })
    local gw = gateway.start({ rules = rules, args = "--upstream " .. fake.url })
    assert.equal(F(1999), cancel(gw, 8, "break_first"))
    assert.equal(0, fake:count(8))
    gw:stop()
    fake:stop()
  end)
end)

describe("a standalone taskgate as upstream", function()
  it("answers gettaskinfo of a 3,000-task group through the bridge as it does directly", function()
    local b = gateway.start({ args = "--lua-time-limit 2000" })
    local tasks = {}
    for id = 1, 3000 do tasks[id] = { id, id % 9 + 1 } end
    assert.equal(gateway.OK, b:call("create_taskgroup", gateway.taskgroup_params(1, tasks)))
    local a = gateway.start({ args = string.format("--upstream http://127.0.0.1:%d/api/v2/task", b.port) })
    local direct = b:call("gettaskinfo", "<taskgroup_id>1</taskgroup_id>")
    assert.is_true(#direct > 300000, #direct)
    assert.equal(direct, a:call("gettaskinfo", "<taskgroup_id>1</taskgroup_id>"))
    a:stop()
    b:stop()
  end)
end)
