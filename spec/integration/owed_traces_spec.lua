-- Read-only calls run on their worker's read connection, which takes no writes; the journal
-- entry and marked audit record each call leaves are owed to the worker and written in its next
-- store turn (src/owed.c, taskgate.owed): a writing call's, one the worker takes for them alone
-- when no call comes, or the last before it stops. None is lost.
local gateway = require "helpers.gateway"
local postgres = require "helpers.postgres"
local runtime = require "helpers.runtime"
local socket = require "socket"

-- Under the sanitizers on a loaded machine, loading the rules can take longer than 20 call limits.
local LIMIT = os.getenv("TASKGATE_SANITIZED") and " --lua-time-limit 1000" or ""

-- port 9's status is refused by the site: a fault with a reason, so a marked audit record too
local REFUSE_PORT_NINE = 'return { methods = { "getportstatus" }, run = function(call)\n'
  .. '  if call.params.port_id == "9" then return fault(1921, "port_nine") end\nend }\n'

local function rules_refusing_port_nine()
  local rules = gateway.rules_dir()
  os.execute("mkdir -p " .. rules .. "/policies")
  gateway.write_file(rules .. "/policies/port_nine.lua", REFUSE_PORT_NINE)
  return rules
end

local function count(store, sql)
  local db = runtime.native.open_store(store)
  local rows = db.rows(sql)
  db.close()
  return rows[1].n
end

local function request(name, params_xml)
  return gateway.post_request(gateway.methodcall(name, params_xml))
end

-- Sends each connection's next request, then reads every reply: calls of one round run at once,
-- spread over the workers by the kernel.
local function rounds(conns, n, request_for)
  for round = 1, n do
    for i, conn in ipairs(conns) do assert(conn:send(request_for(round, i))) end
    for _, conn in ipairs(conns) do
      local status = gateway.read_response(conn)
      assert.equal(200, status)
    end
  end
end

