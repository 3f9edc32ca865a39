-- What an outside review found still open after the runtime was frozen: an xpcall message
-- handler ran inside the time limit's raise with the hook off (a loop in it froze the gateway),
-- and the methods of shared dicts, rate limiters and clock windows could be replaced through
-- their objects' metatables for every later call.
local gateway = require "helpers.gateway"
local socket = require "socket"

local OK, F = gateway.OK, gateway.fault

describe("a rule cannot escape its call", function()
  local rules = {
    xpcall_spin = "return function(call) xpcall(function() while true do end end, "
      .. "function(e) while true do end end) return {} end",
    xpcall_error_spin = "return function(call) xpcall(function() error('x') end, "
      .. "function(e) while true do end end) return {} end",
    xpcall_plain = "return function(call) local ok, m = xpcall(function() error('x', 0) end, "
      .. "function(e) return 'handled ' .. e end) return { ok = tostring(ok), m = m } end",
    reach_methods = [[return function(call)
  local hidden = getmetatable(shared.dict("a")) == false and getmetatable(ratelimit.new("r", { rate = 5 })) == false
    and getmetatable(clock.window({ from = "08:00", to = "17:00" })) == false
  local dict = shared.dict("a")
  local replaced = pcall(function() dict.__index.get = function() return "HACKED" end end)
  return { hidden = tostring(hidden), replaced = tostring(replaced and dict.__index ~= nil) }
end]],
  }

  for _, name in ipairs({ "xpcall_spin", "xpcall_error_spin" }) do
    it("stops a looping xpcall message handler at the limit (" .. name .. ") and keeps serving", function()
      local gw = gateway.start({ rules = gateway.rules_dir(rules) })
      local started = socket.gettime()
      assert.equal(F(1999), gw:call(name, ""))
      assert.is_true(socket.gettime() - started < 2, "answered within the limit's order")
      assert.equal(F(1017), gw:call("cancel_task", "<task_id>5</task_id>"))
      gw:stop()
    end)
  end

  it("still hands the handler the error and returns what it gives", function()
    local gw = gateway.start({ rules = gateway.rules_dir(rules) })
    local reply = gw:call("xpcall_plain", "")
    gw:stop()
    assert.matches("<ok>false</ok>", reply, 1, true)
    assert.matches("<m>handled x</m>", reply, 1, true)
  end)

  it("hides the methods of shared dicts, rate limiters and clock windows", function()
    local gw = gateway.start({ rules = gateway.rules_dir(rules) })
    local reply = gw:call("reach_methods", "")
    gw:stop()
    assert.matches("<hidden>true</hidden>", reply, 1, true)
    assert.matches("<replaced>false</replaced>", reply, 1, true)
  end)
end)

