-- An upstream's reply passed back byte for byte is labelled with the charset it is in: its
-- Content-Type's, or else its XML declaration's (RFC 7303), never "utf-8" over ISO-8859-1 bytes.
local gateway = require "helpers.gateway"

local LATIN1_REPLY = '<?xml version="1.0" encoding="ISO-8859-1"?>\n'
  .. "<response><params><task_id>5</task_id><item>B\xe4ckerei</item></params></response>\n"

local function post(gw, body, content_type)
  return gw:raw(string.format("POST /api/v2/task HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s",
    content_type, #body, body))
end

describe("an upstream's reply in ISO-8859-1", function()
  for _, mode in ipairs({ "latin1", "latin1_declared" }) do
    it("is passed back under its own charset (" .. mode .. "), and converted in JSON", function()
      local fake = gateway.fake_upstream(mode)
      local gw = gateway.start({ args = "--upstream " .. fake.url })
      local status, headers, body = post(gw, gateway.methodcall("cancel_task", "<task_id>5</task_id>"), "application/xml")
      assert.equal(200, status)
      assert.equal(LATIN1_REPLY, body)
      assert.equal("application/xml; charset=ISO-8859-1", headers["content-type"])
      -- The next reply on the gateway, its own, is UTF-8 again.
      status, headers = post(gw, gateway.methodcall("cancel_task", "<task_id>x</task_id>"), "application/xml")
      assert.equal("application/xml; charset=utf-8", headers["content-type"])
      -- A JSON client gets the text decoded, in UTF-8.
      status, headers, body = post(gw, '{"method":"cancel_task","params":{"task_id":5}}', "application/json")
      assert.equal("application/json; charset=utf-8", headers["content-type"])
      assert.matches("B\xc3\xa4ckerei", body, 1, true)
      gw:stop()
      fake:stop()
    end)
  end

  it("keeps the utf-8 label for a UTF-8 upstream", function()
    local fake = gateway.fake_upstream("ok")
    local gw = gateway.start({ args = "--upstream " .. fake.url })
    local _, headers = post(gw, gateway.methodcall("cancel_task", "<task_id>5</task_id>"), "application/xml")
    assert.equal("application/xml; charset=utf-8", headers["content-type"])
    gw:stop()
    fake:stop()
  end)
end)
