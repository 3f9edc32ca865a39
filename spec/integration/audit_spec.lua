-- The audit trail answers questions: who created and who cancelled task N, from where, by which
-- request (the log line's request id); filtered by task, method, client, time and outcome, as
-- JSON lines or CSV. And every HTTP-level refusal leaves a log line.
local gateway = require "helpers.gateway"

local F = gateway.fault

local function audit(gw, args)
  return gateway.run(string.format("%s audit --store %s %s", gateway.binary, gw.store, args or ""))
end

local function lines(text)
  local out = {}
  for line in text:gmatch("[^\n]+") do out[#out + 1] = line end
  return out
end

describe("taskgate audit", function()
  local gw
  setup(function()
    gw = gateway.start()
    assert.equal(gateway.OK, gw:call("create_taskgroup", gateway.taskgroup_params(1, { { 123004, 1 }, { 123005, 2 } })))
    assert.equal(gateway.OK, gw:call("create_taskgroup", gateway.taskgroup_params(2, { { 200, 3 } })))
    assert.equal(gateway.OK, gw:call("cancel_task", "<task_id>123004</task_id>"))
    assert.equal(F(1017), gw:call("cancel_task", "<task_id>123004</task_id>")) -- a fault changes nothing
  end)
  teardown(function() gw:stop() end)

  it("finds who created and who cancelled a task, with the request id of the log line", function()
    local out, code = audit(gw, "--task 123004")
    assert.equal(0, code, out)
    local records = lines(out)
    assert.equal(2, #records)
    assert.matches('"method":"create_taskgroup".*"task_ids":%[123004,123005%]', records[1])
    assert.matches('"client":"127%.0%.0%.1"', records[2])
    assert.matches('"method":"cancel_task"', records[2])
    assert.matches('"marked":null', records[2], 1, true)
    local request_id = records[2]:match('"request_id":"([^"]+)"')
    assert.truthy(gw:log():find("event=call request_id=" .. request_id .. " ", 1, true))
    -- the second cancel changed nothing and was refused by no policy: the journal has it, the
    -- trail does not
  end)

  it("names the client's port and the version of the rules that decided", function()
    local conn = gw:connect()
    local _, port = conn:getsockname()
    assert(conn:send(gateway.post_request(gateway.methodcall("cancel_task", "<task_id>200</task_id>"))))
    assert.equal(200, (gateway.read_response(conn)))
    conn:close()
    local record = lines((audit(gw, "--task 200")))[2]
    assert.matches('"client_port":' .. port .. ',', record, 1, true)
    local checked = gateway.run(string.format("%s check %s", gateway.binary, gw.rules))
    local version = checked:match("rules version (%x+);")
    assert.equal(12, #version)
    assert.matches('"rules":"' .. version .. '"', record, 1, true)
  end)

  it("filters by method (any case), client, outcome and time", function()
    assert.equal(2, #lines((audit(gw, "--method CREATE_TASKGROUP"))))
    assert.equal(4, #lines((audit(gw, "--client 127.0.0.1"))))
    assert.equal(0, #lines((audit(gw, "--client 10.0.0.1"))))
    assert.equal(4, #lines((audit(gw, "--outcome ok"))))
    assert.equal(0, #lines((audit(gw, "--outcome 1017"))))
    assert.equal(4, #lines((audit(gw, "--since 1h"))))
    assert.equal(0, #lines((audit(gw, "--since 2099-01-01"))))
    assert.equal(0, #lines((audit(gw, "--until 2020-01-01T00:00:00Z"))))
    assert.equal(2, #lines((audit(gw, "--method cancel_task --since 1d --until 2099-12-31"))))
    assert.equal(0, #lines((audit(gw, "--task 999"))))
  end)

  it("writes CSV with a header line", function()
    local out, code = audit(gw, "--format csv --method cancel_task --outcome ok --task 123004")
    assert.equal(0, code, out)
    local rows = {}
    for row in out:gmatch("[^\r\n]+") do rows[#rows + 1] = row end
    assert.equal("id,time,request_id,client,client_port,method,outcome,reason,marked,rules,params", rows[1])
    assert.matches('^%d+,"%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ","[^"]+","127%.0%.0%.1","%d+","cancel_task","ok","","","%x+","{""task_id"":123004,',
      rows[2])
    assert.equal(2, #rows)
  end)

  for _, case in ipairs({ { "--since yesterday", "since" }, { "--until 2024-02-30", "until" },
    { "--since 2024-13-01", "since" }, { "--since 2024-05-01T25:00:00Z", "since" }, { "--task x", "task" },
    { "--task 0", "task" }, { "--outcome maybe", "outcome" }, { "--format xml", "format" } }) do
    it("refuses " .. case[1] .. " with exit 2", function()
      local out, code = audit(gw, case[1])
      assert.equal(2, code)
      assert.matches("invalid value .* for %-%-" .. case[2], out)
    end)
  end

  it("takes its filters only after audit", function()
    local out, code = gateway.run(gateway.binary .. " status --task 5")
    assert.equal(2, code)
    assert.matches("unknown option '%-%-task'", out)
  end)
end)

describe("HTTP-level refusals", function()
  it("each leave a log line with status, client, method and path", function()
    local gw = gateway.start()
    gw:raw("GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n")
    gw:raw("PUT /api/v2/task HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    gw:raw("POST /api/v2/task HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: 1\r\n\r\nx")
    gw:raw("POST /api/v2/task HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n")
    gw:raw("GET /x HTTP/1.1\r\nHost: x\r\nBad\rHeader: y\r\n\r\n")
    gateway.get(gw.admin_port, "/nothing-here")
    gw:stop()
    local log = gw:log()
    for _, expected in ipairs({ "status=404 client=127%.0%.0%.1 method=GET path=/nowhere",
      "status=405 client=127%.0%.0%.1 method=PUT path=/api/v2/task", "status=415 client=127%.0%.0%.1 method=POST",
      "status=413 client=127%.0%.0%.1 method=POST path=/api/v2/task", "status=400 client=127%.0%.0%.1",
      "status=404 client=127%.0%.0%.1 method=GET path=/nothing%-here" }) do
      assert.matches("event=http_error " .. expected, log)
    end
  end)
end)
