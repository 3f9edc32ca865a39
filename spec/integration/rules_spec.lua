-- Rules as a site engineer meets them: editing, mistakes, runaway code and the sandbox, on
-- the real binary.
local gateway = require "helpers.gateway"

local write, rules_dir = gateway.write_file, gateway.rules_dir

-- Starts the gateway on a rules directory that must not load; returns its exit status and stderr.
local function refused_start(dir)
  return gateway.run(string.format("%s --listen 127.0.0.1:0 --rules %s --store %s/s.db", gateway.binary, dir,
    gateway.tmpdir()))
end

describe("rules on the real gateway", function()
  local gw, dir
  setup(function()
    dir = rules_dir({
      explode = "return function(call)\n  local t = nil\n  return t.field\nend\n",
      spin = "return function(call) while true do end end\n",
      spin_in_pcall = "return function(call)\n  while true do pcall(function() while true do end end) end\nend\n",
      spin_in_wrap = "return function(call) coroutine.wrap(function() while true do end end)() end\n",
      spin_in_resume = "return function(call)\n  local ok, err = coroutine.resume(coroutine.create(function() while true do end end))\n"
        .. "  return { ok = tostring(ok), err = err }\nend\n",
      spin_nested = "return function(call)\n  local function inner() while true do pcall(function() while true do end end) end end\n"
        .. "  local middle = coroutine.wrap(function() coroutine.resume(coroutine.create(inner)) while true do end end)\n"
        .. "  while true do pcall(middle) end\nend\n",
      spin_in_close = "return function(call)\n  local co = coroutine.create(function()\n"
        .. "    local guard <close> = setmetatable({}, { __close = function() while true do end end })\n"
        .. "    coroutine.yield()\n  end)\n  coroutine.resume(co)\n  coroutine.close(co)\nend\n",
      busy = "return function(call) local n = 0 for i = 1, 1000000 do n = n + i end return { n = n } end\n",
      coroutines = [[
return function(call)
  local gen = coroutine.wrap(function(a) local b = coroutine.yield(a + 1) return b * 2 end)
  local first, second = gen(1), gen(10)
  local co = coroutine.create(function(x) error("boom " .. x, 0) end)
  local ok, err = coroutine.resume(co, 7)
  local _, dead = coroutine.resume(co)
  local caught, obj = pcall(coroutine.wrap(function() error({ code = 5 }) end))
  local closed = coroutine.close(coroutine.create(function() end))
  local _, misuse = pcall(coroutine.resume, 42)
  return { first = first, second = second, ok = tostring(ok), err = err, dead = dead, caught = tostring(caught),
    code = obj.code, closed = tostring(closed), status = coroutine.status(co), misuse = misuse }
end
]],
      recurse = "local function f(n) return f(n + 1) + 1 end\nreturn function(call) return f(1) end\n",
      hog = "return function(call) local s = string.rep('x', 1 << 30) return { n = #s } end\n",
      hog_table = "return function(call) local t = {} for i = 1, 1e9 do t[i] = i end end\n",
      escape_os = "return function(call) return { r = os.execute('true') } end\n",
      escape_io = "return function(call) return { r = io.open('/etc/passwd') } end\n",
      escape_require = "return function(call) return { r = require('io') } end\n",
      escape_string = "return function(call) string.upper = nil end\n",
      escape_meta = "return function(call) getmetatable('').__index = {} end\n",
      escape_global = "return function(call) leaked = 1 end\n",
      escape_load = "return function(call) return { r = load(string.dump(function() end)) } end\n",
      cancel_then_fail = "return function(call)\n  store.cancel_task(1)\n  error('after the change')\nend\n",
      escape_dofile = "return function(call) dofile('/etc/passwd') end\n",
      escape_debug = "return function(call) return { r = debug.getinfo(1) } end\n",
      escape_package = "return function(call) return { r = package.loadlib('libc.so.6', 'system') } end\n",
      escape_db = "return function(call) return { r = require('taskgate.db').exec('DELETE FROM task') } end\n",
      escape_env_meta = "return function(call) setmetatable(_ENV, nil) end\n",
      escape_rawset = "return function(call) rawset(_ENV, 'x', 1) end\n",
      escape_api = "return function(call) check.int = function() return 1 end end\n",
      escape_loadstring = "return function(call) return { r = loadstring('return 1') } end\n",
      upper = "return function(call) return { upper = ('a'):upper() } end\n",
      echo = "return function(call) return { name = call.name, client = call.client } end\n",
      envelope = "return function(call)\n  local keys = {}\n  for key in pairs(call) do keys[#keys + 1] = key end\n"
        .. "  table.sort(keys)\n  return { keys = table.concat(keys, ','), legacy = tostring(call.legacy) }\nend\n",
    })
    gw = gateway.start({ rules = dir })
    assert.equal(gateway.OK, gw:call("create_taskgroup", gateway.taskgroup_params(1, { { 1, 5 } })))
  end)
  teardown(function() gw:stop() end)

  local function still_serving()
    assert.equal(gateway.fault(1012), gw:call("cancel_task", "<task_id>x</task_id>"))
  end

  it("answers 1999 for a rule that raises and logs its file:line with a traceback", function()
    assert.equal(gateway.fault(1999), gw:call("explode"))
    assert.matches("explode%.lua:3:", gw:log())
    assert.matches("stack traceback", gw:log())
    still_serving()
  end)

  it("stops a rule that loops forever at the time limit", function()
    assert.equal(gateway.fault(1999), gw:call("spin"))
    assert.matches("time limit", gw:log())
    still_serving()
  end)

  it("stops a loop even when the rule wraps it in pcall", function()
    assert.equal(gateway.fault(1999), gw:call("spin_in_pcall"))
    still_serving()
  end)

  it("stops a loop inside a coroutine the rule made, however deep and whichever way it was resumed", function()
    for _, name in ipairs({ "spin_in_wrap", "spin_in_resume", "spin_nested", "spin_in_close" }) do
      assert.equal(gateway.fault(1999), gw:call(name), name)
      assert.matches("<name>echo</name>", gw:call("echo"), name)
    end
    still_serving()
  end)

  it("lets a rule use all of the time limit without being stopped", function()
    assert.matches("<n>500000500000</n>", gw:call("busy"))
  end)

  it("keeps coroutine.resume, wrap, close and status as Lua defines them", function()
    local reply = gw:call("coroutines")
    for _, expected in ipairs({ "<first>2</first>", "<second>20</second>", "<ok>false</ok>", "<err>boom 7</err>",
      "<dead>cannot resume dead coroutine</dead>", "<caught>false</caught>", "<code>5</code>", "<closed>true</closed>",
      "<status>dead</status>", "<misuse>bad argument #1 to &apos;[%w.]*resume&apos; %(thread expected, got number%)</misuse>" }) do
      assert.matches(expected, reply)
    end
  end)

  it("serves every call after the limits struck (calls reuse coroutines; a stopped one is not reused)", function()
    for _, name in ipairs({ "spin", "spin_in_pcall", "spin_in_wrap", "hog", "explode" }) do
      assert.equal(gateway.fault(1999), gw:call(name), name)
      for i = 1, 40 do assert.matches("<name>echo</name>", gw:call("echo"), name .. " then echo " .. i) end
    end
    still_serving()
  end)

  it("stops endless recursion", function()
    assert.equal(gateway.fault(1999), gw:call("recurse"))
    still_serving()
  end)

  it("stops a rule that builds a giant string or table at the memory cap", function()
    assert.equal(gateway.fault(1999), gw:call("hog"))
    assert.equal(gateway.fault(1999), gw:call("hog_table"))
    still_serving()
  end)

  it("refuses os, io, foreign modules, bytecode and new globals", function()
    for _, name in ipairs({ "escape_os", "escape_io", "escape_require", "escape_global", "escape_load",
      "escape_dofile", "escape_debug", "escape_package", "escape_db", "escape_env_meta", "escape_rawset",
      "escape_api", "escape_loadstring" }) do
      assert.equal(gateway.fault(1999), gw:call(name), name)
    end
    assert.matches("unknown global 'os'", gw:log())
    assert.matches("may not set global 'leaked'", gw:log())
    assert.matches("rules may not require 'taskgate.db'", gw:log())
    assert.matches("check is read%-only", gw:log())
    assert.equal(gateway.fault(1040), gw:call("cancel_task", ""))
    still_serving()
  end)

  it("keeps the string library and its metatable out of a rule's reach", function()
    assert.equal(gateway.fault(1999), gw:call("escape_string"))
    assert.equal(gateway.fault(1999), gw:call("escape_meta"))
    assert.matches("<upper>A</upper>", gw:call("upper"))
  end)

  it("rolls back the changes of a rule that fails after making them", function()
    assert.equal(gateway.fault(1999), gw:call("cancel_then_fail"))
    assert.matches("<task_id>1</task_id>", gw:call("gettaskinfo", "<task_id>1</task_id>"))
  end)

  it("gives every call a fresh envelope: name, params, client, client_port, interface, request_id, and legacy only for a v1 request", function()
    local v1 = gateway.post_request(gateway.methodcall("envelope", ""), nil, gateway.V1_PATH)
    for _ = 1, 3 do
      local _, _, reply = gw:raw(v1)
      assert.matches("<keys>client,client_port,interface,legacy,name,params,request_id</keys>", reply)
      assert.matches("<legacy>true</legacy>", reply)
      reply = gw:call("envelope")
      assert.matches("<keys>client,client_port,interface,name,params,request_id</keys>", reply)
      assert.matches("<legacy>nil</legacy>", reply)
    end
  end)

  it("gives a rule the canonical method name and the client address", function()
    assert.matches("<client>127%.0%.0%.1</client>", gw:call("ECHO"))
    assert.matches("<name>echo</name>", gw:call("ECHO"))
  end)

  it("routes every spelling of a method name the same, however many other names came before", function()
    -- The runtime remembers the first few hundred names it saw; past that it works them out
    -- every time. Either way the answer is the same.
    for i = 1, 300 do assert.equal(gateway.fault(1901), gw:call("no_such_method_" .. i)) end
    for _, spelling in ipairs({ "echo", "Echo", "ECHO", " echo ", "\techo\n", "eChO" }) do
      assert.matches("<name>echo</name>", gw:call(spelling), spelling)
    end
  end)
end)

