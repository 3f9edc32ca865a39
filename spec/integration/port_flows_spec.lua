-- What real clients send in the documented port flows, through the real binary: the Open Bin,
-- Close Bin, Remove Bin, Open Port and Port pages' parameters (shipment, content, select by
-- content code, req_time, the documented port modes), the bin interface's port queue
-- (appendportqueue, openbin in queue order, removebin; the shapes 703SAC/RobotInterface's
-- createXmlAppendPortQueue and createXmlPrepareBin build), and the forms client libraries write:
-- ISO 8601 times with fractions or offsets, empty elements for null fields, JSON arrays.
local gateway = require "helpers.gateway"

local OK, F = gateway.OK, gateway.fault

describe("the documented port flows", function()
  local gw
  before_each(function() gw = gateway.start() end)
  after_each(function() gw:stop() end)

  -- create_taskgroup of one task, with extra group parameters (shipment, req_time...).
  local function group(id, task_id, bin_id, extra)
    return gw:call("create_taskgroup", string.format("<taskgroup_id>%d</taskgroup_id><category>1</category>"
      .. "%s<priority>1</priority><tasks><task><task_id>%d</task_id><bin_id>%d</bin_id></task></tasks>", id,
      extra or "<req_time>2024-05-01T08:00:00Z</req_time>", task_id, bin_id))
  end

  describe("openport", function()
    it("opens in the documented default mode OPEN without port_mode, and takes PICK as OPEN", function()
      assert.equal(OK, gw:call("openport", "<port_id>1</port_id>"))
      assert.matches("<port_mode>OPEN</port_mode>", gw:call("getportstatus", "<port_id>1</port_id>"))
      assert.equal(OK, gw:call("openport", "<port_id>2</port_id><port_mode>pick</port_mode>"))
      assert.matches("<port_mode>OPEN</port_mode>", gw:call("getportstatus", "<port_id>2</port_id>"))
    end)

    it("takes every documented mode and refuses other words with 1918", function()
      for i, mode in ipairs({ "OPEN", "AUTO", "INSERT", "SWAP", "MOVE", "SEQUENCE", "DISABLED", "MULTIPORT_PUPPET", "RUNOUT" }) do
        assert.equal(OK, gw:call("openport", "<port_id>" .. i .. "</port_id><port_mode>" .. mode .. "</port_mode>"))
        assert.matches("<port_mode>" .. mode .. "</port_mode>", gw:call("getportstatus", "<port_id>" .. i .. "</port_id>"))
      end
      assert.equal(F(1918), gw:call("openport", "<port_id>20</port_id><port_mode>CLOSED</port_mode>"))
      assert.equal(F(1918), gw:call("openport", "<port_id>20</port_id><port_mode>GOODS_IN</port_mode>"))
    end)

    it("lets 703SAC's 'open port for insertion' (no port_mode) insert a bin, but not a SWAP port", function()
      assert.equal(OK, gw:bin_call("openport", "<port_id>1</port_id>"))
      assert.equal(OK, gw:bin_call("insertbin", "<port_id>1</port_id><bin_id>9001</bin_id>"))
      assert.equal(OK, gw:bin_call("openport", "<port_id>2</port_id><port_mode>SWAP</port_mode>"))
      assert.equal(F(1927), gw:bin_call("insertbin", "<port_id>2</port_id><bin_id>9002</bin_id>"))
    end)

    it("selects bins by content code: openbin brings a grid bin with that content, ad hoc", function()
      assert.equal(OK, gw:bin_call("openport", "<port_id>9</port_id><port_mode>INSERT</port_mode>"))
      for bin_id, content in pairs({ [501] = 3, [502] = 0, [503] = 3 }) do
        assert.equal(OK, gw:bin_call("insertbin", string.format("<port_id>9</port_id><bin_id>%d</bin_id><content>%d</content>", bin_id, content)))
      end
      assert.equal(OK, gw:call("openport", "<port_id>1</port_id><select><content>3</content></select>"))
      local status = gw:call("getportstatus", "<port_id>1</port_id>")
      assert.matches("<select>\n      <content>3</content>\n    </select>", status)
      assert.matches("<bin_id>501</bin_id>\n    <task_id>0</task_id>", gw:call("openbin", "<port_id>1</port_id>"))
      assert.equal(OK, gw:call("closebin", "<port_id>1</port_id><bin_id>501</bin_id><content>4</content>"))
      assert.matches("<bin_id>503</bin_id>", gw:call("openbin", "<port_id>1</port_id>"))
      assert.equal(OK, gw:call("closebin", "<port_id>1</port_id><bin_id>503</bin_id><content>4</content>"))
      assert.equal(F(1015), gw:call("openbin", "<port_id>1</port_id>")) -- 501 and 503 now hold 4
    end)

    it("checks a content select: 1006 for a bad code, 1917 mixed with categories, at most 32", function()
      assert.equal(F(1006), gw:call("openport", "<port_id>1</port_id><select><content>x</content></select>"))
      assert.equal(F(1917), gw:call("openport", "<port_id>1</port_id><select><category>1</category><content>3</content></select>"))
      local many = {}
      for i = 1, 33 do many[i] = "<category>" .. i .. "</category>" end
      assert.equal(F(1007), gw:call("openport", "<port_id>1</port_id><select>" .. table.concat(many) .. "</select>"))
    end)

    it("keeps task groups required after its req_time away from the port", function()
      assert.equal(OK, group(1, 10, 100, "<req_time>2024-05-01T08:00:00Z</req_time>"))
      assert.equal(OK, group(2, 20, 200, "<req_time>2024-05-01T12:00:00Z</req_time>"))
      assert.equal(F(1008), gw:call("openport", "<port_id>1</port_id><req_time>noon</req_time>"))
      assert.equal(OK, gw:call("openport", "<port_id>1</port_id><req_time>2024-05-01T10:00:00Z</req_time>"))
      assert.matches("<task_id>10</task_id>", gw:call("openbin", "<port_id>1</port_id>"))
      assert.equal(OK, gw:call("closebin", "<port_id>1</port_id><bin_id>100</bin_id><task_id>10</task_id>"))
      assert.equal(F(1015), gw:call("openbin", "<port_id>1</port_id>")) -- group 2 is required at 12:00
      assert.matches("<task_id>20</task_id>", gw:call("openbin", "<port_id>1</port_id><taskgroup_id>2</taskgroup_id>"))
    end)
  end)

  describe("openbin and closebin", function()
    it("open the first group of a named shipment, in picking order", function()
      assert.equal(OK, group(1, 10, 100, "<req_time>2024-05-01T09:00:00Z</req_time><shipment>7</shipment>"))
      assert.equal(OK, group(2, 20, 200, "<req_time>2024-05-01T08:00:00Z</req_time><shipment>7</shipment>"))
      assert.equal(OK, group(3, 30, 300, "<req_time>2024-05-01T07:00:00Z</req_time>"))
      assert.equal(OK, gw:call("openport", "<port_id>1</port_id>"))
      assert.equal(OK, gw:call("openport", "<port_id>2</port_id>"))
      assert.matches("<task_id>20</task_id>", gw:call("openbin", "<port_id>1</port_id><shipment>7</shipment>"))
      assert.matches("<task_id>10</task_id>", gw:call("openbin", "<port_id>2</port_id><shipment>7</shipment>"))
    end)

    it("answer a named shipment's faults: 1014 invalid, 1015 unknown, 1019 all selected, 1917 with another name", function()
      assert.equal(OK, group(1, 10, 100, "<req_time>2024-05-01T09:00:00Z</req_time><shipment>7</shipment>"))
      assert.equal(OK, gw:call("openport", "<port_id>1</port_id>"))
      assert.equal(OK, gw:call("openport", "<port_id>2</port_id>"))
      assert.equal(F(1014), gw:call("openbin", "<port_id>1</port_id><shipment>0</shipment>"))
      assert.equal(F(1015), gw:call("openbin", "<port_id>1</port_id><shipment>8</shipment>"))
      assert.equal(F(1917), gw:call("openbin", "<port_id>1</port_id><shipment>7</shipment><task_id>10</task_id>"))
      assert.matches("<task_id>10</task_id>", gw:call("openbin", "<port_id>1</port_id><shipment>7</shipment>"))
      assert.equal(F(1019), gw:call("openbin", "<port_id>2</port_id><shipment>7</shipment>"))
    end)

    it("set the bin's content code on closebin (the Close Bin page's example sends <content>10</content>)", function()
      assert.equal(OK, group(1, 310022, 14861))
      assert.equal(OK, gw:call("openport", "<port_id>4</port_id>"))
      assert.matches("<task_id>310022</task_id>", gw:call("openbin", "<port_id>4</port_id>"))
      assert.equal(F(1006), gw:call("closebin", "<port_id>4</port_id><bin_id>14861</bin_id><task_id>310022</task_id><content>-1</content>"))
      assert.equal(OK, gw:call("closebin", "<port_id>4</port_id><bin_id>14861</bin_id><task_id>310022</task_id><content>10</content>"))
      assert.matches("<content>10</content>", gw:call("getbininfo", "<bin_id>14861</bin_id>"))
    end)

    it("removebin takes the open bin out of the system (the Remove Bin page's examples)", function()
      assert.equal(OK, group(1, 310022, 14861))
      assert.equal(OK, gw:call("openport", "<port_id>4</port_id>"))
      gw:call("openbin", "<port_id>4</port_id>")
      assert.equal(F(1011), gw:call("removebin", "<port_id>4</port_id><bin_id>1</bin_id><task_id>310022</task_id>"))
      assert.equal(OK, gw:call("removebin", "<port_id>4</port_id><bin_id>14861</bin_id><task_id>310022</task_id>"))
      assert.equal(F(1017), gw:call("cancel_task", "<task_id>310022</task_id>")) -- completed
      assert.matches("<bin_mode>X</bin_mode>", gw:call("getbinstate", "<bin_id>14861</bin_id>"))
      assert.not_matches("<bin_id>", gw:call("getportstatus", "<port_id>4</port_id>"))
      assert.equal(F(1009), gw:call("removebin", "<port_id>5</port_id><bin_id>14861</bin_id>"))
    end)
  end)

  describe("the bin interface's port queue", function()
    -- 703SAC/RobotInterface createXmlAppendPortQueue / createXmlPrepareBin, as XmlDocument.OuterXml.
    local function dotnet(method, inner)
      return '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><methodcall><name>' .. method
        .. "</name><params>" .. inner .. "</params></methodcall>"
    end
    local function post_bin(xml)
      local status, _, body = gw:raw(gateway.post_request(xml, nil, gateway.BIN_PATH))
      assert.equal(200, status)
      return body
    end

    it("opens the queued bins in order, each leaving the queue as it closes; removebin as the conveyor recipe", function()
      assert.equal(OK, post_bin(dotnet("appendportqueue", "<port_id>4</port_id><bins><bin_id>6111</bin_id></bins>")))
      assert.equal(OK, gw:bin_call("appendportqueue", "<port_id>4</port_id><bins><bin_id>6112</bin_id><bin_id>6113</bin_id></bins>"))
      assert.matches("<bins>\n      <bin_id>6111</bin_id>\n      <bin_id>6112</bin_id>\n      <bin_id>6113</bin_id>\n    </bins>",
        gw:bin_call("getportqueue", "<port_id>4</port_id>"))
      assert.equal(OK, gw:bin_call("openport", "<port_id>4</port_id>"))
      assert.matches("<bin_id>6111</bin_id>", gw:bin_call("openbin", "<port_id>4</port_id>"))
      local state = gw:bin_call("getbinstate", "<bin_id>6111</bin_id>")
      assert.matches("<bin_mode>O</bin_mode>\n        <port_id>4</port_id>", state) -- what the recipe polls for
      assert.equal(OK, gw:bin_call("closebin", "<port_id>4</port_id><bin_id>6111</bin_id>"))
      assert.matches("<bin_id>6112</bin_id>", gw:bin_call("openbin", "<port_id>4</port_id>"))
      assert.equal(OK, gw:bin_call("removebin", "<port_id>4</port_id><bin_id>6112</bin_id>"))
      assert.matches("<bin_mode>X</bin_mode>", gw:bin_call("getbinstate", "<bin_id>6112</bin_id>"))
      assert.matches("<bin_id>6113</bin_id>", gw:bin_call("openbin", "<port_id>4</port_id>"))
      assert.equal(OK, gw:bin_call("closebin", "<port_id>4</port_id><bin_id>6113</bin_id>"))
      assert.equal(F(1015), gw:bin_call("openbin", "<port_id>4</port_id>"))
      assert.matches("<bins/>", gw:bin_call("getportqueue", "<port_id>4</port_id>"))
    end)

    it("never hands out a WMS task on the bin endpoint", function()
      assert.equal(OK, group(1, 10, 100))
      assert.equal(OK, gw:bin_call("openport", "<port_id>4</port_id>"))
      assert.equal(F(1015), gw:bin_call("openbin", "<port_id>4</port_id>"))
      assert.matches("<state>open</state>", gw:call("gettaskinfo", "<task_id>10</task_id>"))
    end)

    it("checks the queue's parameters", function()
      assert.equal(F(1003), gw:bin_call("appendportqueue", "<bins><bin_id>1</bin_id></bins>"))
      assert.equal(F(1911), gw:bin_call("appendportqueue", "<port_id>4</port_id>"))
      assert.equal(F(1911), gw:bin_call("appendportqueue", "<port_id>4</port_id><bins/>"))
      assert.equal(F(1010), gw:bin_call("appendportqueue", "<port_id>4</port_id><bins><bin_id>0</bin_id></bins>"))
    end)

    it("prepares bins (703SAC's preparebin): a grid bin is PREPARED at once", function()
      assert.equal(OK, post_bin(dotnet("preparebin", "<bins><bin_id>6111</bin_id></bins>")))
      assert.matches("<bin_mode>T</bin_mode>", gw:bin_call("getbinstate", "<bin_id>6111</bin_id>"))
      assert.equal(F(1911), gw:bin_call("preparebin", "<bins/>"))
    end)
  end)

  describe("bin queries", function()
    it("answer a <bins> list of bin_ids with those bins only, never all", function()
      assert.equal(OK, group(1, 10, 8001))
      assert.equal(OK, group(2, 20, 8002))
      local state = gw:bin_call("getbinstate", "<bins><bin_id>8001</bin_id></bins>")
      assert.matches("<bin_id>8001</bin_id>", state)
      assert.not_matches("<bin_id>8002</bin_id>", state)
    end)

    it("refuse a filter they do not know (1933) rather than answer every bin", function()
      assert.equal(OK, group(1, 10, 8001))
      assert.equal(F(1933), gw:bin_call("getbinstate", "<bin><bin_id>8001</bin_id></bin>"))
      assert.equal(F(1933), gw:bin_call("getbininfo", "<port_id>1</port_id>"))
    end)

    it("answer an empty list for a bin that is not known, as a filter that matches nothing", function()
      assert.matches("<bins/>", gw:bin_call("getbinstate", "<bin_id>4711</bin_id>"))
    end)
  end)

  describe("the forms client libraries write", function()
    it("take ISO 8601 times with fractions and UTC offsets, stored in the documented form", function()
      for i, sent in ipairs({ "2024-05-01T08:00:00.123Z", "2024-05-01T08:00:00.0000000Z", "2024-05-01T08:00:00+00:00",
        "2024-05-01T08:00:00-00:00", "2024-05-01T08:00:00+0000", "2024-05-01T10:00:00+02:00" }) do
        assert.equal(OK, group(i, i * 10, i, "<req_time>" .. sent .. "</req_time>"))
        assert.matches("<req_time>2024%-05%-01T08:00:00Z</req_time>", gw:call("gettaskinfo", "<taskgroup_id>" .. i .. "</taskgroup_id>"))
      end
      assert.equal(F(1008), group(9, 90, 9, "<req_time>2024-05-01T08:00:00</req_time>"))
    end)

    it("read an empty optional element as absent (a serialiser's null)", function()
      assert.equal(OK, group(1, 10, 100, "<req_time>2024-05-01T08:00:00Z</req_time><shipment/><start_time/>"))
      assert.equal(OK, gw:call("openport", "<port_id>1</port_id><port_mode/><req_time/>"))
      assert.matches("<task_id>10</task_id>", gw:call("openbin", "<port_id>1</port_id><taskgroup_id/><task_id/><bin_id/><shipment/>"))
      assert.equal(OK, gw:call("closeport", "<port_id>1</port_id><suspend_taskgroup/>"))
      assert.equal(F(1012), gw:call("cancel_task", "<task_id/>")) -- mandatory: still the documented 1012
    end)

    it("take a JSON array for repeated elements: tasks and bins", function()
      local body = '{"method": "create_taskgroup", "params": {"taskgroup_id": 1, "category": 1, "req_time": '
        .. '"2024-05-01T08:00:00.000Z", "priority": 1, "tasks": [{"task_id": 10, "bin_id": 100}, {"task_id": 11, "bin_id": 101}]}}'
      local status, _, reply = gw:raw(string.format("POST /api/v2/task HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        .. "Content-Length: %d\r\n\r\n%s", #body, body))
      assert.equal(200, status)
      assert.equal('{"params":{}}', reply)
      assert.equal(OK, gw:call("cancel_task", "<task_id>11</task_id>"))
      body = '{"method": "appendportqueue", "params": {"port_id": 4, "bins": [6111, 6112]}}'
      status, _, reply = gw:raw(string.format("POST /api/v2/bin HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", #body, body))
      assert.equal('{"params":{}}', reply)
      assert.matches("<bin_id>6112</bin_id>", gw:bin_call("getportqueue", "<port_id>4</port_id>"))
    end)
  end)
end)
