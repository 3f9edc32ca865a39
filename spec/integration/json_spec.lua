-- The JSON form: {"method": ..., "params": {...}} through the same rules and store, answered in
-- JSON, with the XML form's limits and care for hostile input.
local gateway = require "helpers.gateway"
local socket = require "socket"

local OK = '{"params":{}}'
local function F(code) return '{"fault":{"code":' .. code .. '}}' end

-- A POST of a JSON body; returns status, headers, body.
local function post_json(gw, body, path, content_type)
  return gw:raw(string.format("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s",
    path or "/api/v2/task", content_type or "application/json", #body, body))
end

local function call(gw, body, path, content_type)
  local status, _, reply = post_json(gw, body, path, content_type)
  assert.equal(200, status)
  return reply
end

describe("the JSON form", function()
  local gw
  setup(function()
    gw = gateway.start({ rules = gateway.rules_dir({
      echo = "return function(call) return { params = call.params, form = call.form } end",
    }) })
  end)
  teardown(function() gw:stop() end)

  local GROUP = '{"method": "create_taskgroup", "params": {"taskgroup_id": 7, "category": 1, "req_time": '
    .. '"2024-05-01T08:00:00Z", "priority": 1, "suspended": false, "tasks": {"task": [{"task_id": 70, "bin_id": 700}, '
    .. '{"task_id": 71, "bin_id": 701, "item": "caf\\u00e9 \\"A\\""}]}}}'

  it("goes through the same rules and store as XML, and is answered in JSON", function()
    local status, headers, body = post_json(gw, GROUP)
    assert.equal(200, status)
    assert.equal("application/json; charset=utf-8", headers["content-type"])
    assert.equal(OK, body)
    assert.equal(gateway.OK, gw:call("cancel_task", "<task_id>70</task_id>")) -- created by JSON, seen by XML
    assert.equal(F(1017), call(gw, '{"method": "cancel_task", "params": {"task_id": 70}}'))
    assert.equal(F(1017), call(gw, '{"method":"cancel_task","params":{"task_id":"70"}}')) -- a string is text too
  end)

  it("takes openport's categories as a plain array (\"select\": [1, 2]), as documented, and one alone", function()
    local function group(id, category)
      return string.format('{"method": "create_taskgroup", "params": {"taskgroup_id": %d, "category": %d, "req_time": '
        .. '"2024-05-01T08:00:00Z", "priority": 1, "tasks": {"task": [{"task_id": %d, "bin_id": %d}]}}}', id, category, id * 10, id * 10)
    end
    assert.equal(OK, call(gw, group(601, 61)))
    assert.equal(OK, call(gw, group(602, 62)))
    assert.equal(OK, call(gw, '{"method": "openport", "params": {"port_id": 1999, "select": [62, 63]}}'))
    assert.equal('{"params":{"bin_id":6020,"task_id":6020}}', call(gw, '{"method": "openbin", "params": {"port_id": 1999}}'))
    assert.equal(OK, call(gw, '{"method": "openport", "params": {"port_id": 1998, "select": [61]}}'))
    assert.equal('{"params":{"bin_id":6010,"task_id":6010}}', call(gw, '{"method": "openbin", "params": {"port_id": 1998}}'))
    assert.equal(OK, call(gw, '{"method": "openport", "params": {"port_id": 1997, "select": {"category": [1, 2]}}}'))
    assert.equal(OK, call(gw, '{"method": "openport", "params": {"port_id": 1996, "select": {"content": [0]}}}'))
    assert.equal(OK, call(gw, '{"method": "openport", "params": {"port_id": 1995, "select": []}}'))
    for _, bad in ipairs({ '[0]', '["x"]', '[1, "x"]', '[1.5]', '"abc"' }) do
      assert.equal(F(1007), call(gw, '{"method": "openport", "params": {"port_id": 1994, "select": ' .. bad .. '}}'), bad)
    end
  end)

  it("answers reply parameters as JSON objects and arrays, in the XML reply's order", function()
    assert.equal('{"params":{"port_id":9,"status":"closed"}}', call(gw, '{"method": "getportstatus", "params": {"port_id": 9}}'))
    local info = call(gw, '{"method": "gettaskinfo", "params": {"task_id": 71}}')
    assert.matches('"item":"caf\195\169 \\"A\\""', info)
    assert.matches('"tasks":{"task":%[{', info)
  end)

  it("is recognised by its first byte whatever the Content-Type, and its reply type follows", function()
    for _, content_type in ipairs({ "text/plain; charset=utf-8", "application/xml", "application/x-www-form-urlencoded" }) do
      local status, headers, body = post_json(gw, ' \r\n{"method": "cancel_task", "params": {"task_id": 5}}', nil, content_type)
      assert.equal(200, status)
      assert.equal("application/json; charset=utf-8", headers["content-type"])
      assert.equal(F(1017), body)
    end
    assert.equal(F(1017), call(gw, '\239\187\191{"method": "cancel_task", "params": {"task_id": 5}}')) -- a BOM
  end)

  it("answers XML sent as application/json in XML", function()
    local _, headers, body = post_json(gw, gateway.methodcall("cancel_task", "<task_id>5</task_id>"))
    assert.equal("application/xml; charset=utf-8", headers["content-type"])
    assert.equal(gateway.fault(1017), body)
  end)

  it("works on the bin endpoint and the v1 paths", function()
    assert.equal('{"params":{"bins":{"bin":[]}}}', call(gw, '{"method": "getbinstate", "params": {"bin_id": 3}}', "/api/v2/bin"))
    assert.equal(F(1017), call(gw, '{"method": "cancel_task", "params": {"task_id": 5}}', "/AsInterfaceHttp/AutoStoreHttpInterface.aspx"))
  end)

  it("gives the rules the same call table as XML: text values, arrays as repeated elements, form = json", function()
    local reply = call(gw, '{"method": "echo", "params": {"a": 1, "b": [true, false], "c": {"d": -2.5e3}, "e": null, "f": {}}}')
    assert.equal('{"params":{"form":"json","params":{"a":"1","b":["true","false"],"c":{"d":"-2.5e3"},"f":""}}}', reply)
  end)

  it("keeps an array of one element a list: one task, one category, one bin, as the documentation shows", function()
    local one = '{"method": "create_taskgroup", "params": {"taskgroup_id": 8, "category": 1, "req_time": '
      .. '"2024-05-01T08:00:00Z", "priority": 1, "tasks": [{"task_id": 80, "bin_id": 800}]}}'
    assert.equal(OK, call(gw, one))
    assert.equal(F(1017), call(gw, '{"method": "cancel_task", "params": {"task_id": 79}}'))
    assert.equal(OK, call(gw, '{"method": "add_task", "params": {"taskgroup_id": 8, "tasks": {"task": [{"task_id": 81, "bin_id": 801}]}}}'))
    assert.equal(OK, call(gw, '{"method": "openport", "params": {"port_id": 11, "select": [1]}}'))
    assert.equal(OK, call(gw, '{"method": "openport", "params": {"port_id": 12, "select": [1, 2]}}'))
    assert.equal(OK, call(gw, '{"method": "openport", "params": {"port_id": 13, "select": {"content": [7]}}}'))
    assert.equal(F(1917), call(gw, '{"method": "openport", "params": {"port_id": 14, "select": {"content": [7], "category": [1]}}}'))
    assert.equal('{"params":{"form":"json","params":{"a":["1"],"b":[{"c":"2"}]}}}',
      call(gw, '{"method": "echo", "params": {"a": [1], "b": [{"c": 2}]}}'))
    -- a single value given as an array of one is that value; of two, repeated and invalid
    assert.matches('"port_id":11,"status":"open"', call(gw, '{"method": "getportstatus", "params": {"port_id": [11]}}'))
    assert.equal(F(1004), call(gw, '{"method": "getportstatus", "params": {"port_id": [11, 12]}}'))
  end)

  it("leaves a null parameter out, as if it were missing", function()
    assert.equal(F(1040), call(gw, '{"method": "cancel_task", "params": {"task_id": null}}'))
    assert.equal(F(1040), call(gw, '{"method": "cancel_task", "params": null}'))
    assert.equal(F(1040), call(gw, '{"method": "cancel_task"}'))
  end)

  local numbers = { ["1.0"] = 1012, ["-1"] = 1012, ["1e3"] = 1012, ["2147483648"] = 1012, ["1e999"] = 1012,
    ["0"] = 1012, ["99999999999999999999999999999"] = 1012, ['"5x"'] = 1012, ["true"] = 1012 }
  for number, code in pairs(numbers) do
    it("checks a task_id of " .. number .. " like the same text in XML (" .. code .. ")", function()
      assert.equal(F(code), call(gw, '{"method": "cancel_task", "params": {"task_id": ' .. number .. '}}'))
    end)
  end

  local malformed = {
    ["a duplicate key in params"] = '{"method": "cancel_task", "params": {"task_id": 1, "task_id": 2}}',
    ["a duplicate key in the envelope"] = '{"method": "cancel_task", "method": "drop", "params": {}}',
    ["a duplicate key deep inside"] = '{"method": "x", "params": {"a": {"b": {"c": 1, "c": 1}}}}',
    ["a duplicate key spelt with an escape"] = '{"method": "x", "params": {"ab": 1, "a\\u0062": 2}}',
    ["nesting 40 deep"] = '{"method": "x", "params": ' .. string.rep('{"a": ', 40) .. "1" .. string.rep("}", 40) .. "}",
    ["arrays 40 deep"] = '{"method": "x", "params": {"a": ' .. string.rep("[", 40) .. string.rep("]", 40) .. "}}",
    ["an array in an array"] = '{"method": "x", "params": {"a": [[1]]}}',
    ["invalid UTF-8"] = '{"method": "cancel_task", "params": {"task_id": "\255"}}',
    ["an overlong UTF-8 form"] = '{"method": "x\192\175", "params": {}}',
    ["a lone surrogate"] = '{"method": "cancel_task", "params": {"task_id": "\\ud800"}}',
    ["a NUL escape"] = '{"method": "cancel_task", "params": {"task_id": "1\\u0000"}}',
    ["a raw control character"] = '{"method": "cancel\ttask", "params": {}}',
    ["a number with a leading zero"] = '{"method": "cancel_task", "params": {"task_id": 007}}',
    ["a number with a plus sign"] = '{"method": "cancel_task", "params": {"task_id": +7}}',
    ["NaN"] = '{"method": "cancel_task", "params": {"task_id": NaN}}',
    ["a trailing comma"] = '{"method": "cancel_task", "params": {"task_id": 1,}}',
    ["single quotes"] = "{'method': 'cancel_task'}",
    ["a top-level array"] = '[{"method": "cancel_task"}]',
    ["trailing bytes"] = '{"method": "cancel_task", "params": {}} {}',
    ["an unterminated string"] = '{"method": "cancel_task',
    ["a method that is not a string"] = '{"method": 7, "params": {}}',
    ["a method that is an object"] = '{"method": {"a": 1}, "params": {}}',
    ["params that are a string"] = '{"method": "cancel_task", "params": "task_id=1"}',
    ["a bad escape"] = '{"method": "cancel\\qtask", "params": {}}',
    ["a body that is not JSON, sent as application/json"] = "task_id=1",
    ["an empty body sent as application/json"] = "",
  }
  for what, body in pairs(malformed) do
    it("answers the malformed fault in JSON to " .. what, function()
      assert.equal(F(1900), call(gw, body))
    end)
  end

  it("answers 1900 to more than 100,000 elements, and keeps serving", function()
    local body = '{"method": "cancel_task", "params": {"a": [' .. string.rep("1,", 100000) .. "1]}}"
    local start = socket.gettime()
    assert.equal(F(1900), call(gw, body))
    assert.is_true(socket.gettime() - start < 5)
    assert.equal(F(1017), call(gw, '{"method": "cancel_task", "params": {"task_id": 5}}'))
  end)

  it("finds a duplicate among 50,000 keys without slowing down", function()
    local parts = {}
    for i = 1, 50000 do parts[i] = '"k' .. i .. '": 1' end
    parts[#parts + 1] = '"k1": 2'
    assert.equal(F(1900), call(gw, '{"method": "x", "params": {' .. table.concat(parts, ",") .. "}}"))
  end)

  it("answers 413 to a JSON body over 1 MiB, like XML", function()
    local body = '{"method": "cancel_task", "params": {"pad": "' .. string.rep("x", 1100000) .. '"}}'
    assert.equal(413, (post_json(gw, body)))
    assert.equal(F(1017), call(gw, '{"method": "cancel_task", "params": {"task_id": 5}}'))
  end)

  it("answers a rule that fails in JSON too", function()
    local g = gateway.start({ rules = gateway.rules_dir({ boom = "return function(call) error('boom') end" }) })
    assert.equal(F(1999), call(g, '{"method": "boom"}'))
    g:stop()
  end)

  it("ignores envelope members other than method and params", function()
    assert.equal(F(1017), call(gw, '{"id": 3, "jsonrpc": "2.0", "method": "cancel_task", "params": {"task_id": 5}}'))
  end)
end)
