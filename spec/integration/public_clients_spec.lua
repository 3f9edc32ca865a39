-- Public client code written against the AutoStore interface, replayed against the real binary
-- as those clients send it: the request bytes their HTTP library writes (request line, headers in
-- its order, Expect: 100-continue where it waits for it), their XML as their code builds it, their
-- request sequences; and their replies read the way their code reads them (the element names
-- they look up). The clients (docs/interface.md lists them and what they need):
--   703SAC/RobotInterface          RobotInterface.Driver/AutostoreInterfaceDriver.cs, the sequence
--                                  of CobotApplication/CobotApplicationProgram.cs (.NET 6 HttpClient)
--   703SAC/URCommunication         HttpTest/Program.cs (.NET Core 3.1 HttpClient)
--   A0095/APPtersterport1.1.7      teste/Forms/TestLoop.cs and teste/Form1.cs, a port tester
--                                  (.NET Framework 4.7.2 HttpClient)
--   a Spring WCS client            com/lgcns/smartwcs/common/client/AutoStoreClient.java and
--                                  model/AutoStoreResponse.java (Jackson XML): its reply parsing
local gateway = require "helpers.gateway"
local native = require("helpers.runtime").native -- the XML reader of the runtime, as a client parser

-- The reply's root element and value, as an XML reader (XDocument, Jackson) sees them.
local function parse(body)
  local root, value = native.xml.decode_document(body)
  assert(root == "response", "not a <response>: " .. tostring(body))
  return value
end

-- What .NET's TryParseFault does: the <fault><code> as an int, or nil.
local function fault_code(body)
  local reply = parse(body)
  return reply.fault and math.tointeger(tonumber(reply.fault.code))
end

