local runtime = require "helpers.runtime"

describe("taskgate runtime modules", function()
  local rt
  setup(function() rt = runtime.new() end)
  teardown(function() runtime.close(rt) end)

  it("writes a record's fields in its order, fields it does not name after them in sorted order, each once", function()
    local xml, reply = runtime.native.xml, require "taskgate.reply"
    local record = reply.record({ "b", "a", "b", "missing" }, { a = 1, b = 2, d = 4, c = 3 })
    assert.equal('<?xml version="1.0"?>\n<response>\n  <params>\n    <b>2</b>\n    <a>1</a>\n    <c>3</c>\n'
      .. '    <d>4</d>\n  </params>\n</response>\n', xml.encode({ params = record }))
    assert.equal('<?xml version="1.0"?>\n<response>\n  <params>\n    <a>1</a>\n  </params>\n</response>\n',
      xml.encode({ params = reply.record({ "a" }, { a = 1 }) }))
  end)

  it("formats and parses UTC timestamps symmetrically", function()
    local clock = require "taskgate.clock"
    for _, text in ipairs({ "1971-01-01T00:00:00Z", "2000-02-29T23:59:59Z", "2038-01-18T03:14:07Z" }) do
      assert.equal(text, clock.format(clock.parse(text)))
    end
  end)

  it("encodes JSON with sorted keys and escapes", function()
    local json = require "taskgate.json"
    assert.equal('{"a":1,"b":"x\\"y\\n","c":[true,false]}', json.encode({ b = 'x"y\n', a = 1, c = { true, false } }))
  end)

  it("encodes JSON for every Lua value, null for what JSON cannot hold", function()
    local json = require "taskgate.json"
    assert.equal('"\\u0001\\u007f\\t\\\\ é"', json.encode("\1\127\t\\ é"))
    assert.equal('{"1.5":"f","true":1,"x":null}', json.encode({ [1.5] = "f", x = 0 / 0, [true] = 1 }))
    assert.equal("[1,2]", json.encode({ 1, 2, nil, 4 }))
    assert.equal("[null,-7,0.5,null]", json.encode({ print, -7, 0.5, math.huge }))
    assert.equal("[[{}]]", json.encode({ { {} } }))
    local deep, at = {}, nil
    at = deep
    for _ = 1, 40 do at.x = {}; at = at.x end
    assert.equal(string.rep('{"x":', 33) .. "null" .. string.rep("}", 33), json.encode(deep))
    local wide = {}
    for i = 1, 40 do wide["k" .. i] = i end -- more keys than the small-object fast path holds
    local text = json.encode(wide)
    assert.equal(1, select(2, text:gsub('"k1":1,', "")))
    assert.truthy(text:find('^{"k1":1,"k10":10,"k11":11,'))
  end)

  it("gives nil for a text over a byte limit, and the text itself up to it", function()
    local json = require "taskgate.json"
    local tasks = {}
    for i = 1, 100000 do tasks[i] = { task_id = i, bin_id = i % 9 + 1 } end
    assert.is_nil(json.encode({ tasks = { task = tasks } }, 65536))
    assert.equal('{"a":[1,2]}', json.encode({ a = { 1, 2 } }, 11))
    assert.is_nil(json.encode({ a = { 1, 2 } }, 10))
    assert.is_nil(json.encode(string.rep("x", 100), 50))
    assert.equal('{"a":[1,2]}', json.encode({ a = { 1, 2 } }, 0)) -- 0: no limit
    assert.has_error(function() json.encode({}, -1) end)
  end)

  it("encodes texts of every length alike, short (written on the C stack) or long (boxed)", function()
    local json = require "taskgate.json"
    for n = 480, 540 do
      local s = string.rep("x", n - 1) .. '"'
      assert.equal('"' .. string.rep("x", n - 1) .. '\\""', json.encode(s))
      local list, expected = {}, {}
      for i = 1, n // 4 do list[i], expected[i] = i * 7 - 300, tostring(i * 7 - 300) end
      assert.equal("[" .. table.concat(expected, ",") .. "]", json.encode(list))
      assert.equal('{"a":' .. json.encode(list) .. ',"b":"' .. string.rep("y", n) .. '"}',
        json.encode({ b = string.rep("y", n), a = list }))
      assert.is_nil(json.encode({ a = list, b = string.rep("y", n) }, n))
    end
  end)

  it("encodes every integer exactly, and sorts a few keys as it sorts many", function()
    local json = require "taskgate.json"
    assert.equal("[0,7,-7,9223372036854775807,-9223372036854775808]",
      json.encode({ 0, 7, -7, math.maxinteger, math.mininteger }))
    assert.equal('{"a":1,"b":2,"c":3,"d":4}', json.encode({ d = 4, b = 2, c = 3, a = 1 }))
  end)

  it("encodes JSON inside JSON (a key whose __tostring encodes) without mixing the two", function()
    local json = require "taskgate.json"
    local key = setmetatable({}, { __tostring = function() return json.encode({ inner = { 1, 2 } }) end })
    assert.equal('{"z":1,"{\\"inner\\":[1,2]}":"v"}', json.encode({ [key] = "v", z = 1 }))
    assert.equal('{"again":true}', json.encode({ again = true }))
  end)

  it("refuses a fault code that is not in the fault table", function()
    local fault = require "taskgate.fault"
    assert.has_error(function() fault.new(4242) end)
  end)

  it("marks every fault as documented or assumed", function()
    for code, entry in pairs(require "taskgate.faults") do
      assert.is_true(entry.source == "documented" or entry.source == "assumed", tostring(code))
      assert.is_string(entry.name)
    end
  end)
end)

