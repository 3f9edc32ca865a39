-- HTTP as real clients and intermediaries use it, through the real binary: a HEAD answer never
-- has a body (RFC 9110 9.3.2), Expect: 100-continue with a final status known at once
-- (RFC 9110 10.1.1), absolute-form targets (RFC 9112 3.2.2), paths as ASP.NET Core and IIS
-- route them (any case, percent-escapes of unreserved characters, one trailing slash), the
-- Content-Type charset deciding the body's encoding (RFC 7303), unknown methods named in the log.
local gateway = require "helpers.gateway"

local CANCEL = gateway.methodcall("cancel_task", "<task_id>1</task_id>")

-- Reads what the connection has sent until it is quiet for `quiet` seconds (or closes).
local function drain(conn, quiet)
  conn:settimeout(quiet or 0.3)
  local parts = {}
  while true do
    local data, err, partial = conn:receive(65536)
    data = data or partial
    if data and #data > 0 then parts[#parts + 1] = data end
    if err then break end
  end
  return table.concat(parts)
end

describe("HTTP as clients use it", function()
  local gw
  setup(function() gw = gateway.start() end)
  teardown(function() gw:stop() end)

  describe("HEAD", function()
    it("answers a path that is no endpoint with 404 and no body, so the next response on the connection is intact", function()
      local conn = gw:connect()
      conn:send("HEAD /nope HTTP/1.1\r\nHost: x\r\n\r\nHEAD /api/v2/task HTTP/1.1\r\nHost: x\r\n\r\n")
      local status, headers = gateway.read_response(conn, true)
      assert.equal(404, status)
      assert.equal("10", headers["content-length"]) -- what a GET would get, without it
      status = gateway.read_response(conn, true)
      assert.equal(200, status)
      assert.equal("", drain(conn)) -- nothing stray
      conn:close()
    end)

    it("answers every HEAD without a body: endpoints, admin views, refusals", function()
      for _, path in ipairs({ "/api/v2/task", "/api/v2/bin", "/status", "/unknown/path" }) do
        local conn = gw:connect()
        conn:send("HEAD " .. path .. " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        local raw = drain(conn, 1)
        conn:close()
        local head, body = raw:match("^(.-\r\n\r\n)(.*)$")
        assert.is_truthy(head, path)
        assert.equal("", body, path)
      end
    end)
  end)

  describe("Expect: 100-continue", function()
    for _, case in ipairs({
      { "404 for a path that is no endpoint", "POST /nope HTTP/1.1", "", 404 },
      { "405 for another verb on an endpoint", "PUT /api/v2/task HTTP/1.1", "", 405 },
      { "415 for a compressed body", "POST /api/v2/task HTTP/1.1", "Content-Encoding: gzip\r\n", 415 },
    }) do
      it("answers " .. case[1] .. " at once, without waiting for the body, and keeps the connection in step", function()
        local conn = gw:connect()
        conn:send(string.format("%s\r\nHost: x\r\n%sContent-Length: 5\r\nExpect: 100-continue\r\n\r\n", case[2], case[3]))
        conn:settimeout(2)
        local status, headers = gateway.read_response(conn)
        assert.equal(case[4], status) -- no 100 Continue first, and before any body byte
        assert.is_nil(headers.connection)
        conn:send("hello") -- a client that sends its body anyway: read and dropped
        conn:send(gateway.post_request(CANCEL))
        status = gateway.read_response(conn)
        assert.equal(200, status)
        conn:close()
      end)
    end

    it("still sends 100 Continue on an endpoint and answers after the body", function()
      local conn = gw:connect()
      conn:send(string.format("POST /api/v2/task HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n", #CANCEL))
      assert.equal("HTTP/1.1 100 Continue", conn:receive("*l"))
      assert.equal("", conn:receive("*l"))
      conn:send(CANCEL)
      assert.equal(200, (gateway.read_response(conn)))
      conn:close()
    end)
  end)

  describe("request targets", function()
    local function status_of(target)
      local status, _, body = gw:raw(string.format("POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", target, #CANCEL, CANCEL))
      return status, body
    end

    it("accepts the absolute form (RFC 9112 3.2.2), as proxies send it", function()
      local status, body = status_of(string.format("http://127.0.0.1:%d/api/v2/task", gw.port))
      assert.equal(200, status)
      assert.equal(gateway.fault(1017), body)
      assert.equal(200, (status_of("HTTP://127.0.0.1/api/v2/bin")))
      assert.equal(404, (status_of("http://127.0.0.1:44000")))
    end)

    it("routes paths without regard to case, as ASP.NET Core and IIS do", function()
      for _, path in ipairs({ "/api/v2/Task", "/API/V2/TASK", "/Api/V2/Bin", "/asinterfacehttp/autostorehttpinterface.aspx" }) do
        assert.equal(200, (status_of(path)), path)
      end
    end)

    it("decodes percent-escapes of unreserved characters and allows one trailing slash", function()
      for _, path in ipairs({ "/api/v2/%74ask", "/api%2Dv2", "/api/v2/task/", "/api/v2/bin/?x=1", "/%61pi/v2/task" }) do
        local expected = path == "/api%2Dv2" and 404 or 200
        assert.equal(expected, (status_of(path)), path)
      end
      for _, path in ipairs({ "/api/v2/task%2F", "/api/v2/task//", "/api/v2%2Ftask", "/api/v2/tas" }) do
        assert.equal(404, (status_of(path)), path)
      end
    end)
  end)

  describe("the Content-Type charset", function()
    local ITEM = gateway.methodcall("create_taskgroup", "<taskgroup_id>%d</taskgroup_id><category>1</category>"
      .. "<req_time>2024-05-01T08:00:00Z</req_time><priority>1</priority><tasks><task><task_id>%d</task_id>"
      .. "<bin_id>1</bin_id><item>caf\233</item></task></tasks>") -- "café" in ISO-8859-1, no encoding declared

    local function post(body, content_type)
      local _, _, reply = gw:raw(string.format("POST /api/v2/task HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\n"
        .. "Content-Length: %d\r\n\r\n%s", content_type, #body, body))
      return reply
    end

    it("decides the encoding of the body: ISO-8859-1 read as such and stored in UTF-8", function()
      for i, content_type in ipairs({ "text/xml; charset=iso-8859-1", "application/xml;charset=\"ISO-8859-1\"", "text/plain; charset=latin1" }) do
        assert.equal(gateway.OK, post(string.format(ITEM, 100 + i, 100 + i), content_type), content_type)
        assert.matches("<item>caf\195\169</item>", gw:call("gettaskinfo", "<task_id>" .. (100 + i) .. "</task_id>"))
      end
    end)

    it("decides over the XML declaration, and UTF-8 stays the default", function()
      local declared = '<?xml version="1.0" encoding="UTF-8"?>' .. string.format(ITEM, 110, 110):gsub("^<%?xml[^>]*>", "")
      assert.equal(gateway.OK, post(declared, "text/xml; charset=iso-8859-1"))
      assert.equal(gateway.fault(1900), post(string.format(ITEM, 111, 111), "text/xml")) -- not UTF-8
      assert.equal(gateway.fault(1900), post(string.format(ITEM, 112, 112), "text/xml; charset=utf-8"))
    end)

    it("decides over a declaration of another encoding, which is then never read", function()
      -- .NET's XmlSerializer into a StringWriter declares utf-16, and StringContent sends UTF-8
      local dotnet = '<?xml version="1.0" encoding="utf-16"?>' .. CANCEL:gsub("^<%?xml[^>]*>", "")
      assert.equal(gateway.fault(1017), post(dotnet, "text/plain; charset=utf-8"))
      assert.equal(gateway.fault(1900), post(dotnet, "text/xml")) -- without a charset the declaration decides
      local pound = string.format(ITEM, 120, 120):gsub("^<%?xml[^>]*>", ""):gsub("caf\233", "\163") -- 0xA3: Latin-2's is a Ł
      local item = '<?xml version="1.0" encoding="ISO-8859-2"?>' .. pound
      assert.equal(gateway.OK, post(item, "text/xml; charset=iso-8859-1"))
      assert.matches("<item>\194\163</item>", gw:call("gettaskinfo", "<task_id>120</task_id>")) -- £, as ISO-8859-1 says
      assert.equal(gateway.fault(1900), post(item, "text/xml"))
    end)

    it("refuses a charset other than UTF-8 and ISO-8859-1 with the malformed fault", function()
      assert.equal(gateway.fault(1900), post(CANCEL, "text/xml; charset=utf-16"))
      assert.equal(gateway.fault(1900), post(CANCEL, "text/xml; charset=windows-1251"))
      assert.equal(gateway.fault(1017), post(CANCEL, "text/xml; charset=us-ascii"))
    end)
  end)

  it("names an unknown method in its log line, quoted and cut, while the metric label stays 'unknown'", function()
    local long = string.rep("x", 200)
    gw:call("frobnicate \"this\"", "")
    gw:call(long, "")
    local log
    for _ = 1, 50 do
      log = gw:log()
      if log:find(long:sub(1, 63), 1, true) then break end
      require("socket").sleep(0.05)
    end
    assert.matches('method=unknown name="frobnicate \\"this\\"" outcome=1901', log, 1, true)
    assert.is_truthy(log:find("method=unknown name=" .. long:sub(1, 63) .. " outcome=1901", 1, true))
    assert.is_falsy(log:find(long:sub(1, 64), 1, true))
  end)
end)

describe("--listen", function()
  it("refuses a ninth address saying how many it takes", function()
    local out, code = gateway.run(gateway.binary .. string.rep(" --listen 127.0.0.1:0", 9))
    assert.equal(2, code)
    assert.matches("too many listen addresses %(at most 8%)", out)
  end)

  it("refuses a ninth listen line in the config file the same way", function()
    local dir = gateway.tmpdir()
    gateway.write_file(dir .. "/taskgate.conf", string.rep("listen = 127.0.0.1:0\n", 9))
    local out, code = gateway.run(gateway.binary .. " --config " .. dir .. "/taskgate.conf")
    assert.equal(2, code)
    os.execute("rm -rf '" .. dir .. "'")
    assert.matches("taskgate.conf:9: too many listen addresses %(at most 8%)", out)
  end)
end)