-- The call a policy or rule receives is read-only: a policy could otherwise change the parameters
-- the method rule then sees, and a rule could forge the client or request id its audit record
-- names. Every write is an error; the audit trail and the journal name the call as received.
describe("the call is read-only to policies and rules", function()
  local MEDDLE = [[return { methods = { "cancel_task", "create_taskgroup" }, run = function(call)
  local p = call.params
  if p.task_id == "21" then p.task_id = "22" end
  if p.task_id == "23" then pcall(function() p.task_id = "24" end) end
  if p.task_id == "25" then pcall(function() call.params = { task_id = "24" } end) end
  if p.task_id == "26" then pcall(function() call.client = "10.9.9.9" end) end
  if p.taskgroup_id == "30" then p.tasks.task[1].task_id = "99" end
  if p.taskgroup_id == "31" then table.insert(p.tasks.task, { task_id = "98", bin_id = "1" }) end
end }
]]
  local FORGE = [[return function(call)
  local kept = {}
  for _, field in ipairs({ "client", "client_port", "request_id", "name", "params" }) do
    if pcall(function() call[field] = "forged" end) then kept[#kept + 1] = field end
  end
  audit.record(call, nil)
  return { kept = table.concat(kept, ","), client = call.client }
end
]]
  -- Reads the parameters every way rules do, and tries every way of writing them.
  local WALK = [[return function(call)
  local p = call.params
  local list = p.tasks.task
  local keys, listed, nexts = 0, 0, 0
  for _ in pairs(p) do keys = keys + 1 end
  for _, task in ipairs(list) do listed = listed + (task.task_id and 1 or 0) end
  local key = next(list)
  while key ~= nil do nexts, key = nexts + 1, next(list, key) end
  local tries = {
    rawset = pcall(function() rawset(p, "taskgroup_id", "9") end),
    setmetatable = pcall(setmetatable, p, {}),
    insert = pcall(table.insert, list, {}),
    remove = pcall(table.remove, list),
    sort = pcall(table.sort, list, function(a, b) return a.task_id > b.task_id end),
    nested = pcall(function() rawget(list, 1).task_id = "7" end),
  }
  local wrote = {}
  for name, ok in pairs(tries) do if ok then wrote[#wrote + 1] = name end end
  table.sort(wrote)
  return { keys = keys, len = #list, rawlen = rawlen(list), listed = listed, nexts = nexts,
    first = list[1].task_id,
    hidden = tostring(getmetatable(p) == false), wrote = table.concat(wrote, ",") }
end
]]
  local gw, dir

  local function audit_lines(args)
    local out = gw:command("audit " .. args)
    local lines = {}
    for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
    return lines
  end

  setup(function()
    dir = gateway.rules_dir({ forge = FORGE, walk = WALK })
    os.execute("mkdir -p " .. dir .. "/policies")
    gateway.write_file(dir .. "/policies/meddle.lua", MEDDLE)
    gw = gateway.start({ rules = dir })
    local tasks = {}
    for id = 21, 26 do tasks[#tasks + 1] = { id, id } end
    assert.equal(OK, gw:call("create_taskgroup", gateway.taskgroup_params(1, tasks)))
  end)
  teardown(function() gw:stop() end)

  it("fails a call whose policy writes its parameters, changing nothing, and audits the true ones", function()
    assert.equal(F(1999), gw:call("cancel_task", "<task_id>21</task_id>"))
    local said = "meddle.lua:3: the call is read-only to policies and rules (assigning 'task_id')"
    local logged = false
    for _ = 1, 100 do -- the log line may follow the reply by a moment
      logged = gw:log():find(said, 1, true) ~= nil
      if logged then break end
      socket.sleep(0.02)
    end
    assert.is_true(logged, "the log names the policy's line: " .. said)
    local records = audit_lines("--outcome 1999")
    assert.matches('"params":{"task_id":"21"}', records[#records], 1, true)
    assert.equal(OK, gw:call("cancel_task", "<task_id>22</task_id>")) -- still there: nothing changed
  end)

  it("lets the rule see the call as sent when a policy swallowed its write's error", function()
    for _, id in ipairs({ 23, 25, 26 }) do
      assert.equal(OK, gw:call("cancel_task", "<task_id>" .. id .. "</task_id>"))
      local records = audit_lines("--task " .. id)
      assert.matches('"client":"127.0.0.1"', records[#records], 1, true)
      assert.matches('"params":{"task_id":' .. id .. ',', records[#records], 1, true)
    end
    assert.equal(OK, gw:call("cancel_task", "<task_id>24</task_id>")) -- no policy's write reached it
  end)

  it("fails a call whose policy writes into a nested task list, and creates nothing", function()
    assert.equal(F(1999), gw:call("create_taskgroup", gateway.taskgroup_params(30, { { 301, 1 } })))
    assert.equal(F(1999), gw:call("create_taskgroup", gateway.taskgroup_params(31, { { 311, 1 } })))
    assert.equal(F(1017), gw:call("cancel_task", "<task_id>301</task_id>"))
    assert.equal(F(1017), gw:call("cancel_task", "<task_id>99</task_id>"))
    assert.equal(F(1017), gw:call("cancel_task", "<task_id>98</task_id>"))
    assert.matches("(assigning 'task_id')", gw:log(), 1, true)
  end)

  it("keeps a rule from forging the client, request id or method its audit record names", function()
    local request = gateway.post_request(gateway.methodcall("forge", "<note>x</note>"), "X-Request-Id: true-id-1\r\n")
    local status, _, body = gw:raw(request)
    assert.equal(200, status)
    assert.matches("<kept></kept>", body, 1, true)
    assert.matches("<client>127.0.0.1</client>", body, 1, true)
    local records = audit_lines("--method forge")
    local record = records[#records] or ""
    assert.matches('"client":"127.0.0.1"', record, 1, true)
    assert.matches('"request_id":"true-id-1"', record, 1, true)
    assert.matches('"method":"forge","params":{"note":"x"}', record, 1, true)
  end)

  it("reads the call with pairs, ipairs, next, # and rawget, and refuses every write", function()
    local reply = gw:call("walk", gateway.taskgroup_params(40, { { 401, 1 }, { 402, 2 }, { 403, 3 } }))
    for _, expected in ipairs({ "<keys>5</keys>", "<len>3</len>", "<rawlen>3</rawlen>", "<listed>3</listed>",
      "<nexts>3</nexts>", "<first>401</first>", "<hidden>true</hidden>", "<wrote></wrote>" }) do
      assert.matches(expected, reply, 1, true)
    end
  end)
end)
