-- The forwarding-loop guard reads Via as RFC 9110 7.6.3 writes it: several entries, several
-- headers, comments (Squid and Varnish name their software there, commas and parentheses
-- included). A call whose chain names this gateway, or is too long to tell, is not sent on.
local gateway = require "helpers.gateway"

local F = gateway.fault

describe("the Via chain", function()
  local fake, gw, tag
  setup(function()
    fake = gateway.fake_upstream("ok")
    gw = gateway.start({ args = "--upstream " .. fake.url })
    gw:call("cancel_task", "<task_id>1</task_id>")
    tag = fake:requests()[1].headers.via:match("(taskgate%-%x+)$")
    assert.is_truthy(tag)
  end)
  teardown(function()
    gw:stop()
    fake:stop()
  end)

  local function cancel_with(task_id, headers)
    local status, _, body = gw:raw(gateway.post_request(gateway.methodcall("cancel_task",
      "<task_id>" .. task_id .. "</task_id>"), headers))
    assert.equal(200, status)
    return body
  end

  local function last_via()
    local requests = fake:requests()
    return requests[#requests].headers.via
  end

  it("catches a loop when a proxy behind this gateway added an entry with a comment", function()
    assert.equal(F(1922), cancel_with(711, "Via: 1.1 " .. tag .. ", 1.1 varnish (Varnish/6.0)\r\n"))
    assert.equal(F(1922), cancel_with(712, "Via: 1.1 proxy (Squid/5.7 (Debian), with, commas), 1.1 " .. tag .. "\r\n"))
    assert.equal(F(1922), cancel_with(713, "Via: 1.1 " .. tag .. " (taskgate), HTTP/1.1 other\r\n"))
    assert.equal(0, fake:count(711) + fake:count(712) + fake:count(713))
  end)

  it("catches a loop named in a second Via header", function()
    assert.equal(F(1922), cancel_with(714, "Via: 1.1 varnish (Varnish/6.0)\r\nVia: 1.0 fred, 1.1 " .. tag .. "\r\n"))
    assert.equal(0, fake:count(714))
  end)

  it("forwards the chain of every header, comments left out, this gateway last", function()
    cancel_with(720, "Via: 1.1 varnish (Varnish/6.0), 1.0 fred\r\nVia: 1.1 p.example.net:8080 (comment (nested))\r\n")
    assert.equal(1, fake:count(720))
    assert.equal("1.1 varnish, 1.0 fred, 1.1 p.example.net:8080, 1.1 " .. tag, last_via())
  end)

  it("leaves out an entry that is not one, and keeps the others", function()
    cancel_with(721, "Via: 1.1 varnish, nonsense(, 1.1 squid\r\n")
    assert.equal(1, fake:count(721))
    assert.equal("1.1 varnish, 1.1 " .. tag, last_via())
  end)

  it("does not take another gateway's name that only begins like this one's for a loop", function()
    assert.matches("<task_id>722</task_id>", cancel_with(722, "Via: 1.1 " .. tag .. "0\r\n"), 1, true)
  end)

  it("sends nothing on for a chain too long to tell", function()
    local entries = {}
    for i = 1, 60 do entries[i] = "1.1 proxy" .. i .. ".example.net (Squid/5.7)" end
    local headers = {}
    for i = 1, 60, 6 do headers[#headers + 1] = "Via: " .. table.concat(entries, ", ", i, i + 5) .. "\r\n" end
    assert.equal(F(1922), cancel_with(730, table.concat(headers)))
    assert.equal(0, fake:count(730))
    assert.matches('reason="forwarding loop: the Via chain is too long to tell"', gw:log(), 1, true)
  end)
end)
