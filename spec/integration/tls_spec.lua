-- HTTPS with a throwaway CA made in the spec (spec/helpers/tls.lua): the upstream and rules'
-- requests over HTTPS with the certificate verified.
local gateway = require "helpers.gateway"
local tls = require "helpers.tls"

local F = gateway.fault

local function echo(task_id)
  return string.format('<?xml version="1.0"?>\n<response>\n  <params>\n    <task_id>%s</task_id>\n  </params>\n</response>\n',
    task_id)
end

local function cancel(gw, task_id)
  return gw:call("cancel_task", "<task_id>" .. task_id .. "</task_id>")
end

describe("an HTTPS upstream", function()
  local ca, server
  setup(function()
    ca = tls.ca()
    server = tls.issue(ca, "127.0.0.1")
  end)

  it("is reached with its certificate verified against --upstream-ca", function()
    local fake = gateway.fake_upstream("ok", { tls = server })
    local gw = gateway.start({ args = "--upstream " .. fake.url .. " --upstream-ca " .. ca.cert })
    assert.equal(echo(101), cancel(gw, 101))
    assert.equal(echo(102), cancel(gw, 102))
    gw:stop()
    fake:stop()
  end)

  it("is refused, with nothing sent, when its certificate is not one the gateway trusts", function()
    local fake = gateway.fake_upstream("ok", { tls = server })
    local gw = gateway.start({ args = "--upstream " .. fake.url }) -- the system's CAs only
    assert.equal(F(1922), cancel(gw, 101))
    assert.equal(0, #fake:requests())
    assert.matches('msg="upstream unavailable"', gw:log(), 1, true)
    assert.matches('reason="TLS: server certificate not trusted"', gw:log(), 1, true)
    gw:stop()
    fake:stop()
  end)

  it("is refused when its certificate names another host", function()
    local other = tls.issue(ca, "other.example")
    local fake = gateway.fake_upstream("ok", { tls = other })
    local gw = gateway.start({ args = "--upstream " .. fake.url .. " --upstream-ca " .. ca.cert })
    assert.equal(F(1922), cancel(gw, 101))
    assert.equal(0, #fake:requests())
    assert.matches('reason="TLS: server certificate not trusted"', gw:log(), 1, true)
    gw:stop()
    fake:stop()
  end)

  it("gets the client certificate when it asks for one", function()
    local client = tls.issue(ca, "taskgate-client", "clientAuth")
    local fake = gateway.fake_upstream("ok", { tls = server, client_ca = ca.cert })
    local without = gateway.start({ args = "--upstream " .. fake.url .. " --upstream-ca " .. ca.cert })
    assert.equal(F(1922), cancel(without, 101))
    without:stop()
    assert.equal(0, #fake:requests())
    local with = gateway.start({ args = string.format("--upstream %s --upstream-ca %s --upstream-cert %s --upstream-key %s",
      fake.url, ca.cert, client.cert, client.key) })
    assert.equal(echo(102), cancel(with, 102))
    with:stop()
    fake:stop()
  end)

  it("is reached by a rule's http.request to an https:// URL", function()
    local fake = gateway.fake_upstream("ok", { tls = server })
    local notify = [[
return function(call)
  local answer, why = http.request{ url = call.params.url, body = "<task_id>7</task_id>" }
  if not answer then return { error = why } end
  return { status = answer.status, got = answer.body:match("<task_id>(%d+)</task_id>") }
end
]]
    local gw = gateway.start({ rules = gateway.rules_dir({ notify = notify }), args = "--upstream-ca " .. ca.cert })
    local reply = gw:call("notify", "<url>" .. fake.url .. "</url>")
    assert.matches("<got>7</got>", reply)
    assert.matches("<status>200</status>", reply)
    gw:stop()
    fake:stop()
  end)

  it("refuses to start with a CA file it cannot read", function()
    local out, code = gateway.run(gateway.binary .. " --upstream https://127.0.0.1:1/api/v2/task --upstream-ca /nonexistent/ca.pem")
    assert.equal(2, code)
    assert.matches("invalid value '/nonexistent/ca.pem' for --upstream-ca", out, 1, true)
  end)
end)
