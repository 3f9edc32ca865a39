-- Bridge mode forwards the call as received: an XML call the rules did not change goes upstream
-- as the client's bytes under the client's Content-Type; a call the rules changed, a JSON call
-- and a v1 call that normalising changed are encoded on one line, in the client's element
-- order, and a value XML cannot carry as it is (or a call grown past what an upstream takes) is
-- refused with fault 1935 before anything is sent.
local gateway = require "helpers.gateway"

local function hex_decode(hex)
  return (hex:gsub("%x%x", function(pair) return string.char(tonumber(pair, 16)) end))
end

local function post(gw, body, content_type, path)
  return gw:raw(string.format("POST %s HTTP/1.1\r\nHost: x\r\n%sContent-Length: %d\r\n\r\n%s", path or "/api/v2/task",
    content_type and ("Content-Type: " .. content_type .. "\r\n") or "", #body, body))
end

-- What the fake upstream read: the one call's body (exact bytes) and headers.
local function the_call(fake)
  local requests = fake:requests()
  assert.equal(1, #requests, "calls that reached the upstream")
  return hex_decode(requests[1].body_hex), requests[1].headers
end

local function audit_of(gw)
  return (gateway.run(gateway.binary .. " audit --store " .. gw.store))
end

-- A rule for the method "relay": forwards whatever it gets.
local RELAY = "return function(call) return upstream.forward(call, { relayed = true }) end"

describe("bridge mode forwards the call as received", function()
  local fake, gw
  after_each(function()
    if gw then gw:stop() end
    if fake then fake:stop() end
    gw, fake = nil, nil
  end)

  local function start(mode, args, rules)
    fake = gateway.fake_upstream(mode or "ok")
    gw = gateway.start({ args = "--upstream " .. fake.url .. " " .. (args or ""), rules = rules })
  end

  it("sends an unchanged XML call as the client's bytes, under its Content-Type", function()
    start()
    -- Layout, a comment, CRLFs, CDATA, standalone, an unknown envelope element, a parameter the
    -- rule does not read and an order that is not sorted: all of it arrives as sent.
    local body = '<?xml version="1.0" standalone="yes"?>\r\n<!-- from the WMS -->\r\n<methodcall>'
      .. '<params>\r\n\t<task_id> 4711 </task_id><zeta><![CDATA[a<b]]></zeta><alpha>x</alpha></params>'
      .. '<name>cancel_task</name><trace>wms-7</trace></methodcall>\r\n'
    local status, headers, reply = post(gw, body, "text/xml; charset=UTF-8")
    assert.equal(200, status)
    assert.equal(gateway.upstream_echo("4711"), reply)
    assert.equal("application/xml; charset=utf-8", headers["content-type"])
    local sent, sent_headers = the_call(fake)
    assert.equal(body, sent)
    assert.equal("text/xml; charset=UTF-8", sent_headers["content-type"])
  end)

  it("sends the client's bytes from every worker (--workers 2)", function()
    start(nil, "--workers 2")
    local bodies = {}
    for i = 1, 6 do
      bodies[i] = gateway.methodcall("cancel_task", "<!-- " .. i .. " --><task_id>" .. (600 + i) .. "</task_id>")
      assert.equal(gateway.upstream_echo(tostring(600 + i)), select(3, post(gw, bodies[i], "application/xml")))
    end
    local sent = {}
    for _, request in ipairs(fake:requests()) do sent[#sent + 1] = hex_decode(request.body_hex) end
    table.sort(sent)
    table.sort(bodies)
    assert.same(bodies, sent)
  end)

  it("sends ISO-8859-1 bytes as they came, with the charset the client named", function()
    start()
    local body = '<?xml version="1.0" encoding="ISO-8859-1"?><methodcall><name>create_taskgroup</name><params>'
      .. gateway.taskgroup_params(7, {}, ""):gsub("<tasks>", "<tasks><task><task_id>70</task_id><bin_id>1</bin_id>"
        .. "<item>B\xe4ckerei</item></task>") .. "</params></methodcall>"
    local status = post(gw, body, "application/xml;charset=iso-8859-1")
    assert.equal(200, status)
    local sent, headers = the_call(fake)
    assert.equal(body, sent)
    assert.equal("application/xml;charset=iso-8859-1", headers["content-type"])
  end)

  it("sends a call without a Content-Type as application/xml", function()
    start()
    local body = gateway.methodcall("cancel_task", "<task_id>5</task_id>")
    assert.equal(200, (post(gw, body, nil)))
    local sent, headers = the_call(fake)
    assert.equal(body, sent)
    assert.equal("application/xml", headers["content-type"])
  end)

  it("does not grow a large call: 7,000 tasks arrive at the size they were sent", function()
    start(nil, "--lua-time-limit 5000")
    local tasks = {}
    for i = 1, 7000 do
      tasks[i] = string.format("\n    <task>\n      <task_id>%d</task_id>\n      <bin_id>%d</bin_id>\n"
        .. "      <item>item-%d</item>\n      <order>order-%d</order>\n    </task>", 100000 + i, i, i, i)
    end
    local body = '<?xml version="1.0"?>\n<methodcall>\n  <name>create_taskgroup</name>\n  <params>\n'
      .. "    <taskgroup_id>9</taskgroup_id>\n    <category>1</category>\n    <req_time>2024-05-01T08:00:00Z</req_time>\n"
      .. "    <priority>1</priority>\n    <tasks>" .. table.concat(tasks) .. "\n    </tasks>\n  </params>\n</methodcall>\n"
    assert.is_true(#body > 700000)
    local status, _, reply = post(gw, body, "application/xml")
    assert.equal(200, status)
    assert.matches("<params>", reply, 1, true)
    local sent, headers = the_call(fake)
    assert.equal(#body, tonumber(headers["content-length"]))
    assert.is_true(sent == body, "the upstream got other bytes than the client sent")
  end)

  it("sends a v1 call as received when normalising changed nothing, encoded when it did", function()
    start()
    local plain = gateway.methodcall("cancel_task", "<task_id>8</task_id>")
    assert.equal(200, (post(gw, plain, "text/xml", gateway.V1_PATH)))
    assert.equal(plain, (the_call(fake)))
    fake:stop()
    gw:stop()
    start()
    local wrapped = '<?xml version="1.0"?>\n<methodcall>\n  <name>update_taskgroup</name>\n  <params>\n'
      .. "    <update_taskgroup><taskgroup_id>3</taskgroup_id><category>2</category>"
      .. "<req_time>2024-05-01 08:00:00</req_time><priority>4</priority></update_taskgroup>\n  </params>\n</methodcall>"
    assert.equal(200, (post(gw, wrapped, "text/xml", gateway.V1_PATH)))
    local sent, headers = the_call(fake)
    -- unwrapped, the time in v2 form, one line, the client's order
    assert.equal('<?xml version="1.0"?><methodcall><name>update_taskgroup</name><params><taskgroup_id>3</taskgroup_id>'
      .. "<category>2</category><req_time>2024-05-01T08:00:00Z</req_time><priority>4</priority></params></methodcall>", sent)
    assert.equal("application/xml", headers["content-type"])
  end)

  it("encodes a JSON call on one line, in the client's member order and spelling", function()
    start()
    local body = '{"method":" Create_TaskGroup ","params":{"taskgroup_id":5,"category":1,'
      .. '"req_time":"2024-05-01T08:00:00Z","priority":3,"tasks":{"task":[{"task_id":50,"bin_id":3,"item":"a&b <c>"},'
      .. '{"bin_id":4,"task_id":51}]}}}'
    local status, headers, reply = post(gw, body, "application/json")
    assert.equal(200, status)
    assert.equal("application/json; charset=utf-8", headers["content-type"])
    assert.equal('{"params":{"task_id":"50"}}', reply)
    local sent = the_call(fake)
    assert.equal('<?xml version="1.0"?><methodcall><name>Create_TaskGroup</name><params><taskgroup_id>5</taskgroup_id>'
      .. "<category>1</category><req_time>2024-05-01T08:00:00Z</req_time><priority>3</priority><tasks>"
      .. "<task><task_id>50</task_id><bin_id>3</bin_id><item>a&amp;b &lt;c&gt;</item></task>"
      .. "<task><bin_id>4</bin_id><task_id>51</task_id></task></tasks></params></methodcall>", sent)
  end)

  it("puts a JSON plain array under its wrapper into the wrapper's item elements", function()
    start()
    local body = '{"method":"create_taskgroup","params":{"taskgroup_id":5,"category":1,'
      .. '"req_time":"2024-05-01T08:00:00Z","priority":3,"tasks":[{"task_id":50,"bin_id":3},{"task_id":51,"bin_id":4}]}}'
    assert.equal(200, (post(gw, body, "application/json")))
    assert.equal('<?xml version="1.0"?><methodcall><name>create_taskgroup</name><params><taskgroup_id>5</taskgroup_id>'
      .. "<category>1</category><req_time>2024-05-01T08:00:00Z</req_time><priority>3</priority><tasks>"
      .. "<task><task_id>50</task_id><bin_id>3</bin_id></task><task><task_id>51</task_id><bin_id>4</bin_id></task>"
      .. "</tasks></params></methodcall>", (the_call(fake)))
    fake:stop()
    gw:stop()
    start()
    assert.equal(200, (post(gw, '{"method":"openport","params":{"port_id":2,"select":[7]}}', "application/json")))
    assert.equal('<?xml version="1.0"?><methodcall><name>openport</name><params><port_id>2</port_id>'
      .. "<select><category>7</category></select></params></methodcall>", (the_call(fake)))
  end)

  it("encodes a call a rule changed, keeping the order of the parts it kept", function()
    local rules = gateway.rules_dir({
      create_taskgroup = [[
        return function(call)
          local p = call.params
          return upstream.forward({ name = call.name, params = { taskgroup_id = p.taskgroup_id,
            category = p.category, req_time = p.req_time, priority = "7", tasks = p.tasks } })
        end]],
    })
    start(nil, nil, rules)
    local body = gateway.methodcall("create_taskgroup", gateway.taskgroup_params(6, {}, ""):gsub("<tasks>",
      "<tasks><task><bin_id>2</bin_id><task_id>60</task_id><item>\xc3\xa4&#13;</item></task>"))
    assert.equal(200, (post(gw, body, "application/xml")))
    local sent = the_call(fake)
    -- the rule's own table in name order; the tasks in the client's
    assert.equal('<?xml version="1.0"?><methodcall><name>create_taskgroup</name><params><category>1</category>'
      .. "<priority>7</priority><req_time>2024-05-01T08:00:00Z</req_time><taskgroup_id>6</taskgroup_id><tasks>"
      .. "<task><bin_id>2</bin_id><task_id>60</task_id><item>\xc3\xa4&#13;</item></task></tasks></params></methodcall>", sent)
  end)

  for _, case in ipairs({
    { what = "a control character", item = "\\u0001bell\\u0007", reason = "a control character" },
    { what = "U+FFFE", item = "x\\ufffe", reason = "U+FFFE or U+FFFF" },
    { what = "NUL", item = "x\\u0000y", reason = "a control character" },
  }) do
    it("refuses a JSON call holding " .. case.what .. " with 1935, sending nothing", function()
      start()
      local body = '{"method":"create_taskgroup","params":{"taskgroup_id":5,"category":1,'
        .. '"req_time":"2024-05-01T08:00:00Z","priority":3,"tasks":[{"task_id":50,"bin_id":3,"item":"'
        .. case.item .. '"}]}}'
      local status, _, reply = post(gw, body, "application/json")
      assert.equal(200, status)
      if case.what == "NUL" and reply ~= '{"fault":{"code":1935}}' then
        -- a NUL may be refused by the JSON reader already; it must never reach the upstream
        assert.matches('"code":19', reply)
      else
        assert.equal('{"fault":{"code":1935}}', reply)
        local log = gw:log()
        assert.matches("call not forwarded", log, 1, true)
        assert.matches("'item' holds " .. case.reason, log, 1, true)
        assert.matches("not forwarded: not sent: 'item' holds", audit_of(gw), 1, true)
      end
      assert.equal(0, #fake:requests())
      -- the gateway keeps serving, and a good call still goes through
      assert.equal(gateway.upstream_echo("12"), gw:cancel(12))
    end)
  end

  it("refuses a JSON call that would grow past what an upstream takes with 1935", function()
    -- (a time limit the sanitizer builds fit 1.5 MB of writing in)
    start(nil, "--lua-time-limit 2000", gateway.rules_dir({ relay = RELAY }))
    -- 300,000 '&' are 300 KB of JSON and 1.5 MB of XML
    local body = '{"method":"relay","params":{"note":"' .. string.rep("&", 300000) .. '"}}'
    local status, _, reply = post(gw, body, "application/json")
    assert.equal(200, status)
    assert.equal('{"fault":{"code":1935}}', reply)
    assert.matches("the call encodes to more than 1048576 bytes, what an upstream takes", gw:log(), 1, true)
    assert.equal(0, #fake:requests())
    -- the same text as an XML call goes as it came: it cannot grow
    local xml = gateway.methodcall("relay", "<note>" .. string.rep("&amp;", 200000) .. "</note>")
    assert.equal(200, (post(gw, xml, "application/xml")))
    assert.equal(xml, (hex_decode(fake:requests()[1].body_hex)))
  end)

  it("gives a JSON client a 720 KB bridged reply under the default time limit", function()
    -- the sanitized build runs Lua about ten times slower: the default limit is a release build's
    start("many_elements", os.getenv("TASKGATE_SANITIZED") and "--lua-time-limit 500" or nil)
    local status, headers, reply = post(gw, '{"method":"cancel_task","params":{"task_id":4711}}', "application/json")
    assert.equal(200, status)
    assert.equal("application/json; charset=utf-8", headers["content-type"])
    assert.equal('{"params":{"e":["1","1",', reply:sub(1, 24))
    assert.matches('"1"],"task_id":"4711"}}', reply, 1, true)
    assert.is_true(#reply > 350000, #reply)
    assert.not_matches("lua_call_failed", gw:log(), 1, true)
  end)

  it("hears an upstream's 413 as a call refused unprocessed, not an unknown outcome", function()
    start("status_413")
    assert.equal(gateway.fault(1922), gw:cancel(77))
    local log = gw:log()
    assert.matches('msg="upstream unavailable"', log, 1, true)
    assert.matches("upstream refused the call unprocessed: HTTP 413 (too large)", log, 1, true)
    assert.not_matches("upstream outcome unknown", log, 1, true)
    assert.matches("upstream unavailable: upstream refused the call unprocessed", audit_of(gw), 1, true)
  end)
end)
