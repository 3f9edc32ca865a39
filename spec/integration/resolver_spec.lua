-- Name lookups run off the event loop and outside the store lock: while a name server takes
-- seconds to answer, the gateway serves every other call (spec/helpers/slow_resolver.c stands in
-- for that name server, preloaded into the real binary).
local gateway = require "helpers.gateway"
local socket = require "socket"

-- The shim, built for this run; nil (with the compiler's words) when there is no C compiler.
local function build_shim()
  local dir = gateway.tmpdir()
  local root = os.getenv("TASKGATE_ROOT") or "."
  local out, code = gateway.run(string.format("cc -shared -fPIC -o %s/slow_resolver.so %s/spec/helpers/slow_resolver.c -ldl",
    dir, root))
  assert.equal(0, code, out)
  return dir .. "/slow_resolver.so"
end

-- A gateway whose name lookups of *.slow.test take 3 s. Under ASan its runtime may not be
-- first in the preload order: it is told not to insist.
local function slow_dns_gateway(opts)
  local asan = os.getenv("ASAN_OPTIONS")
  opts.binary = string.format("env LD_PRELOAD=%s SLOW_RESOLVER_SECONDS=3 ASAN_OPTIONS=%sverify_asan_link_order=0 %s",
    build_shim(), asan and (asan .. ":") or "", gateway.binary)
  return gateway.start(opts)
end

local FETCH = [[
return function(call)
  local answer, why = http.request{ method = "POST", url = call.params.url, body = "<methodcall/>" }
  if not answer then return { error = why } end
  return { status = answer.status }
end
]]

describe("a name server that takes seconds to answer", function()
  it("holds up only the call whose request waits for it: the loop and the store serve the others meanwhile", function()
    local fake = gateway.fake_upstream("receiver")
    local gw = slow_dns_gateway({ rules = gateway.rules_dir({ fetch = FETCH }), args = "--upstream-connect-timeout 6" })
    local waiting = gw:connect()
    local url = string.format("http://upstream.slow.test:%d/notify", fake.port)
    local started = socket.gettime()
    waiting:send(gateway.post_request(gateway.methodcall("fetch", "<url>" .. url .. "</url>")))
    socket.sleep(0.2) -- the lookup is under way
    for i = 1, 10 do -- calls that use the store, one after another
      local reply = gw:call("cancel_task", "<task_id>" .. i .. "</task_id>")
      assert.matches("<response>", reply, 1, true)
    end
    local status = gw:admin("/healthz")
    assert.equal(200, status)
    assert.is_true(socket.gettime() - started < 2, "the other calls waited for the name server")
    local code, _, body = gateway.read_response(waiting)
    waiting:close()
    assert.equal(200, code)
    assert.matches("<status>200</status>", body, 1, true)
    assert.is_true(socket.gettime() - started > 2.8, "the lookup did not take its 3 s")
    assert.equal(1, #fake:requests())
    gw:stop()
    fake:stop()
  end)

  it("ends the lookup at the connect timeout with 1922, the call not sent, and keeps serving", function()
    local gw = slow_dns_gateway({ args = "--upstream http://controller.slow.test:1/api/v2/task --upstream-connect-timeout 1" })
    local started = socket.gettime()
    assert.equal(gateway.fault(1922), gw:call("cancel_task", "<task_id>7</task_id>"))
    local took = socket.gettime() - started
    assert.is_true(took > 0.9 and took < 2.5, "took " .. took)
    assert.matches('msg="upstream unavailable"', gw:log(), 1, true) -- nothing was sent
    assert.equal(200, (gw:admin("/status")))
    gw:stop()
  end)
end)