describe("the traces of read-only calls", function()
  it("are all written under a mixed load across two workers: a journal entry per call, an audit record per refusal", function()
    local gw = gateway.start({ rules = rules_refusing_port_nine(), args = "--workers 2" .. LIMIT })
    finally(function() gw:stop() end)
    local conns = {}
    for i = 1, 8 do conns[i] = gw:connect() end
    -- per round: 2 creates, 2 task lists, 2 port queries, 2 refused port queries
    rounds(conns, 30, function(round, i)
      local kind = i % 4
      if kind == 0 then
        local id = round * 10 + i
        return request("create_taskgroup", gateway.taskgroup_params(id, { { id * 10, 7 } }))
      elseif kind == 1 then
        return request("gettaskinfo", "<taskgroup_id>" .. round * 10 + i - 1 .. "</taskgroup_id>")
      end
      return request("getportstatus", "<port_id>" .. (kind == 2 and "1" or "9") .. "</port_id>")
    end)
    for _, conn in ipairs(conns) do conn:close() end
    assert.is_true(gw:stop())
    assert.equal(240, count(gw.store, "SELECT count(*) AS n FROM journal"))
    assert.equal(60, count(gw.store, "SELECT count(*) AS n FROM journal WHERE method = 'gettaskinfo'"))
    assert.equal(60, count(gw.store,
      "SELECT count(*) AS n FROM journal WHERE method = 'getportstatus' AND outcome = '1921' AND reason = 'port_nine'"))
    assert.equal(60, count(gw.store,
      "SELECT count(*) AS n FROM audit WHERE method = 'getportstatus' AND marked = 'refused' AND reason = 'port_nine'"))
    assert.equal(60, count(gw.store, "SELECT count(*) AS n FROM audit WHERE method = 'create_taskgroup'"))
    assert.not_matches("not written", gw:log())
  end)

  it("are written soon when no writing call comes, the gateway still running", function()
    local gw = gateway.start({ rules = rules_refusing_port_nine(), args = "--workers 2" .. LIMIT })
    finally(function() gw:stop() end)
    local conns = {}
    for i = 1, 4 do conns[i] = gw:connect() end
    rounds(conns, 10, function(_, i) return request("getportstatus", "<port_id>" .. (i == 1 and "9" or "2") .. "</port_id>") end)
    local journaled, audited
    for _ = 1, 60 do -- a store turn for the traces alone comes within 50 ms; a loaded machine may take longer
      journaled = count(gw.store, "SELECT count(*) AS n FROM journal")
      audited = count(gw.store, "SELECT count(*) AS n FROM audit WHERE marked = 'refused'")
      if journaled == 40 and audited == 10 then break end
      socket.sleep(0.05)
    end
    assert.equal(40, journaled)
    assert.equal(10, audited)
    for _, conn in ipairs(conns) do conn:close() end
  end)

  it("are written before the gateway stops on SIGTERM, right after the reads answered", function()
    local gw = gateway.start({ rules = rules_refusing_port_nine(), args = "--workers 2" .. LIMIT })
    local conns = {}
    for i = 1, 4 do conns[i] = gw:connect() end
    rounds(conns, 25, function(round) return request("gettaskinfo", "<taskgroup_id>" .. round .. "</taskgroup_id>") end)
    assert.is_true(gw:stop("TERM"))
    for _, conn in ipairs(conns) do conn:close() end
    assert.equal(100, count(gw.store, "SELECT count(*) AS n FROM journal WHERE method = 'gettaskinfo'"))
  end)

  it("are all written after a burst of more reads than a worker may owe at once", function()
    -- 600 pipelined reads, quicker than the store turn for their rows: past the bound of 512
    -- rows owed, the reads write their own in the store's turn
    local gw = gateway.start({ args = LIMIT })
    finally(function() gw:stop() end)
    local conn = gw:connect()
    local burst = {}
    for i = 1, 600 do burst[i] = request("getportstatus", "<port_id>" .. i .. "</port_id>") end
    assert(conn:send(table.concat(burst)))
    for _ = 1, 600 do assert.equal(200, (gateway.read_response(conn))) end
    conn:close()
    assert.is_true(gw:stop())
    assert.equal(600, count(gw.store, "SELECT count(*) AS n FROM journal"))
  end)

  it("on a PostgreSQL store are written by the calls themselves, in the store's turn (no reader there)", function()
    local why = postgres.unavailable()
    if why then return pending(why) end
    local name, uri = postgres.database()
    local gw = gateway.start({ store = uri, rules = rules_refusing_port_nine(), args = "--workers 2" .. LIMIT })
    finally(function() gw:stop() end)
    local conns = {}
    for i = 1, 4 do conns[i] = gw:connect() end
    rounds(conns, 10, function(round, i)
      if i == 1 then return request("create_taskgroup", gateway.taskgroup_params(round, { { round * 10, 7 } })) end
      return request("getportstatus", "<port_id>" .. (i == 2 and "9" or "2") .. "</port_id>")
    end)
    for _, conn in ipairs(conns) do conn:close() end
    assert.is_true(gw:stop())
    local function pg_count(sql) return tonumber((postgres.psql(sql, name))) end
    assert.equal(40, pg_count("SELECT count(*) FROM journal"))
    assert.equal(10, pg_count("SELECT count(*) FROM audit WHERE marked = 'refused' AND reason = 'port_nine'"))
    assert.not_matches("not written", gw:log())
  end)
end)