describe("taskgate.xml", function()
  local xml = runtime.native.xml

  it("decodes a methodcall into name and string params", function()
    local call = xml.decode('<?xml version="1.0"?><methodcall><name>cancel_task</name><params><task_id>5</task_id></params></methodcall>')
    assert.same({ name = "cancel_task", params = { task_id = "5" } }, call)
  end)

  it("turns repeated elements into arrays", function()
    local call = xml.decode("<methodcall><name>x</name><params><tasks><task><a>1</a></task><task><a>2</a></task></tasks></params></methodcall>")
    assert.same({ { a = "1" }, { a = "2" } }, call.params.tasks.task)
  end)

  it("decodes ISO-8859-1 to UTF-8", function()
    local call = xml.decode('<?xml version="1.0" encoding="ISO-8859-1"?><methodcall><name>x</name><params><item>\xE9</item></params></methodcall>')
    assert.equal("\xC3\xA9", call.params.item)
  end)

  it("refuses a DOCTYPE", function()
    assert.is_string(xml.decode('<!DOCTYPE m [<!ENTITY e "x">]><methodcall><name>&e;</name></methodcall>').malformed)
  end)

  it("refuses an external entity", function()
    local call = xml.decode('<!DOCTYPE m [<!ENTITY e SYSTEM "file:///etc/passwd">]><methodcall><name>&e;</name></methodcall>')
    assert.is_string(call.malformed)
    assert.is_nil(call.name)
  end)

  it("refuses a wrong root element and malformed XML", function()
    assert.is_string(xml.decode("<call><name>x</name></call>").malformed)
    assert.is_string(xml.decode("<methodcall><name>x</name>").malformed)
    assert.is_string(xml.decode("").malformed)
  end)

  it("refuses nesting deeper than the limit", function()
    local deep = string.rep("<a>", 100) .. string.rep("</a>", 100)
    assert.is_string(xml.decode("<methodcall><params>" .. deep .. "</params></methodcall>").malformed)
  end)

  it("encodes the documented empty reply exactly", function()
    assert.equal('<?xml version="1.0"?>\n<response>\n  <params/>\n</response>\n', xml.encode({ params = {} }))
  end)

  it("escapes text and orders records", function()
    local reply = require "taskgate.reply"
    local out = xml.encode({ params = reply.record({ "b", "a" }, { a = "<&>\"'", b = 1 }) })
    assert.equal('<?xml version="1.0"?>\n<response>\n  <params>\n    <b>1</b>\n    <a>&lt;&amp;&gt;&quot;&apos;</a>\n  </params>\n</response>\n', out)
  end)

  it("writes lists as repeated elements and an empty list as nothing", function()
    local reply = require "taskgate.reply"
    assert.equal('<?xml version="1.0"?>\n<response>\n  <params>\n    <x>1</x>\n    <x>2</x>\n  </params>\n</response>\n',
      xml.encode({ params = { x = reply.list({ 1, 2 }) } }))
    assert.equal('<?xml version="1.0"?>\n<response>\n  <params>\n    <g/>\n  </params>\n</response>\n',
      xml.encode({ params = { g = { x = reply.list({}) } } }))
  end)

  it("refuses lists with holes or other keys, NaN and infinities, rather than leave a value out", function()
    local reply = require "taskgate.reply"
    for _, params in ipairs({ { x = reply.list({ 1, 2, nil, 4 }) }, { x = { 1, 2, nil, 4 } },
      { x = setmetatable({ 1, 2, y = 3 }, { __list = true }) }, { n = 0 / 0 }, { n = math.huge }, { ["a\0b"] = 1 },
      setmetatable({ ["a\0b"] = 1 }, { __order = { "a\0b" } }) }) do
      assert.has_error(function() xml.encode({ params = params }) end)
    end
    assert.matches("<n>0.5</n>", xml.encode({ params = { n = 0.5 } }))
    assert.is_true(xml.name_ok("task_id"))
    assert.is_false(xml.name_ok("task id"))
    assert.is_false(xml.name_ok("a\0b"))
  end)

  it("refuses in JSON replies what it refuses in XML ones: a reply is good in both forms or in neither", function()
    local reply, json_reply = require "taskgate.reply", require "taskgate.json_reply"
    for _, params in ipairs({ { x = reply.list({ 1, 2, nil, 4 }) }, { x = setmetatable({ 1, y = 3 }, { __list = true }) },
      { n = 0 / 0 }, { n = -math.huge }, { ["task id"] = 1 }, { ["a\0b"] = 1 }, { x = reply.list({ reply.list({ 1 }) }) },
      { [5] = "x" }, { f = tostring } }) do
      assert.has_error(function() xml.encode({ params = params }) end)
      assert.has_error(function() json_reply.encode({ params = params }) end)
    end
    assert.equal('{"params":{"x":[1,2]}}', json_reply.encode({ params = { x = reply.list({ 1, 2 }) } }))
  end)

  it("writes U+FFFE and U+FFFF, which XML cannot hold, as U+FFFD", function()
    assert.matches("<t>\239\191\189\239\191\189</t>", xml.encode({ params = { t = "\239\191\190\239\191\191" } }))
  end)

  it("refuses invalid element names and cycles in replies", function()
    assert.has_error(function() xml.encode({ params = { ["bad name"] = 1 } }) end)
    local cycle = {}
    cycle.self = cycle
    assert.has_error(function() xml.encode({ params = cycle }) end)
  end)
end)