-- XmlDocument.OuterXml of a methodcall built with CreateXmlDeclaration("1.0", "UTF-8", "yes"):
-- one line, no whitespace, params in the order the code appends them.
local function outer_xml(method, params)
  local parts = {}
  for _, param in ipairs(params) do
    local name, value = param[1], param[2]
    parts[#parts + 1] = type(value) == "table" and ("<" .. name .. ">" .. outer_xml(nil, value) .. "</" .. name .. ">")
      or ("<" .. name .. ">" .. value .. "</" .. name .. ">")
  end
  if not method then return table.concat(parts) end
  return '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><methodcall><name>' .. method .. "</name><params>"
    .. table.concat(parts) .. "</params></methodcall>"
end

-- .NET (Core 3.1, 5, 6+) SocketsHttpHandler: `new HttpClient().PostAsync(url, new
-- StringContent(xml, Encoding.UTF8))`: Host first, then the content headers; StringContent with
-- only an encoding is text/plain; no Expect, no Connection, no User-Agent.
local function dotnet_core_post(gw, path, xml)
  return string.format("POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: text/plain; charset=utf-8\r\n"
    .. "Content-Length: %d\r\n\r\n%s", path, gw.port, #xml, xml)
end

-- A fresh connection per call, as `using (HttpClient client = new HttpClient())` makes.
local function send_dotnet_core(gw, path, xml)
  local status, headers, body = gw:raw(dotnet_core_post(gw, path, xml))
  assert.equal(200, status)
  assert.equal("application/xml; charset=utf-8", headers["content-type"])
  return body
end

describe("703SAC/RobotInterface (.NET 6, v1 paths, text/plain)", function()
  local gw
  local TASK = "/AsInterfaceHttp/AutoStoreHttpInterface.aspx"
  local BIN = "/AsInterfaceHttp/BinInterface.aspx"
  before_each(function() gw = gateway.start() end)
  after_each(function() gw:stop() end)

  -- The driver's request builders (AutostoreInterfaceDriver.cs).
  local function port_status() return outer_xml("getportstatus", { { "port_id", "1" } }) end
  local function open_port(method, port) return outer_xml(method, { { "select", { { "category", "1" } } }, { "port_id", port } }) end
  local function close_port(method, port) return outer_xml(method, { { "port_id", port } }) end
  local function open_close_bin(method, port, bin) return outer_xml(method, { { "port_id", port }, { "bin_id", bin } }) end
  local function bin_info(method) return outer_xml(method, { { "min_bin_id", "100000" }, { "max_bin_id", "110000" } }) end

  it("runs the cobot program's menu in order on the task path: open port, open bin 100007 by number, close it, bin info and state, close port", function()
    local replies = {
      send_dotnet_core(gw, TASK, open_port("openport", "1")),
      send_dotnet_core(gw, TASK, port_status()),
      send_dotnet_core(gw, TASK, open_close_bin("openbin", "1", "100007")),
      send_dotnet_core(gw, TASK, port_status()),
      send_dotnet_core(gw, TASK, open_close_bin("closebin", "1", "100007")),
      send_dotnet_core(gw, TASK, bin_info("getbininfo")),
      send_dotnet_core(gw, TASK, bin_info("getbinstate")),
      send_dotnet_core(gw, TASK, close_port("closeport", "1")),
      send_dotnet_core(gw, TASK, port_status()),
    }
    for i, body in ipairs(replies) do assert.is_nil(fault_code(body), "call " .. i .. ": " .. body) end
    assert.equal("open", parse(replies[2]).params.status)
    assert.equal("100007", parse(replies[3]).params.bin_id) -- an ad-hoc bin: robots open bins by number
    assert.equal("100007", parse(replies[4]).params.bin_id)
    assert.equal("C", parse(replies[6]).params.bins.bin.bin_mode) -- the one-letter codes the docs' recipes compare
    assert.equal("100007", parse(replies[7]).params.bins.bin.bin_id)
    assert.equal("closed", parse(replies[9]).params.status)
  end)

  it("sends the bin methods to BinInterface.aspx when the driver is made for the bin interface", function()
    send_dotnet_core(gw, TASK, open_port("openport", "1"))
    assert.is_nil(fault_code(send_dotnet_core(gw, BIN, open_close_bin("openbin", "1", "100002"))))
    local state = parse(send_dotnet_core(gw, BIN, bin_info("getbinstate")))
    assert.equal("O", state.params.bins.bin.bin_mode)
    assert.equal("1", state.params.bins.bin.port_id)
    assert.is_nil(fault_code(send_dotnet_core(gw, BIN, open_close_bin("closebin", "1", "100002"))))
  end)

  it("asks for the port status as the cobot timer does, in camel case (getPortStatus)", function()
    assert.equal("closed", parse(send_dotnet_core(gw, TASK, outer_xml("getPortStatus", { { "port_id", "1" } }))).params.status)
  end)

  it("answers the HttpTest program's getbininfo of 100002..100032 with an empty list", function() -- 703SAC/URCommunication
    local reply = parse(send_dotnet_core(gw, "/AsInterfaceHttp/AutoStoreHttpInterface.aspx",
      outer_xml("getbininfo", { { "min_bin_id", "100002" }, { "max_bin_id", "100032" } })))
    assert.equal("", reply.params.bins)
  end)
end)

describe("A0095/APPtersterport1.1.7 port tester (.NET Framework 4.7.2, /api/v2/task)", function()
  local gw
  before_each(function() gw = gateway.start() end)
  after_each(function() gw:stop() end)

  -- BuildXml: a declaration without encoding, no whitespace.
  local function build_xml(method, inner)
    return '<?xml version="1.0"?><methodcall><name>' .. method .. "</name><params>" .. inner .. "</params></methodcall>"
  end

  -- .NET Framework's HttpWebRequest under a shared HttpClient: Content-Type first, then Host,
  -- Content-Length, Expect: 100-continue (it waits for the 100 before sending the body) and, on a
  -- connection's first request, Connection: Keep-Alive. One connection for the whole run.
  local function framework_client()
    local conn = gw:connect()
    local first = true
    return {
      post = function(xml)
        conn:send(string.format("POST /api/v2/task HTTP/1.1\r\nContent-Type: application/xml; charset=utf-8\r\n"
          .. "Host: 127.0.0.1:%d\r\nContent-Length: %d\r\nExpect: 100-continue\r\n%s\r\n", gw.port, #xml,
          first and "Connection: Keep-Alive\r\n" or ""))
        first = false
        assert.equal("HTTP/1.1 100 Continue", conn:receive("*l"))
        assert.equal("", conn:receive("*l"))
        conn:send(xml)
        local status, headers, body = gateway.read_response(conn)
        assert.equal(200, status)
        assert.equal("application/xml; charset=utf-8", headers["content-type"])
        return body
      end,
      head = function()
        conn:send(string.format("HEAD /api/v2/task HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s\r\n", gw.port,
          first and "Connection: Keep-Alive\r\n" or ""))
        first = false
        return gateway.read_response(conn, true)
      end,
      close = function() conn:close() end,
    }
  end

  -- RunV1_TaskGroupTestAsync from openport on: ten openbin/closebin/flushportbin rounds on the
  -- group, closebin retried on 1027, then closeport. Returns the task ids it saw.
  local function run_test(client, group_id, port_id)
    assert.is_nil(fault_code(client.post(build_xml("openport", "<port_id>" .. port_id .. "</port_id>"))))
    local seen = {}
    for _ = 1, 10 do
      local open = client.post(build_xml("openbin", "<port_id>" .. port_id .. "</port_id><taskgroup_id>" .. group_id .. "</taskgroup_id>"))
      assert.is_nil(fault_code(open), "AutoStore fault openbin=" .. tostring(fault_code(open)))
      local params = parse(open).params
      local bin_id, task_id = math.tointeger(tonumber(params.bin_id)), math.tointeger(tonumber(params.task_id))
      seen[#seen + 1] = task_id
      local close
      repeat
        close = client.post(build_xml("closebin", "<port_id>" .. port_id .. "</port_id><bin_id>" .. bin_id
          .. "</bin_id><task_id>" .. task_id .. "</task_id>"))
      until fault_code(close) ~= 1027
      assert.is_nil(fault_code(close), "CLOSEBIN fault=" .. tostring(fault_code(close)))
      assert.is_nil(fault_code(client.post(build_xml("flushportbin", "<port_id>" .. port_id .. "</port_id><bin_id>"
        .. bin_id .. "</bin_id>"))))
    end
    assert.is_nil(fault_code(client.post(build_xml("closeport", "<port_id>" .. port_id .. "</port_id>"))))
    return seen
  end

  it("checks the connection with HEAD and gets 200", function()
    local client = framework_client()
    local status, headers = client.head()
    assert.equal(200, status)
    assert.equal("0", headers["content-length"])
    client.close()
  end)

  it("gets 1911 for its own create_taskgroup, whose tasks carry no bin_id (documented mandatory), and then 1018 on openbin", function()
    local client = framework_client()
    local tasks = {}
    for i = 1, 10 do tasks[i] = "<task><task_id>" .. (5000 + i) .. "</task_id></task>" end
    local created = client.post(build_xml("create_taskgroup", "<taskgroup_id>5000</taskgroup_id><category>1</category>"
      .. "<priority>10</priority><req_time>" .. os.date("!%Y-%m-%dT%H:%M:%SZ") .. "</req_time><tasks>"
      .. table.concat(tasks) .. "</tasks>"))
    assert.equal(1911, fault_code(created)) -- the tester does not read this reply
    assert.is_nil(fault_code(client.post(build_xml("openport", "<port_id>1</port_id>"))))
    assert.equal(1018, fault_code(client.post(build_xml("openbin", "<port_id>1</port_id><taskgroup_id>5000</taskgroup_id>"))))
    client.close()
  end)

  it("runs its whole test loop on a group whose tasks name their bins: ten rounds, each task once", function()
    local tasks = {}
    for i = 1, 10 do tasks[i] = { 6000 + i, 600 + i } end
    assert.equal(gateway.OK, gw:call("create_taskgroup", gateway.taskgroup_params(6000, tasks)))
    local client = framework_client()
    local seen = run_test(client, 6000, 7)
    client.close()
    table.sort(seen)
    assert.same({ 6001, 6002, 6003, 6004, 6005, 6006, 6007, 6008, 6009, 6010 }, seen)
    assert.matches("<taskgroups/>", gw:call("gettaskinfo", "<taskgroup_id>6000</taskgroup_id>")) -- all done
  end)
end)

describe("a Spring WCS client's reply parsing (com.lgcns.smartwcs AutoStoreResponse, Jackson XML)", function()
  local gw
  before_each(function() gw = gateway.start() end)
  after_each(function() gw:stop() end)

  it("finds params/bin_id and params/task_id in openbin's reply, and fault/code in a fault", function()
    assert.equal(gateway.OK, gw:call("create_taskgroup", gateway.taskgroup_params(1, { { 10, 42 } })))
    gw:call("openport", "<port_id>1</port_id>")
    local params = parse(gw:call("openbin", "<port_id>1</port_id>")).params
    assert.equal("42", params.bin_id)
    assert.equal("10", params.task_id)
    assert.equal("1020", parse(gw:call("openbin", "<port_id>1</port_id>")).fault.code)
  end)

  it("finds params/bins/bin/bin_mode and port_id in the bin state", function()
    gw:call("openport", "<port_id>2</port_id>")
    gw:call("openbin", "<port_id>2</port_id><bin_id>77</bin_id>")
    local _, _, body = gw:raw(gateway.post_request(gateway.methodcall("getbinstate", "<bin_id>77</bin_id>"), nil,
      "/AsInterfaceHttp/BinInterface.aspx"))
    local bin = parse(body).params.bins.bin
    assert.equal("O", bin.bin_mode)
    assert.equal("2", bin.port_id)
  end)
end)

describe("the documentation's examples through real HTTP libraries", function()
  local gw
  local python = os.getenv("TASKGATE_PYTHON") or "/usr/bin/python3"
  before_each(function() gw = gateway.start() end)
  after_each(function() gw:stop() end)

  -- Runs a program text with an interpreter; returns what it printed.
  local function run(interpreter, extension, program)
    local path = gateway.tmpdir() .. "/client." .. extension
    gateway.write_file(path, program)
    local p = io.popen(interpreter .. " " .. path .. " 2>&1")
    local out = p:read("a")
    p:close()
    return out
  end

  it("Python requests: the JSON form (json=...) and the bin interface's getbininfo in XML", function()
    local out = run(python, "py", string.format([[
import requests
base = "http://127.0.0.1:%d/api/v2"
r = requests.post(base + "/task", json={"method": "getportstatus", "params": {"port_id": 1}})
print(r.headers["Content-Type"], r.json()["params"]["status"])
xml = '<?xml version="1.0"?>\n<methodcall>\n  <name>getbininfo</name>\n  <params>\n    <bin_id>12004</bin_id>\n  </params>\n</methodcall>'
r = requests.post(base + "/bin", data=xml.encode("utf-8"), headers={"Content-Type": "application/xml"})
print(r.status_code, "<bins/>" in r.text)
]], gw.port))
    assert.equal("application/json; charset=utf-8 closed\n200 True\n", out)
  end)

  it("JavaScript fetch: flushportbin in the JSON form the newest documentation shows", function()
    gw:call("openport", "<port_id>5</port_id>")
    gw:call("openbin", "<port_id>5</port_id><bin_id>14861</bin_id>")
    gw:call("closebin", "<port_id>5</port_id><bin_id>14861</bin_id>")
    local out = run("node", "js", string.format([[
fetch("http://127.0.0.1:%d/api/v2/bin", {
  method: "POST",
  body: JSON.stringify({ method: "flushportbin", params: { port_id: 5, bin_id: 14861 } }),
  headers: { "Content-Type": "application/json" },
}).then(r => r.json()).then(reply => console.log(JSON.stringify(reply)));
]], gw.port))
    assert.equal('{"params":{}}\n', out)
    assert.matches("<bin_mode>G</bin_mode>", gw:call("getbinstate", "<bin_id>14861</bin_id>"))
  end)
end)
