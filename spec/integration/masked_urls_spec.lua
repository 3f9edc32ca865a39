-- A URL's credentials (user:password@, query values) never reach an operator's screen, whoever
-- wrote them: the gateway's own records of what failed, a rule's audit fields, a rule's error
-- at load, a rule's outbound request in `taskgate try` (src/redact.c, through the real binary).
local gateway = require "helpers.gateway"
local socket = require "socket"

-- Under the sanitizers on a loaded machine, loading the rules can take longer than 20 call limits.
local LIMIT = os.getenv("TASKGATE_SANITIZED") and " --lua-time-limit 1000" or ""
local SECRET = "s3cr3t"
local URL = "http://erp-user:" .. SECRET .. "@erp.example/api?token=" .. SECRET

local function within(seconds, fn)
  local deadline = socket.gettime() + seconds
  repeat
    if fn() then return true end
    socket.sleep(0.05)
  until socket.gettime() > deadline
  return false
end

local function console(gw, view)
  local status, body = gw:admin("/console/api/" .. view)
  assert.equal(200, status)
  return body
end

local function shows_no_secret(text)
  assert.not_matches(SECRET, text, 1, true)
end

describe("URLs with credentials", function()
  it("that a failing rule's error quotes after forwarding are masked in the audit trail", function()
    local fake = gateway.fake_upstream("ok")
    finally(function() fake:stop() end)
    local rules = gateway.rules_dir({ forward_then_break = string.format([[
return function(call)
  upstream.forward(call, { task_id = call.params.task_id })
  error("the ERP at %s did not answer")
end]], URL) })
    local upstream = fake.url:gsub("^http://", "http://bridge:" .. SECRET .. "@")
    local gw = gateway.start({ rules = rules, args = "--upstream " .. upstream .. LIMIT })
    finally(function() gw:stop() end)
    assert.equal(gateway.fault(1922), gw:call("forward_then_break", "<task_id>5</task_id>"))
    local trail = gateway.run(gateway.binary .. " audit --store " .. gw.store)
    assert.matches("upstream outcome unknown: the gateway failed after the upstream had the call", trail, 1, true)
    assert.matches("http://***@erp.example/api?token=***", trail, 1, true)
    shows_no_secret(trail)
    shows_no_secret(gateway.run(gateway.binary .. " audit --format csv --store " .. gw.store))
    shows_no_secret(console(gw, "audit"))
    shows_no_secret(gw:log())
    local _, status = gw:admin("/status")
    shows_no_secret(status)
  end)

  it("that a rule records are masked by taskgate audit and the console", function()
    local rules = gateway.rules_dir({ note_erp = string.format([[
return function(call)
  audit.record(call, { task_id = 7, erp = %q })
  return {}
end]], URL) })
    local gw = gateway.start({ rules = rules, args = LIMIT })
    finally(function() gw:stop() end)
    assert.equal(gateway.OK, gw:call("note_erp", "<task_id>7</task_id>"))
    local trail = gateway.run(gateway.binary .. " audit --store " .. gw.store)
    assert.matches('"erp":"http://***@erp.example/api?token=***"', trail, 1, true)
    shows_no_secret(trail)
    shows_no_secret(gateway.run(gateway.binary .. " audit --format csv --store " .. gw.store))
    local records = console(gw, "audit?task=7")
    assert.matches("erp.example", records, 1, true)
    shows_no_secret(records)
  end)

  it("in a rule's error at load are masked in /status and the console's rules view", function()
    local rules = gateway.rules_dir()
    local gw = gateway.start({ rules = rules, args = LIMIT })
    finally(function() gw:stop() end)
    gateway.write_file(rules .. "/broken.lua", string.format('error("cannot reach %s")\nreturn function() end\n', URL))
    assert.is_true(within(5, function() return console(gw, "rules"):find("erp.example", 1, true) ~= nil end))
    local view = console(gw, "rules")
    assert.matches("http://***@erp.example", view, 1, true)
    shows_no_secret(view)
    local _, status = gw:admin("/status")
    shows_no_secret(status)
    shows_no_secret(gw:log())
    assert.equal(gateway.OK, gw:call("create_taskgroup", gateway.taskgroup_params(1, { { 10, 1 } }))) -- still serving
  end)

  it("that a rule would request are masked in taskgate try's report", function()
    local rules = gateway.rules_dir({ ask_erp = string.format([[
return function(call)
  local reply, why = http.request({ url = %q, method = "GET" })
  audit.record(call, { task_id = 3, erp = why })
  return {}
end]], URL) })
    local gw = gateway.start({ rules = rules, args = LIMIT })
    assert.is_true(gw:stop())
    local out, code = gateway.run(string.format("%s try ask_erp task_id=3 --store %s --rules %s%s", gateway.binary, gw.store,
      rules, LIMIT))
    assert.equal(0, code, out)
    assert.matches("insert audit", out, 1, true)
    assert.matches("http://***@erp.example", out, 1, true)
    shows_no_secret(out)
  end)

  it("that a command's error names are masked", function()
    local gw = gateway.start({ args = LIMIT })
    assert.is_true(gw:stop())
    local out, code = gateway.run(string.format("%s try ask_erp task_id=3 --store %s --rules '/nonexistent/%s'",
      gateway.binary, gw.store, URL))
    assert.is_not.equal(0, code)
    assert.matches("/nonexistent/http://***@erp.example", out, 1, true)
    shows_no_secret(out)
  end)
end)
