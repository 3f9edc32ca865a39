-- Policies, site modules and refusal reasons on the real binary: hot reload of a module, the
-- reason in the log line, the metrics and the audit trail (never on the wire), errors naming the
-- file that failed, and `taskgate check` naming the files it will not load.
local gateway = require "helpers.gateway"
local socket = require "socket"

local write = gateway.write_file

local function within(seconds, fn)
  local start = socket.gettime()
  repeat
    if fn() then return true end
    socket.sleep(0.02)
  until socket.gettime() - start > seconds
  return false
end

-- A rules directory: the shipped rules plus `files` (path in the tree -> text).
local function rules(files)
  local dir = gateway.rules_dir()
  for name, text in pairs(files) do
    os.execute(string.format("mkdir -p %s/$(dirname %s)", dir, name))
    write(dir .. "/" .. name, text)
  end
  return dir
end

local HOURS = 'return { open = "%s" }\n'
local ASK = 'local hours = require "site.hours"\nreturn function(call) return { open = hours.open } end\n'
local POLICY = 'local hours = require "site.hours"\n'
  .. 'return { methods = { "cancel_task" }, run = function(call)\n'
  .. '  if hours.open == "never" then return fault(1921, "closed") end\nend }\n'

describe("policies on the gateway", function()
  local gw, dir
  setup(function()
    dir = rules({ ["lib/hours.lua"] = HOURS:format("always"), ["hours.lua"] = ASK, ["policies/closed.lua"] = POLICY,
      ["policies/crash.lua"] = 'return { methods = { "getportstatus" }, run = function(call)\n\tlocal x = nil\n\treturn x.y\nend }\n' })
    gw = gateway.start({ rules = dir })
  end)
  teardown(function() gw:stop() end)

  it("reloads a site module that a rule and a policy require, and both see the new one", function()
    assert.matches("<open>always</open>", gw:call("hours"))
    assert.equal(gateway.fault(1017), gw:call("cancel_task", "<task_id>5</task_id>"))
    write(dir .. "/lib/hours.lua", HOURS:format("never"))
    assert.is_true(within(2, function() return gw:call("hours"):find("<open>never</open>", 1, true) ~= nil end))
    assert.equal(gateway.fault(1921), gw:call("cancel_task", "<task_id>5</task_id>"))
  end)

  it("puts a refusal's reason in the log line, the metrics and the audit trail, never in the reply", function()
    write(dir .. "/lib/hours.lua", HOURS:format("never"))
    assert.is_true(within(2, function() return gw:call("cancel_task", "<task_id>6</task_id>") == gateway.fault(1921) end))
    assert.matches("method=cancel_task outcome=1921 fault=REFUSED_BY_SITE_POLICY reason=closed ms=", gw:log(), 1, true)
    local _, metrics = gw:admin("/metrics")
    assert.is_number(gateway.metric(metrics,
      'taskgate_calls_total{method="cancel_task",outcome="1921",fault="REFUSED_BY_SITE_POLICY",reason="closed"}'))
    local out = gw:command("audit --outcome 1921")
    assert.matches('"method":"cancel_task","params":{"task_id":"6"},"outcome":"1921"', out, 1, true)
    assert.matches('"reason":"closed"', out, 1, true)
  end)

  it("logs a policy's error under the policy's file, with a traceback that keeps its tabs", function()
    assert.equal(gateway.fault(1999), gw:call("getportstatus", "<port_id>1</port_id>"))
    local line = gw:log():match("[^\n]*event=rule_log[^\n]*msg=\"rule failed\"[^\n]*") or ""
    assert.matches("file=" .. dir .. "/policies/crash.lua", line, 1, true)
    assert.matches("crash.lua:3: attempt to index a nil value (local 'x')", line, 1, true)
    assert.matches("\\nstack traceback:\\n\\t", line, 1, true)
    assert.is_nil(line:find("?", 1, true))
  end)
end)

describe("taskgate check", function()
  local function check(dir)
    return gateway.run(string.format("%s check %s", gateway.binary, dir))
  end

  it("names every file it will not load, and still loads the rest", function()
    local dir = rules({
      ["_Before.lua"] = "return function(call) end",
      ["_helpers.lua"] = "return {}",
      ["notes.txt"] = "remember the window",
      ["cancel_task.lua.orig"] = "old",
      ["rules/cancel_task.lua"] = "return function() end",
      ["policies/sub/x.lua"] = "return function() end",
      ["policies/has space.lua"] = "return function() end",
      ["policies/README"] = "policies",
      ["lib/my-helper.lua"] = "return {}",
      ["Cancel_Task.lua"] = "return function() end",
    })
    local out, code = check(dir)
    assert.equal(0, code, out)
    for _, expected in ipairs({
      "/_Before.lua: not loaded: special files are named in lower case (_before.lua)",
      "/_helpers.lua: not loaded: a name starting with _ is no method",
      "/notes.txt: not loaded: rules, policies and modules are .lua files",
      "/cancel_task.lua.orig: not loaded",
      "/rules/: not loaded: not a directory of the rules tree (bin/, policies/, lib/)",
      "/policies/sub/: not loaded: directories inside policies/ are not read",
      "/policies/has space.lua: not loaded: a policy's name is its refusals' reason",
      "/policies/README: not loaded: only .lua files are read",
      "/lib/my-helper.lua: not loaded: a module's name (require \"site.<name>\") is letters, digits and _",
      "/Cancel_Task.lua: not loaded: the same method as " .. dir .. "/cancel_task.lua",
    }) do
      assert.matches(expected, out, 1, true)
    end
  end)

  it("warns of nothing in the shipped rules", function()
    local out, code = check(gateway.rules)
    assert.equal(0, code)
    assert.is_nil(out:find("warning", 1, true))
  end)

  it("reports a self-check failure with what the call got", function()
    local out, code = check(rules({ ["cancel_task.lua"] = "return function(call) return fault(1012) end" }))
    assert.equal(1, code)
    assert.matches("cancel_task without task_id: expected fault 1040, got fault 1012", out, 1, true)
  end)
end)
