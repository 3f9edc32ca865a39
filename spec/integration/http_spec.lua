-- HTTP behaviour of the task endpoint: framing, keep-alive, pipelining and refusals.
local gateway = require "helpers.gateway"

local CANCEL = gateway.methodcall("cancel_task", "<task_id>5</task_id>")

describe("HTTP on the task endpoint", function()
  local gw
  setup(function() gw = gateway.start() end)
  teardown(function() gw:stop() end)

  -- Sends bytes and reads everything until the gateway closes the connection.
  local function exchange_until_close(bytes)
    local conn = gw:connect()
    conn:send(bytes)
    local data, err, partial = conn:receive("*a")
    conn:close()
    return data or partial
  end

  it("answers a methodcall with 200, the XML content type and a Content-Length", function()
    local status, headers, body = gw:post(CANCEL)
    assert.equal(200, status)
    assert.equal("application/xml; charset=utf-8", headers["content-type"])
    assert.equal(#body, tonumber(headers["content-length"]))
  end)

  it("accepts text/xml and a missing content type", function()
    local no_type = string.format("POST /api/v2/task HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", #CANCEL, CANCEL)
    assert.equal(gateway.fault(1017), select(3, gw:raw(no_type)))
    local text_xml = no_type:gsub("Host: x\r\n", "Host: x\r\nContent-Type: text/xml; charset=utf-8\r\n")
    assert.equal(gateway.fault(1017), select(3, gw:raw(text_xml)))
  end)

  it("refuses a compressed body with 415: it cannot be read", function()
    local req = gateway.post_request(CANCEL):gsub("Content%-Type", "Content-Encoding: deflate\r\nContent-Type")
    assert.equal(415, (gw:raw(req)))
  end)

  it("keeps the connection alive across requests", function()
    local conn = gw:connect()
    for _ = 1, 3 do
      conn:send(gateway.post_request(CANCEL))
      local status, _, body = gateway.read_response(conn)
      assert.equal(200, status)
      assert.equal(gateway.fault(1017), body)
    end
    conn:close()
  end)

  it("answers pipelined requests in order", function()
    local conn = gw:connect()
    conn:send(gateway.post_request(gateway.methodcall("cancel_task", "<task_id>x</task_id>")) ..
      gateway.post_request(CANCEL) .. gateway.post_request(gateway.methodcall("cancel_task")))
    assert.equal(gateway.fault(1012), select(3, gateway.read_response(conn)))
    assert.equal(gateway.fault(1017), select(3, gateway.read_response(conn)))
    assert.equal(gateway.fault(1040), select(3, gateway.read_response(conn)))
    conn:close()
  end)

  it("answers HEAD with 200 and no body", function()
    local status, headers = gw:raw("HEAD /api/v2/task HTTP/1.1\r\nHost: x\r\n\r\n", true)
    assert.equal(200, status)
    assert.equal("0", headers["content-length"])
  end)

  it("answers 404 for another path and keeps the connection", function()
    local conn = gw:connect()
    conn:send(gateway.post_request(CANCEL, nil, "/api/v1/task"))
    assert.equal(404, (gateway.read_response(conn)))
    conn:send(gateway.post_request(CANCEL))
    assert.equal(200, (gateway.read_response(conn)))
    conn:close()
  end)

  it("answers 405 with Allow for other verbs", function()
    local status, headers = gw:raw("GET /api/v2/task HTTP/1.1\r\nHost: x\r\n\r\n")
    assert.equal(405, status)
    assert.equal("POST, HEAD", headers["allow"])
  end)

  it("answers 413 for a body over 1 MiB and closes", function()
    local out = exchange_until_close("POST /api/v2/task HTTP/1.1\r\nHost: x\r\nContent-Length: 1048577\r\n\r\n")
    assert.matches("^HTTP/1.1 413 ", out)
    assert.matches("Connection: close", out)
  end)

  it("accepts a body of exactly 1 MiB", function()
    local padding = string.rep(" ", 1048576 - #CANCEL)
    assert.equal(gateway.fault(1017), select(3, gw:post(CANCEL .. padding)))
  end)

  it("answers 413 for a chunked body that grows over 1 MiB", function()
    local chunk = string.rep("x", 65536)
    local bytes = { "POST /api/v2/task HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" }
    for _ = 1, 17 do bytes[#bytes + 1] = string.format("%x\r\n%s\r\n", #chunk, chunk) end
    assert.matches("^HTTP/1.1 413 ", exchange_until_close(table.concat(bytes)))
  end)

  it("accepts a chunked body", function()
    local bytes = string.format("POST /api/v2/task HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", #CANCEL, CANCEL)
    assert.equal(gateway.fault(1017), select(3, gw:raw(bytes)))
  end)

  it("answers 431 for headers over 16 KiB and closes", function()
    local out = exchange_until_close("POST /api/v2/task HTTP/1.1\r\nHost: x\r\nX-Big: " .. string.rep("a", 17000) .. "\r\n\r\n")
    assert.matches("^HTTP/1.1 431 ", out)
  end)

  it("answers 400 for broken HTTP and closes", function()
    assert.matches("^HTTP/1.1 400 .*Connection: close", exchange_until_close("NOT HTTP AT ALL\r\n\r\n"))
  end)

  it("refuses a bare CR inside headers with 400", function()
    local out = exchange_until_close("POST /api/v2/task HTTP/1.1\r\nHost: x\rX-Smuggle: 1\r\nContent-Length: 0\r\n\r\n")
    assert.matches("^HTTP/1.1 400 ", out)
  end)

  it("refuses an obs-fold continuation line with 400", function()
    local out = exchange_until_close("POST /api/v2/task HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\nContent-Length: 0\r\n\r\n")
    assert.matches("^HTTP/1.1 400 ", out)
  end)

  it("refuses Content-Length together with Transfer-Encoding with 400", function()
    local out = exchange_until_close("POST /api/v2/task HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    assert.matches("^HTTP/1.1 400 ", out)
  end)

  it("answers a valid request and then 400 for pipelined garbage after it", function()
    local out = exchange_until_close(gateway.post_request(CANCEL) .. "GARBAGE\r\n\r\n")
    assert.matches("^HTTP/1.1 200 .*<code>1017</code>.*HTTP/1.1 400 ", out)
  end)

  it("answers 100 Continue to a client that expects it", function()
    local conn = gw:connect()
    conn:send(string.format("POST /api/v2/task HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n", #CANCEL))
    assert.equal("HTTP/1.1 100 Continue", conn:receive("*l"))
    assert.equal("", conn:receive("*l"))
    conn:send(CANCEL)
    assert.equal(gateway.fault(1017), select(3, gateway.read_response(conn)))
    conn:close()
  end)

  it("closes after answering an HTTP/1.0 request without keep-alive", function()
    local out = exchange_until_close(string.format("POST /api/v2/task HTTP/1.0\r\nContent-Length: %d\r\n\r\n%s", #CANCEL, CANCEL))
    assert.matches("<code>1017</code>", out)
  end)

  it("is still serving after all of the above", function()
    assert.equal(gateway.fault(1017), gw:call("cancel_task", "<task_id>5</task_id>"))
    assert.is_true(gw:alive())
  end)
end)