-- A read-only call may be forwarded (bridge mode): what the audit trail records of it — what was
-- forwarded, and an outcome the gateway could not know — is owed like its other traces, never
-- lost to the read connection's refusal to write.
describe("the audit records of a forwarded read-only call", function()
  local function audit_rows(gw, where)
    local db = runtime.native.open_store(gw.store)
    local rows = db.rows("SELECT method, outcome, params FROM audit WHERE " .. where .. " ORDER BY audit_id")
    db.close()
    return rows
  end

  -- gettaskinfo (read-only) replaced by a site rule that forwards it with audit fields, then `after`
  local function forwarding_rules(after)
    return gateway.rules_dir({ gettaskinfo = "return function(call)\n"
      .. "  local reply = upstream.forward(call, { task_id = call.params.task_id })\n"
      .. after .. "\n  return reply\nend\n" })
  end

  local function query(gw, id)
    return gw:call("gettaskinfo", "<task_id>" .. id .. "</task_id>")
  end

  it("records what was forwarded and what came back, and passes the reply", function()
    local fake = gateway.fake_upstream("ok")
    finally(function() fake:stop() end)
    local gw = gateway.start({ rules = forwarding_rules(""), args = "--upstream " .. fake.url .. LIMIT })
    finally(function() gw:stop() end)
    assert.equal(gateway.upstream_echo(41), query(gw, 41))
    assert.is_true(gw:stop())
    local rows = audit_rows(gw, "method = 'gettaskinfo'")
    assert.equal(1, #rows)
    assert.equal("upstream ok", rows[1].outcome)
    assert.matches('"task_id":"41"', rows[1].params, 1, true)
    assert.not_matches("cannot write", gw:log(), 1, true)
  end)

  it("records an outcome unknown when the upstream read the call and closed without a reply", function()
    local fake = gateway.fake_upstream("close_after_read")
    finally(function() fake:stop() end)
    local gw = gateway.start({ rules = forwarding_rules(""), args = "--upstream " .. fake.url .. LIMIT })
    finally(function() gw:stop() end)
    assert.equal(gateway.fault(1922), query(gw, 42))
    assert.is_true(gw:stop())
    local rows = audit_rows(gw, "method = 'gettaskinfo'")
    assert.equal(1, #rows)
    assert.matches("^upstream outcome unknown: ", rows[1].outcome)
    assert.not_matches("cannot write", gw:log(), 1, true)
  end)

  it("records an outcome unknown when the rule fails after the upstream had the call", function()
    local fake = gateway.fake_upstream("ok")
    finally(function() fake:stop() end)
    local gw = gateway.start({ rules = forwarding_rules('error("the rule breaks after forwarding")'),
      args = "--upstream " .. fake.url .. LIMIT })
    finally(function() gw:stop() end)
    assert.equal(gateway.fault(1922), query(gw, 43))
    assert.is_true(gw:stop())
    local unknown = audit_rows(gw, "outcome LIKE 'upstream outcome unknown: the gateway failed%'")
    assert.equal(1, #unknown)
    assert.equal("gettaskinfo", unknown[1].method)
    assert.matches("the rule breaks after forwarding", unknown[1].outcome, 1, true)
    assert.matches('"task_id":"43"', unknown[1].params, 1, true)
    assert.not_matches("cannot write", gw:log(), 1, true)
  end)

  it("records an outcome unknown when the time limit strikes after the upstream had the call", function()
    local fake = gateway.fake_upstream("ok")
    finally(function() fake:stop() end)
    local gw = gateway.start({ rules = forwarding_rules('if call.params.task_id == "44" then while true do end end'), args = "--upstream " .. fake.url .. LIMIT })
    finally(function() gw:stop() end)
    assert.equal(gateway.fault(1922), query(gw, 44))
    assert.equal(gateway.upstream_echo(45), query(gw, 45)) -- still serving
    assert.is_true(gw:stop())
    local unknown = audit_rows(gw, "outcome LIKE 'upstream outcome unknown: the gateway failed%'")
    assert.equal(1, #unknown)
    assert.equal("gettaskinfo", unknown[1].method)
    assert.not_matches("cannot write", gw:log(), 1, true)
  end)

  it("of the shipped rules records an outcome unknown of a query the upstream read and never answered", function()
    local fake = gateway.fake_upstream("close_after_read")
    finally(function() fake:stop() end)
    local gw = gateway.start({ args = "--upstream " .. fake.url .. LIMIT })
    finally(function() gw:stop() end)
    assert.equal(gateway.fault(1922), query(gw, 46))
    assert.equal(gateway.fault(1922), gw:call("getportstatus", "<port_id>47</port_id>"))
    assert.is_true(gw:stop())
    assert.equal(1, #audit_rows(gw, "method = 'gettaskinfo' AND outcome LIKE 'upstream outcome unknown%'"))
    assert.equal(1, #audit_rows(gw, "method = 'getportstatus' AND outcome LIKE 'upstream outcome unknown%'"))
  end)
end)
