-- A call waits on the network (http.request, upstream.call) by yielding a token to the
-- dispatcher, which ends the step's transaction, aborted, while it waits. An outside review had a
-- rule take the token from a request made in a coroutine of its own and yield it from the call
-- after store changes: the wait rolled them back while the reply said ok. Such a request now
-- answers nil (sandbox_reach_spec), and a wait after store changes fails the call: no reply is
-- ever ok over a change undone.
local gateway = require "helpers.gateway"

local F = gateway.fault

local RULES = {
  -- the review's case: the token from a coroutine, yielded after a change
  forge_wait = [[
return function(call)
  local co = coroutine.create(function() return http.request{ url = call.params.url } end)
  local _, token, request = coroutine.resume(co)
  store.cancel_task(1)
  coroutine.yield(token, request)
  return {}
end
]],
  -- the documented way: the request from the call itself, the change after it
  notify_then_cancel = [[
return function(call)
  local answer, why = http.request{ url = call.params.url, body = "<methodcall/>" }
  if not answer then return { error = why } end
  store.cancel_task(2)
  return { status = answer.status }
end
]],
}

describe("a rule's own coroutines and network waits", function()
  local gw, receiver
  setup(function()
    receiver = gateway.fake_upstream("ok")
    gw = gateway.start({ rules = gateway.rules_dir(RULES) })
    assert.equal(gateway.OK, gw:call("create_taskgroup", gateway.taskgroup_params(1, { { 1, 1 }, { 2, 2 } })))
  end)
  teardown(function()
    gw:stop()
    receiver:stop()
  end)

  local function url() return "<url>" .. receiver.url .. "</url>" end

  it("never answers ok over a change the wait rolled back", function()
    assert.equal(F(1999), gw:call("forge_wait", url()))
    assert.matches("<task_id>1</task_id>", gw:call("gettaskinfo", "<task_id>1</task_id>")) -- the change was undone
    assert.equal(0, #receiver:requests())
    assert.matches("a rule yielded outside an outbound call", gw:log())
  end)

  it("still waits for a request from the call itself, and keeps the change made after it", function()
    assert.matches("<status>200</status>", gw:call("notify_then_cancel", url()))
    assert.equal(1, #receiver:requests())
    assert.is_nil(gw:call("gettaskinfo", "<task_id>2</task_id>"):find("<task_id>2</task_id>", 1, true)) -- cancelled
  end)
end)
