-- The bin interface (rules/bin/) and ad-hoc bins, through the real binary: getbinstate,
-- getbinloc, getbininfo with their ranges, portbinmode, insertbin, flushportbin, and the port
-- methods on both endpoints.
local gateway = require "helpers.gateway"

local OK, F = gateway.OK, gateway.fault

describe("the bin interface", function()
  local gw
  before_each(function() gw = gateway.start() end)
  after_each(function() gw:stop() end)

  local function open_port(port_id, mode)
    assert.equal(OK, gw:bin_call("openport", "<port_id>" .. port_id .. "</port_id>"
      .. (mode and "<port_mode>" .. mode .. "</port_mode>" or "")))
  end

  it("serves the port methods on the bin endpoint too", function()
    open_port(1)
    assert.equal(F(1002), gw:bin_call("openport", "<port_id>1</port_id>"))
    assert.matches("<status>open</status>", gw:bin_call("getportstatus", "<port_id>1</port_id>"))
    assert.equal(OK, gw:bin_call("closeport", "<port_id>1</port_id>"))
  end)

  it("opens a bin that holds no task at a port (an ad-hoc bin), with task_id 0", function()
    open_port(3)
    local reply = gw:bin_call("openbin", "<port_id>3</port_id><bin_id>500</bin_id>")
    assert.equal('<?xml version="1.0"?>\n<response>\n  <params>\n    <bin_id>500</bin_id>\n    <task_id>0</task_id>\n'
      .. '  </params>\n</response>\n', reply)
    local status = gw:bin_call("getportstatus", "<port_id>3</port_id>")
    assert.matches("<bin_id>500</bin_id>", status)
    assert.matches("<task_id>0</task_id>", status)
    assert.not_matches("<taskgroup_id>", status)
    assert.matches("<bin_mode>O</bin_mode>\n        <port_id>3</port_id>", gw:bin_call("getbinstate", "<bin_id>500</bin_id>"))
    assert.equal(OK, gw:bin_call("closebin", "<port_id>3</port_id><bin_id>500</bin_id>"))
    assert.matches("<bin_mode>C</bin_mode>", gw:bin_call("getbinstate", "<bin_id>500</bin_id>"))
    assert.not_matches("<bin_id>", gw:bin_call("getportstatus", "<port_id>3</port_id>"))
    assert.equal(OK, gw:bin_call("flushportbin", "<port_id>3</port_id><bin_id>500</bin_id>"))
    assert.matches("<bin_mode>G</bin_mode>", gw:bin_call("getbinstate", "<bin_id>500</bin_id>"))
  end)

  it("refuses ad-hoc bin conflicts: a second bin, the same bin at another port, another task id", function()
    open_port(1)
    open_port(2)
    assert.matches("<bin_id>500</bin_id>", gw:bin_call("openbin", "<port_id>1</port_id><bin_id>500</bin_id>"))
    assert.equal(F(1020), gw:bin_call("openbin", "<port_id>1</port_id><bin_id>501</bin_id>"))
    assert.equal(F(1925), gw:bin_call("openbin", "<port_id>2</port_id><bin_id>500</bin_id>"))
    assert.equal(F(1017), gw:bin_call("closebin", "<port_id>1</port_id><bin_id>500</bin_id><task_id>7</task_id>"))
    assert.equal(F(1011), gw:bin_call("closebin", "<port_id>1</port_id><bin_id>501</bin_id>"))
    assert.equal(F(1929), gw:bin_call("flushportbin", "<port_id>1</port_id><bin_id>500</bin_id>"))
    assert.equal(F(1925), gw:bin_call("flushportbin", "<port_id>2</port_id><bin_id>500</bin_id>"))
    -- closebin with the task_id 0 that openbin gave closes it too
    assert.equal(OK, gw:bin_call("closebin", "<port_id>1</port_id><bin_id>500</bin_id><task_id>0</task_id>"))
    -- the next bin opened at port 1 sends the closed one back to the grid
    assert.matches("<bin_id>501</bin_id>", gw:bin_call("openbin", "<port_id>1</port_id><bin_id>501</bin_id>"))
    assert.matches("<bin_mode>G</bin_mode>", gw:bin_call("getbinstate", "<bin_id>500</bin_id>"))
  end)

  it("opens a bin by number alone even when a task is stored in it: the WMS task is not selected, nor completed", function()
    assert.equal(OK, gw:call("create_taskgroup", gateway.taskgroup_params(1, { { 10, 42 } }))) -- category 1
    assert.equal(OK, gw:call("openport", "<port_id>1</port_id><select><category>2</category></select>"))
    assert.matches("<bin_id>42</bin_id>\n    <task_id>0</task_id>", gw:bin_call("openbin", "<port_id>1</port_id><bin_id>42</bin_id>"))
    assert.matches("<state>open</state>", gw:call("gettaskinfo", "<task_id>10</task_id>"))
    assert.equal(OK, gw:bin_call("closebin", "<port_id>1</port_id><bin_id>42</bin_id>")) -- the robot's closebin, no task_id
    assert.matches("<task_id>10</task_id>", gw:call("gettaskinfo", "<task_id>10</task_id>")) -- still there
    assert.equal(OK, gw:call("cancel_task", "<task_id>10</task_id>")) -- and not selected by any port
  end)

  it("never completes a task that closebin does not name (1040), but returns it with taskcomplete=0", function()
    assert.equal(OK, gw:call("create_taskgroup", gateway.taskgroup_params(1, { { 10, 42 } })))
    open_port(1)
    assert.matches("<task_id>10</task_id>", gw:call("openbin", "<port_id>1</port_id>"))
    assert.equal(F(1040), gw:call("closebin", "<port_id>1</port_id><bin_id>42</bin_id>"))
    assert.equal(F(1040), gw:call("removebin", "<port_id>1</port_id><bin_id>42</bin_id>"))
    assert.equal(F(1045), gw:call("cancel_task", "<task_id>10</task_id>")) -- still selected, untouched
    assert.equal(OK, gw:call("closebin", "<port_id>1</port_id><bin_id>42</bin_id><taskcomplete>0</taskcomplete>"))
    assert.equal(OK, gw:call("cancel_task", "<task_id>10</task_id>")) -- returned, not completed
  end)

  it("lists bins by bin_id or by min_bin_id..max_bin_id, tasks' bins in the grid", function()
    assert.equal(OK, gw:call("create_taskgroup", gateway.taskgroup_params(1, { { 10, 100005 }, { 11, 100020 }, { 12, 200000 } })))
    open_port(1)
    gw:bin_call("openbin", "<port_id>1</port_id><bin_id>100010</bin_id>")
    local state = gw:bin_call("getbinstate", "<min_bin_id>100000</min_bin_id><max_bin_id>110000</max_bin_id>")
    local ids = {}
    for id in state:gmatch("<bin_id>(%d+)</bin_id>") do ids[#ids + 1] = tonumber(id) end
    assert.same({ 100005, 100010, 100020 }, ids)
    assert.matches("<bin_id>100005</bin_id>\n        <bin_mode>G</bin_mode>\n        <content>0</content>", state)
    local info = gw:bin_call("getbininfo", "<bin_id>100010</bin_id>")
    assert.matches("<bin_id>100010</bin_id>\n        <content>0</content>\n        <bin_mode>O</bin_mode>\n        <port_id>1</port_id>", info)
    local loc = gw:bin_call("getbinloc", "<bin_id>200000</bin_id>")
    assert.matches("<bin_id>200000</bin_id>\n        <xpos>0</xpos>\n        <ypos>0</ypos>\n        <depth>0</depth>", loc)
    assert.matches("<bins/>", gw:bin_call("getbinstate", "<bin_id>7</bin_id>"))
    assert.matches("<bins/>", gw:bin_call("getbininfo", "<min_bin_id>300000</min_bin_id><max_bin_id>200000</max_bin_id>"))
  end)

  it("checks the bin query parameters", function()
    for _, params in ipairs({ "<bin_id>0</bin_id>", "<bin_id>4000001</bin_id>", "<min_bin_id>x</min_bin_id>",
      "<max_bin_id>-1</max_bin_id>", "<bin_id>1.5</bin_id>" }) do
      assert.equal(F(1010), gw:bin_call("getbinstate", params))
      assert.equal(F(1010), gw:bin_call("getbinloc", params))
      assert.equal(F(1010), gw:bin_call("getbininfo", params))
    end
  end)

  it("inserts a bin through a port in INSERT mode (or the default OPEN), once", function()
    assert.equal(F(1009), gw:bin_call("insertbin", "<port_id>4</port_id><bin_id>9</bin_id>"))
    open_port(4, "SWAP")
    assert.equal(F(1927), gw:bin_call("insertbin", "<port_id>4</port_id><bin_id>9</bin_id>"))
    assert.equal(OK, gw:bin_call("closeport", "<port_id>4</port_id>"))
    open_port(4, "INSERT")
    assert.equal(OK, gw:bin_call("insertbin", "<port_id>4</port_id><bin_id>9</bin_id><content>12</content>"))
    assert.equal(F(1926), gw:bin_call("insertbin", "<port_id>4</port_id><bin_id>9</bin_id>"))
    assert.matches("<bin_id>9</bin_id>\n        <content>12</content>\n        <bin_mode>G</bin_mode>", gw:bin_call("getbininfo", "<bin_id>9</bin_id>"))
    assert.equal(F(1006), gw:bin_call("insertbin", "<port_id>4</port_id><bin_id>10</bin_id><content>x</content>"))
    assert.equal(F(1911), gw:bin_call("insertbin", "<port_id>4</port_id>"))
  end)

  it("sets a bin's mode and content at its port with portbinmode", function()
    open_port(1)
    gw:bin_call("openbin", "<port_id>1</port_id><bin_id>77</bin_id>")
    assert.equal(OK, gw:bin_call("portbinmode", "<port_id>1</port_id><bin_id>77</bin_id><bin_mode>CLOSED</bin_mode><content>3</content>"))
    assert.matches("<bin_mode>C</bin_mode>\n        <port_id>1</port_id>\n        <content>3</content>", gw:bin_call("getbinstate", "<bin_id>77</bin_id>"))
    assert.equal(OK, gw:bin_call("portbinmode", "<port_id>1</port_id><bin_id>77</bin_id><bin_mode>open</bin_mode>"))
    assert.matches("<content>3</content>", gw:bin_call("getbinstate", "<bin_id>77</bin_id>")) -- content kept
    assert.equal(F(1928), gw:bin_call("portbinmode", "<port_id>1</port_id><bin_id>77</bin_id><bin_mode>OUTSIDE</bin_mode>"))
    assert.equal(F(1923), gw:bin_call("portbinmode", "<port_id>1</port_id><bin_id>77</bin_id>"))
    assert.equal(F(1924), gw:bin_call("portbinmode", "<port_id>1</port_id><bin_id>77</bin_id><bin_mode>FLYING</bin_mode>"))
    assert.equal(F(1011), gw:bin_call("portbinmode", "<port_id>2</port_id><bin_id>78</bin_id><bin_mode>OPEN</bin_mode>"))
    open_port(2)
    assert.equal(F(1925), gw:bin_call("portbinmode", "<port_id>2</port_id><bin_id>77</bin_id><bin_mode>OPEN</bin_mode>"))
  end)

  it("answers the bin methods on the task endpoint too, as the documentation and v1 clients have it", function()
    assert.matches("<bins/>", gw:call("getbinstate", "<bin_id>5</bin_id>"))
    assert.equal(F(1011), gw:call("flushportbin", "<port_id>1</port_id><bin_id>5</bin_id>"))
  end)

  it("sends every bin back to the grid when its port closes", function()
    open_port(1)
    gw:bin_call("openbin", "<port_id>1</port_id><bin_id>88</bin_id>")
    assert.equal(OK, gw:bin_call("closeport", "<port_id>1</port_id>"))
    assert.matches("<bin_mode>G</bin_mode>", gw:bin_call("getbinstate", "<bin_id>88</bin_id>"))
  end)
end)

describe("a bin listing of a whole grid", function()
  -- 703SAC/RobotInterface's getbininfo and getbinstate ask for 100000..110000 (10,001 bins) and
  -- cannot page. The store here knows 100000..130000 directly (written before the gateway starts).
  local gw, dir
  setup(function()
    dir = gateway.tmpdir()
    local db = require("helpers.runtime").native.open_store(dir .. "/taskgate.db")
    db.exec("WITH RECURSIVE n(id) AS (SELECT 100000 UNION ALL SELECT id + 1 FROM n WHERE id < 130000) "
      .. "INSERT INTO bin (bin_id, bin_mode, content) SELECT id, 'GRID', id % 7 FROM n")
    db.close()
    -- The listing's time is measured in docs/performance.md, not asserted here: a shared machine
    -- running other specs must not turn it into a time-limit fault.
    gw = gateway.start({ store = dir .. "/taskgate.db", args = "--lua-time-limit 2000" })
  end)
  teardown(function()
    gw:stop()
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("answers 703SAC's getbininfo and getbinstate of 100000..110000 with all 10,001 bins", function()
    for _, method in ipairs({ "getbininfo", "getbinstate", "getbinloc" }) do
      local reply = gw:bin_call(method, "<min_bin_id>100000</min_bin_id><max_bin_id>110000</max_bin_id>")
      local n = 0
      for _ in reply:gmatch("<bin>") do n = n + 1 end
      assert.equal(10001, n, method)
      assert.matches("<bin_id>110000</bin_id>", reply)
    end
  end)

  it("answers getbinstate without a filter with every bin, up to 100,000, in JSON too", function()
    local reply = gw:bin_call("getbinstate", "")
    local n = 0
    for _ in reply:gmatch("<bin>") do n = n + 1 end
    assert.equal(30001, n)
    local body = '{"method": "getbinstate", "params": {"min_bin_id": 100000, "max_bin_id": 100002}}'
    local _, _, json = gw:raw(string.format("POST /api/v2/bin HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", #body, body))
    assert.equal('{"params":{"bins":{"bin":[{"bin_id":100000,"bin_mode":"G","content":5},'
      .. '{"bin_id":100001,"bin_mode":"G","content":6},{"bin_id":100002,"bin_mode":"G","content":0}]}}}', json)
  end)

  it("refuses more than 100,000 bins with 1930, never an unbounded reply", function()
    local db = require("helpers.runtime").native.open_store(dir .. "/taskgate.db")
    db.exec("WITH RECURSIVE n(id) AS (SELECT 130001 UNION ALL SELECT id + 1 FROM n WHERE id < 200000) "
      .. "INSERT INTO bin (bin_id, bin_mode, content) SELECT id, 'GRID', 0 FROM n")
    db.close()
    assert.equal(F(1930), gw:bin_call("getbinstate", ""))
    assert.matches("<bin_id>199999</bin_id>", gw:bin_call("getbinstate", "<min_bin_id>100000</min_bin_id><max_bin_id>199999</max_bin_id>"))
  end)
end)