describe("rule files at start-up", function()
  it("runs the self-checks at a fixed time, and the rules at the real one", function()
    -- A policy that depends on the hour must not make a start or a reload depend on it.
    local dir = rules_dir({
      _selfcheck = "return function(call)\n  local now = clock.format(clock.now())\n"
        .. "  if now ~= '2024-01-03T12:00:00Z' then error('self-check at ' .. now) end\nend\n",
      now = "return function(call) return { now = clock.format(clock.now()) } end\n",
    })
    local gw = gateway.start({ rules = dir })
    local reply = gw:call("now")
    assert.not_matches("2024%-01%-03T12:00:00Z", reply)
    assert.matches("<now>20%d%d%-%d%d%-%d%dT", reply)
    gw:stop()
  end)

  it("changes behaviour after an edit and a restart, with no rebuild", function()
    local dir = rules_dir()
    local gw = gateway.start({ rules = dir })
    assert.equal(gateway.fault(1017), gw:call("cancel_task", "<task_id>77</task_id>"))
    gw:stop()
    local source = gateway.read_file(dir .. "/cancel_task.lua")
    write(dir .. "/cancel_task.lua", (source:gsub("return function%(call%)\n",
      "return function(call)\n  if call.params.task_id == \"77\" then return fault(1045) end\n")))
    gw = gateway.start({ rules = dir, store = gw.store })
    assert.equal(gateway.fault(1045), gw:call("cancel_task", "<task_id>77</task_id>"))
    gw:stop()
  end)

  it("refuses to start with a broken rule and names its file and line", function()
    local out, code = refused_start(rules_dir({ broken = "return function(call)\n  if then\nend\n" }))
    assert.equal(1, code)
    assert.matches("broken%.lua:2:", out)
  end)

  it("refuses a rule that does not return a function", function()
    local out, code = refused_start(rules_dir({ nothing = "local x = 1\n" }))
    assert.equal(1, code)
    assert.matches("nothing%.lua: must return a function", out)
  end)

  it("refuses a precompiled (bytecode) rule file", function()
    local out, code = refused_start(rules_dir({ bytecode = string.dump(function() return function() end end) }))
    assert.equal(1, code)
    assert.matches("binary chunk", out)
  end)
end)
