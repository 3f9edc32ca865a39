-- Which methods only read (taskgate.interfaces.read_only): the gateway runs their calls on a read
-- connection (spec/integration/reads_spec.lua: a rule of one that writes gets 1999), and so does
-- taskgate.testing, so that a site's rule test passes only where the live gateway would answer.
local gateway = require "helpers.gateway"
local runtime = require "helpers.runtime"

-- A group written by a rule that should only read (store.create_taskgroup's arguments).
local WRITE_A_GROUP = [[
  store.create_taskgroup({ taskgroup_id = 77, category = 1, req_time = "2024-05-01T08:00:00Z",
    req_epoch = 1714550400, priority = 1 }, { { task_id = 770, bin_id = 1 } })]]

local function count(site, sql)
  return site.db.rows(sql)[1].n
end

local function groups(site)
  return count(site, "SELECT count(*) AS n FROM taskgroup")
end

describe("read-only methods", function()
  it("are the queries of both endpoints, wherever each endpoint answers them", function()
    local rt = runtime.new()
    local listed = {}
    for entry in rt.host.read_only_methods():gmatch("[^\t]+") do listed[#listed + 1] = entry end
    runtime.close(rt)
    assert.same({
      "bin:getbininfo", "bin:getbinloc", "bin:getbinstate", "bin:getportqueue", "bin:getportstatus",
      "task:getbininfo", "task:getbinloc", "task:getbinstate", "task:getportqueue", "task:getportstatus",
      "task:gettaskinfo",
    }, listed)
  end)
end)

describe("in a rule test, a read-only method", function()
  local site
  after_each(function()
    if site then runtime.close(site) end
    site = nil
  end)

  it("whose rule writes gets 1999 and changes nothing, as in the gateway", function()
    site = runtime.new(gateway.rules_dir({ getportstatus = "return function(call)\n" .. WRITE_A_GROUP
      .. "\n  return { port_id = call.params.port_id, status = \"closed\" }\nend\n" }))
    assert.same({ fault = { code = 1999 } }, site.call("getportstatus", { port_id = "1" }))
    assert.equal("error", site.last.failure)
    assert.equal(0, groups(site))
    -- its traces are kept: the journal entry and the record of the failure
    assert.equal(1, count(site, "SELECT count(*) AS n FROM journal WHERE method = 'getportstatus' AND outcome = '1999'"))
    assert.equal(1, count(site, "SELECT count(*) AS n FROM audit WHERE method = 'getportstatus' AND marked = 'failed'"))
  end)

  it("named in another case, with spaces, or on the bin endpoint is read-only too", function()
    site = runtime.new(gateway.rules_dir({ getportstatus = "return function(call)\n" .. WRITE_A_GROUP
      .. "\n  return { port_id = call.params.port_id, status = \"closed\" }\nend\n" }))
    assert.same({ fault = { code = 1999 } }, site.call("  GetPortStatus\n", { port_id = "1" }))
    assert.same({ fault = { code = 1999 } }, site.call("getportstatus", { port_id = "1" }, nil, "bin"))
    assert.equal(0, groups(site))
  end)

  it("whose rule writes an audit record gets 1999", function()
    site = runtime.new(gateway.rules_dir({ gettaskinfo =
      "return function(call)\n  audit.record(call, { looked = true })\n  return {}\nend\n" }))
    assert.same({ fault = { code = 1999 } }, site.call("gettaskinfo", {}))
    assert.equal(0, count(site, "SELECT count(*) AS n FROM audit WHERE marked IS NULL"))
  end)

  it("gets 1999 when a policy writes for it, and the writing methods still write", function()
    local rules = gateway.rules_dir()
    os.execute("mkdir -p " .. rules .. "/policies")
    gateway.write_file(rules .. "/policies/writes.lua", 'return { methods = { "gettaskinfo", "create_taskgroup" },'
      .. " run = function(call)\n  if call.params.write_first then\n" .. WRITE_A_GROUP .. "\n  end\nend }\n")
    site = runtime.new(rules)
    assert.same({ fault = { code = 1999 } }, site.call("gettaskinfo", { write_first = "1" }))
    assert.equal(0, groups(site))
    assert.same({ params = {} }, site.call("create_taskgroup", { write_first = "1", taskgroup_id = "5",
      category = "1", req_time = "2024-05-01T08:00:00Z", priority = "1",
      tasks = { task = { task_id = "50", bin_id = "1" } } }))
    assert.equal(2, groups(site)) -- the policy's group and the call's
  end)

  it("sees what the calls before it committed, and leaves its journal entry and refusal record", function()
    local rules = gateway.rules_dir()
    os.execute("mkdir -p " .. rules .. "/policies")
    gateway.write_file(rules .. "/policies/port_nine.lua", 'return { methods = { "getportstatus" }, run = function(call)\n'
      .. '  if call.params.port_id == "9" then return fault(1921, "port_nine") end\nend }\n')
    site = runtime.new(rules)
    assert.same({ params = {} }, site.call("openport", { port_id = "3" }))
    assert.equal("open", site.call("getportstatus", { port_id = "3" }).params.status)
    assert.same({ fault = { code = 1921 } }, site.call("getportstatus", { port_id = "9" }))
    assert.equal("port_nine", site.last.reason)
    assert.equal(2, count(site, "SELECT count(*) AS n FROM journal WHERE method = 'getportstatus'"))
    assert.equal(1, count(site, "SELECT count(*) AS n FROM audit WHERE marked = 'refused' AND reason = 'port_nine'"))
  end)

  it("forwarded with audit fields passes the upstream's reply and has its record written", function()
    local testing = require "taskgate.testing"
    site = testing.open(gateway.rules_dir({ gettaskinfo =
      "return function(call)\n  return upstream.forward(call, { task_id = call.params.task_id })\nend\n" }),
      { upstream = "http://127.0.0.1:9/api/v2/task" })
    local body = '<?xml version="1.0"?>\n<response><params><task_id>5</task_id></params></response>\n'
    site.outbound = function() return { status = 200, body = body } end
    assert.same({ raw = body }, site.call("gettaskinfo", { task_id = "5" }))
    site.outbound = function() return { error = "reply timeout", sent = true } end
    assert.same({ fault = { code = 1922 } }, site.call("gettaskinfo", { task_id = "6" }))
    local records = site.audit.recent(2)
    assert.matches("^upstream outcome unknown: ", records[1].outcome)
    assert.equal("upstream ok", records[2].outcome)
    assert.equal('{"forwarded":{"task_id":"5"},"upstream":"upstream ok"}', records[2].params)
  end)
end)
