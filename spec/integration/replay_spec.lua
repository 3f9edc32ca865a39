-- Trying rules before they go live, on the real binary: the call journal (bounded, refusals
-- included), `taskgate replay --rules DIR` over 1,000 recorded calls showing exactly the calls a
-- changed policy answers differently, `taskgate check DIR --replay N`, `taskgate try` (nothing
-- kept), and `taskgate test DIR` running a site's specs with this runtime.
local gateway = require "helpers.gateway"
local runtime = require "helpers.runtime"
local socket = require "socket"

local F = gateway.fault
-- Under the sanitizers on a loaded machine, loading the rules can take longer than 20 call limits.
local LIMIT = os.getenv("TASKGATE_SANITIZED") and " --lua-time-limit 1000" or ""

local function journal_rows(store, sql)
  local db = runtime.native.open_store(store)
  local rows = db.rows(sql)
  db.close()
  return rows
end

local SEVENS = 'return { methods = { "cancel_task" }, run = function(call)\n'
  .. '  if tonumber(call.params.task_id) % 7 == 0 then return fault(1921, "sevens") end\nend }\n'

describe("the call journal and replay", function()
  local gw, candidate, config, replay_seconds
  setup(function()
    local live = gateway.rules_dir()
    os.execute("mkdir " .. live .. "/policies")
    gateway.write_file(live .. "/policies/port_nine.lua",
      'return { methods = { "openport" }, run = function(call) if call.params.port_id == "9" then return fault(1921) end end }')
    gw = gateway.start({ rules = live, args = LIMIT })
    candidate = gateway.tmpdir()
    os.execute("cp -R " .. live .. "/. " .. candidate .. "/")
    gateway.write_file(candidate .. "/policies/sevens.lua", SEVENS)
    config = gateway.tmpdir() .. "/taskgate.conf" -- the live gateway's config: its rules
    gateway.write_file(config, "rules = " .. live .. "\n")
    -- 1,000 mixed calls: 100 creates of 3 tasks, 300 cancels, 200 task lists, 200 port queries,
    -- 100 opens and 100 closes of a port, interleaved.
    local n = 0
    for group = 1, 100 do
      local tasks = {}
      for t = 1, 3 do tasks[t] = { (group - 1) * 3 + t, 1000 + (group - 1) * 3 + t } end
      assert.equal(gateway.OK, gw:call("create_taskgroup", gateway.taskgroup_params(group, tasks)))
      for t = 1, 3 do gw:call("cancel_task", string.format("<task_id>%d</task_id>", tasks[t][1])) end
      gw:call("gettaskinfo")
      gw:call("gettaskinfo")
      gw:call("getportstatus", "<port_id>1</port_id>")
      gw:call("getportstatus", "<port_id>2</port_id>")
      gw:call("openport", string.format("<port_id>%d</port_id>", group % 10 + 1))
      gw:call("closeport", string.format("<port_id>%d</port_id>", group % 10 + 1))
      n = n + 10
    end
    assert.equal(1000, n)
  end)
  teardown(function() gw:stop() end)

  it("keeps every call, refusals with their reason", function()
    local rows = journal_rows(gw.store, "SELECT method, outcome, reason, client FROM journal ORDER BY journal_id")
    assert.equal(1000, #rows)
    assert.same({ method = "create_taskgroup", outcome = "ok", client = "127.0.0.1" }, rows[1])
    local refused = journal_rows(gw.store, "SELECT count(*) AS n FROM journal WHERE outcome = '1921' AND reason = 'port_nine'")
    assert.equal(10, refused[1].n) -- openport 9, ten times
  end)

  it("shows exactly the calls a changed policy answers differently, with counts", function()
    local started = socket.gettime()
    local out, code = gw:command("replay --config " .. config .. " --rules " .. candidate .. LIMIT)
    replay_seconds = socket.gettime() - started
    assert.equal(0, code, out)
    assert.matches("replayed 1000 journaled calls against", out, 1, true)
    assert.matches("\n42 answered differently", out, 1, true)
    local tasks = {}
    -- On the copies the groups are gone again, so the replayed creates make them anew and the
    -- cancels that follow succeed, as recorded, but where the candidate's policy refuses them.
    for task in out:gmatch("cancel_task from 127%.0%.0%.1: ok %-> 1921 %(sevens%) %(recorded: ok%)") do tasks[#tasks + 1] = task end
    assert.equal(42, #tasks, out) -- the cancels of tasks 7, 14, ... 294, each once
    assert.matches("by method: cancel_task 42\nby reason: sevens 42\n", out, 1, true)
    io.stderr:write(string.format("\n[replay of 1000 calls, both rule sets: %.2f s]\n", replay_seconds))
  end)

  it("replays only the newest N with check DIR --replay N, and the same rules change nothing", function()
    local out, code = gw:command("check " .. candidate .. " --rules " .. gw.rules .. " --replay 30" .. LIMIT)
    assert.equal(0, code, out)
    assert.matches("replayed 30 journaled calls", out, 1, true)
    assert.matches("\n1 answered differently", out, 1, true) -- the last 3 groups' tasks, 292 to 300: 294
    out = gw:command("check " .. gw.rules .. " --rules " .. gw.rules .. " --replay 100" .. LIMIT)
    assert.matches("\n0 answered differently", out, 1, true)
  end)

  it("tries a call on a copy: the reply and the rows it would change, none kept", function()
    assert.equal(gateway.OK, gw:call("create_taskgroup", gateway.taskgroup_params(500, { { 5001, 1 } })))
    local out, code = gw:command("try cancel_task task_id=5001 --rules " .. gw.rules .. LIMIT)
    assert.equal(0, code, out)
    assert.matches("reply:\n" .. gateway.OK, out, 1, true)
    assert.matches('delete task {"task_id":5001,"taskgroup_id":500', out, 1, true)
    assert.matches('insert audit {', out, 1, true)
    assert.matches("<task_id>5001</task_id>", gw:call("gettaskinfo")) -- still there
    out = gw:command("try openport port_id=9 --rules " .. gw.rules .. LIMIT)
    assert.matches("<code>1921</code>", out, 1, true)
    assert.matches("reason: port_nine", out, 1, true)
    out = gw:command("try create_taskgroup taskgroup_id=501 category=1 req_time=2024-05-01T08:00:00Z priority=1"
      .. " tasks.task.1.task_id=5011 tasks.task.1.bin_id=3 tasks.task.2.task_id=5012 tasks.task.2.bin_id=4 --rules " .. gw.rules .. LIMIT)
    assert.matches('insert task {"task_id":5012', out, 1, true)
    local _, bad = gw:command("try cancel_task task_id")
    assert.equal(2, bad)
  end)
end)

describe("the journal of a call whose rule failed", function()
  it("keeps the 1999 it was answered, on either connection, and a replay of it answers the same", function()
    local rules = gateway.rules_dir({ breaks = 'return function(call) error("breaks on purpose") end\n',
      getportstatus = 'return function(call) error("breaks on purpose") end\n' })
    local gw = gateway.start({ rules = rules, args = LIMIT })
    assert.equal(F(1999), gw:call("breaks", "<task_id>1</task_id>"))
    assert.equal(F(1999), gw:call("getportstatus", "<port_id>1</port_id>")) -- read-only: its trace is owed
    assert.is_true(gw:stop())
    local rows = journal_rows(gw.store, "SELECT method, outcome, reason FROM journal ORDER BY journal_id")
    assert.same({ { method = "breaks", outcome = "1999", reason = "error" },
      { method = "getportstatus", outcome = "1999", reason = "error" } }, rows)
    local out, code = gateway.run(string.format("%s check %s --store %s --rules %s --replay 2%s", gateway.binary, rules,
      gw.store, rules, LIMIT))
    assert.equal(0, code, out)
    assert.matches("\n0 answered differently", out, 1, true)
  end)
end)

describe("a read-only method's rule that writes", function()
  -- The gateway runs gettaskinfo, getportstatus and the bin queries on a read connection: their
  -- rules cannot write (1999). try and replay run them the same way, so that they show it.
  local WRITES = [[
return function(call)
  store.create_taskgroup({ taskgroup_id = 77, category = 1, req_time = "2024-05-01T08:00:00Z",
    req_epoch = 1714550400, priority = 1 }, { { task_id = 770, bin_id = 1 } })
  return { port_id = call.params.port_id, status = "closed" }
end
]]

  it("fails in taskgate try as it fails live, and changes nothing", function()
    local rules = gateway.rules_dir({ getportstatus = WRITES })
    local gw = gateway.start({ rules = rules, args = LIMIT })
    assert.equal(F(1999), gw:call("getportstatus", "<port_id>1</port_id>"))
    for _, name in ipairs({ "getportstatus", " GetPortStatus " }) do -- as the dispatcher reads the name
      local out, code = gw:command(string.format("try '%s' port_id=1 --rules %s%s", name, rules, LIMIT))
      assert.equal(0, code, out)
      assert.matches("<code>1999</code>", out, 1, true)
      assert.matches("reason: error", out, 1, true)
      -- nothing of the rule's write; the audit record of the failed call, written after it
      assert.not_matches("insert task", out, 1, true)
      assert.matches('changes (1 rows; none is kept):\n  insert audit {', out, 1, true)
      assert.matches('"method":"getportstatus","params":"{\\"port_id\\":\\"1\\"}","outcome":"1999"', out, 1, true)
    end
    assert.is_true(gw:stop())
    -- a read-only method whose rule only reads answers as before
    local out = gateway.run(string.format("%s try getportstatus port_id=1 --store %s --rules %s%s", gateway.binary,
      gw.store, gateway.rules, LIMIT))
    assert.matches("<status>closed</status>", out, 1, true)
  end)

  it("answers 1999 in a replay against candidate rules, where the live ones answered", function()
    local gw = gateway.start({ args = LIMIT })
    assert.equal(gateway.OK, gw:call("create_taskgroup", gateway.taskgroup_params(1, { { 10, 1 } })))
    assert.matches("<status>", gw:call("getportstatus", "<port_id>1</port_id>"))
    assert.matches("<task_id>10</task_id>", gw:call("gettaskinfo"))
    assert.is_true(gw:stop())
    local candidate = gateway.rules_dir({ getportstatus = WRITES })
    local out, code = gateway.run(string.format("%s replay --store %s --rules %s%s", gateway.binary, gw.store,
      candidate, LIMIT))
    assert.equal(0, code, out)
    assert.matches("\n1 answered differently", out, 1, true)
    assert.matches("getportstatus from 127.0.0.1: ok -> 1999 (error) (recorded: ok)", out, 1, true)
    -- the same rules: the live ones answer every call as recorded, on the same connections
    out = gateway.run(string.format("%s check %s --store %s --rules %s --replay 3%s", gateway.binary, gateway.rules,
      gw.store, gateway.rules, LIMIT))
    assert.matches("\n0 answered differently", out, 1, true)
  end)
end)

describe("replay in bridge mode", function()
  it("answers forwarded calls as the controller answered them, and shows what a policy changes", function()
    local b = gateway.start({ args = LIMIT })
    local a = gateway.start({ args = string.format("--upstream http://127.0.0.1:%d/api/v2/task", b.port) .. LIMIT })
    assert.equal(gateway.OK, a:call("create_taskgroup", gateway.taskgroup_params(1, { { 14, 1 }, { 15, 2 } })))
    assert.equal(gateway.OK, a:call("cancel_task", "<task_id>14</task_id>"))
    assert.equal(F(1017), a:call("cancel_task", "<task_id>14</task_id>"))
    assert.equal(gateway.OK, a:call("cancel_task", "<task_id>15</task_id>"))
    a:stop()
    b:stop()
    local candidate = gateway.rules_dir()
    os.execute("mkdir " .. candidate .. "/policies")
    gateway.write_file(candidate .. "/policies/sevens.lua", SEVENS)
    local config = gateway.tmpdir() .. "/taskgate.conf" -- A's: the shipped rules, the controller (not reached)
    gateway.write_file(config, string.format("rules = %s\nupstream = http://127.0.0.1:%d/api/v2/task\n", gateway.rules, b.port))
    local out, code = gateway.run(string.format("%s replay --config %s --store %s --rules %s%s", gateway.binary, config, a.store, candidate, LIMIT))
    assert.equal(0, code, out)
    assert.matches("\n2 answered differently", out, 1, true)
    assert.matches("cancel_task from 127.0.0.1: ok -> 1921 (sevens) (recorded: ok)", out, 1, true)
    assert.matches("cancel_task from 127.0.0.1: 1017 -> 1921 (sevens) (recorded: 1017)", out, 1, true)
  end)
end)

describe("the journal's bound", function()
  it("keeps about --journal-size calls, the newest", function()
    local gw = gateway.start({ args = "--journal-size 50" .. LIMIT })
    for _ = 1, 400 do gw:call("getportstatus", "<port_id>1</port_id>") end
    gw:stop()
    local rows = journal_rows(gw.store, "SELECT count(*) AS n, max(journal_id) AS last FROM journal")
    assert.is_true(rows[1].n >= 50 and rows[1].n <= 150, "kept " .. rows[1].n)
    assert.equal(400, rows[1].last)
  end)

  it("keeps none with --journal-size 0", function()
    local gw = gateway.start({ args = "--journal-size 0" .. LIMIT })
    gw:call("getportstatus", "<port_id>1</port_id>")
    gw:stop()
    assert.equal(0, journal_rows(gw.store, "SELECT count(*) AS n FROM journal")[1].n)
  end)
end)

describe("taskgate test DIR", function()
  -- Under the sanitizers the native module beside the binary is built with them too: Lua, which
  -- loads it, needs their runtimes first (as scripts/test gives the unit specs).
  local prefix = ""
  if os.getenv("TASKGATE_SANITIZED") then
    local p = io.popen("echo $(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)")
    prefix = "LD_PRELOAD=" .. p:read("l") .. " "
    p:close()
  end

  local function site_specs(body, rules)
    local dir = gateway.tmpdir()
    gateway.write_file(dir .. "/site_spec.lua", string.format([[
local testing = require "taskgate.testing"
describe("our site", function()
  it("runs our rules on a temporary store", function()
    local site = testing.open(%q)
    %s
    site.close()
  end)
end)
]], rules or gateway.rules, body))
    return dir
  end

  it("runs a site's specs with this runtime, passing", function()
    local out, code = gateway.run(prefix .. gateway.binary .. " test " .. site_specs(
      'assert.same({ fault = { code = 1017 } }, site.call("cancel_task", { task_id = "77" }))'))
    assert.equal(0, code, out)
    assert.matches("1 success / 0 failures", out, 1, true)
  end)

  it("refuses a store write of a read-only method's rule, as the gateway does", function()
    local rules = gateway.rules_dir({ getportstatus = [[
return function(call)
  store.create_taskgroup({ taskgroup_id = 77, category = 1, req_time = "2024-05-01T08:00:00Z",
    req_epoch = 1714550400, priority = 1 }, { { task_id = 770, bin_id = 1 } })
  return { port_id = call.params.port_id, status = "closed" }
end
]] })
    local out, code = gateway.run(prefix .. gateway.binary .. " test " .. site_specs(
      'assert.same({ fault = { code = 1999 } }, site.call("getportstatus", { port_id = "1" }))\n'
      .. '    assert.equal(0, site.db.rows("SELECT count(*) AS n FROM taskgroup")[1].n)', rules))
    assert.equal(0, code, out)
    assert.matches("1 success / 0 failures", out, 1, true)
    local gw = gateway.start({ rules = rules, args = LIMIT })
    assert.equal(F(1999), gw:call("getportstatus", "<port_id>1</port_id>"))
    assert.is_true(gw:stop())
  end)

  it("and failing, with busted's exit status", function()
    local out, code = gateway.run(prefix .. gateway.binary .. " test " .. site_specs(
      'assert.same({ params = {} }, site.call("cancel_task", { task_id = "77" }))'))
    assert.is_not.equal(0, code)
    assert.matches("0 successes / 1 failure", out, 1, true)
  end)
end)
