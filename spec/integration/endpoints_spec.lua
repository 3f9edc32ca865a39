-- The four endpoints (task and bin, v2 and v1), how their paths compare, HEAD on each, and
-- the Content-Types a methodcall may come with.
local gateway = require "helpers.gateway"

local CANCEL = gateway.methodcall("cancel_task", "<task_id>5</task_id>")

-- A POST of body to path with the given header lines (each ending in CRLF).
local function post(path, body, headers)
  return string.format("POST %s HTTP/1.1\r\nHost: x\r\n%sContent-Length: %d\r\n\r\n%s", path, headers or "", #body, body)
end

describe("the endpoints", function()
  local gw
  setup(function()
    gw = gateway.start({ rules = gateway.rules_dir({
      which_interface = "return function(call) return { interface = call.interface } end",
    }) })
  end)
  teardown(function() gw:stop() end)

  for _, path in ipairs({ "/api/v2/task", "/ASInterfaceHttp/AutoStoreHttpInterface.aspx",
    "/AsInterfaceHttp/AutoStoreHttpInterface.aspx", "/asinterfacehttp/autostorehttpinterface.aspx" }) do
    it("answers the task interface at " .. path, function()
      local status, _, body = gw:raw(post(path, CANCEL, "Content-Type: application/xml\r\n"))
      assert.equal(200, status)
      assert.equal(gateway.fault(1017), body)
      assert.matches("<interface>task</interface>", select(3, gw:raw(post(path, gateway.methodcall("which_interface")))))
    end)
  end

  for _, path in ipairs({ "/api/v2/bin", "/ASInterfaceHttp/BinInterface.aspx", "/AsInterfaceHttp/BinInterface.aspx",
    "/ASINTERFACEHTTP/BININTERFACE.ASPX" }) do
    it("answers the bin interface at " .. path .. ", and a rule can tell", function()
      local status, _, body = gw:raw(post(path, gateway.methodcall("getportstatus", "<port_id>1</port_id>")))
      assert.equal(200, status)
      assert.matches("<status>closed</status>", body)
    end)
  end

  for _, path in ipairs({ "/api/v2/task", "/api/v2/bin", "/AsInterfaceHttp/AutoStoreHttpInterface.aspx",
    "/AsInterfaceHttp/BinInterface.aspx" }) do
    it("answers HEAD at " .. path .. " with 200 and no body", function()
      local status, headers = gw:raw("HEAD " .. path .. " HTTP/1.1\r\nHost: x\r\nConnection: Keep-Alive\r\n\r\n", true)
      assert.equal(200, status)
      assert.equal("0", headers["content-length"])
    end)
  end

  for _, path in ipairs({ "/api/v2/bins", "/api/v2/task//", "/api/v2/task%2F",
    "/AsInterfaceHttp/AutoStoreHttpInterface.asp", "/AsInterfaceHttp/BinInterface.aspx/x" }) do
    it("answers 404 at " .. path .. " (no endpoint, whatever the case and one trailing slash)", function()
      assert.equal(404, (gw:raw(post(path, CANCEL))))
      assert.equal(404, (gw:raw("HEAD " .. path .. " HTTP/1.1\r\nHost: x\r\n\r\n", true)))
    end)
  end

  it("refuses a task-group method on the bin endpoint as an unknown method", function()
    assert.equal(gateway.fault(1901), select(3, gw:raw(post("/api/v2/bin", CANCEL))))
    assert.equal(gateway.fault(1901), select(3, gw:raw(post("/AsInterfaceHttp/BinInterface.aspx", CANCEL))))
  end)

  it("tells a rule on the task endpoint that the call came through the task interface", function()
    assert.matches("<interface>task</interface>", gw:call("which_interface"))
  end)

  it("answers 405 with Allow to another verb on the bin endpoint", function()
    local status, headers = gw:raw("PUT /api/v2/bin HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    assert.equal(405, status)
    assert.equal("POST, HEAD", headers["allow"])
  end)
end)

describe("the Content-Type of a methodcall", function()
  local gw
  setup(function() gw = gateway.start() end)
  teardown(function() gw:stop() end)

  local types = {
    "application/xml", "text/xml", "application/xml; charset=utf-8", "text/plain; charset=utf-8", "text/plain",
    "application/x-www-form-urlencoded", "application/octet-stream", "text/html; charset=ISO-8859-1",
    "TEXT/XML; CHARSET=UTF-8", "application/soap+xml", "*/*", "x",
  }
  for _, content_type in ipairs(types) do
    it("does not decide anything when it is " .. content_type .. ": the body does", function()
      local status, headers, body = gw:raw(post("/api/v2/task", CANCEL, "Content-Type: " .. content_type .. "\r\n"))
      assert.equal(200, status)
      assert.equal("application/xml; charset=utf-8", headers["content-type"])
      assert.equal(gateway.fault(1017), body)
    end)
  end

  it("is not needed at all", function()
    assert.equal(gateway.fault(1017), select(3, gw:raw(post("/api/v2/task", CANCEL))))
  end)

  it("does not save a body that is not a methodcall from the malformed fault", function()
    for _, content_type in ipairs({ "text/plain", "application/xml", "application/x-www-form-urlencoded" }) do
      local body = select(3, gw:raw(post("/api/v2/task", "xml=%3Cmethodcall%3E", "Content-Type: " .. content_type .. "\r\n")))
      assert.equal(gateway.fault(1900), body)
    end
  end)

  it("is answered with 415 only when a Content-Encoding makes the body unreadable", function()
    assert.equal(415, (gw:raw(post("/api/v2/task", CANCEL, "Content-Encoding: gzip\r\n"))))
    assert.equal(415, (gw:raw(post("/api/v2/bin", CANCEL, "Content-Encoding: br\r\n"))))
    assert.equal(gateway.fault(1017), select(3, gw:raw(post("/api/v2/task", CANCEL, "Content-Encoding: identity\r\n"))))
  end)
end)
