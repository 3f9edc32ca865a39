-- No request and no rule can freeze the gateway: client text is scanned in linear time, and
-- every C function a rule can reach stops at the call's time limit (LIMIT_MS). Each case
-- measures what its answer cost and bounds it twice, far below the minutes (or hours) the same
-- request or rule took before:
-- - the gateway's CPU time (user and system, all its threads) while it answered: a loaded
--   machine delays the answer but does not make the gateway's own work grow, so this bound can
--   be tight (CPU_BOUND, a few time limits);
-- - the wall time of the answer and of another client's answer meanwhile (BOUND): that one
--   waits on the scheduler too, so it is far above the limit.
-- The ASan+UBSan build is a -O0 build whose every allocation is checked: its bounds are SLOWER
-- times as long (a call making 5,000 tables took 24 ms there, 6.6 ms in the release build).
local gateway = require "helpers.gateway"
local socket = require "socket"

local SLOWER = os.getenv("TASKGATE_SANITIZED") and 4 or 1
local BOUND = 1.5 * SLOWER
local CPU_BOUND = 0.5 * SLOWER
local LIMIT_MS = 50 * SLOWER -- the default; the rules' start-up self-check runs under it too
local MIB = 1024 * 1024

-- The gateway's CPU seconds so far, all threads (user and system time from /proc).
local function cpu_seconds(gw)
  local f = assert(io.open("/proc/" .. gw.pid .. "/stat"))
  local stat = f:read("a")
  f:close()
  local fields = {}
  for field in stat:match("%) (.*)"):gmatch("%S+") do fields[#fields + 1] = field end
  return (tonumber(fields[12]) + tonumber(fields[13])) / 100 -- utime, stime in ticks of 1/100 s
end

-- Sends request on a connection of its own; returns a function that reads the reply and gives
-- its body and the seconds since sending.
local function send(gw, request)
  local started = socket.gettime()
  local conn = gw:connect()
  conn:settimeout(120)
  assert(conn:send(request))
  return function()
    local status, _, body = gateway.read_response(conn)
    conn:close()
    assert.equal(200, status)
    return body, socket.gettime() - started
  end
end

local function call(name, params_xml) return gateway.post_request(gateway.methodcall(name, params_xml)) end
local function json_call(body)
  return string.format("POST /api/v2/task HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
    #body, body)
end
local function bin_call(name, params_xml) return gateway.post_request(gateway.methodcall(name, params_xml), nil, "/api/v2/bin") end

-- Sends request, and a normal call from another client right after it; both must be answered
-- within BOUND, the normal one correctly. Returns the reply to request.
local function answered_promptly_beside_another(gw, request)
  local cpu_before = cpu_seconds(gw)
  local slow = send(gw, request)
  local other = send(gw, call("cancel_task", "<task_id>987654</task_id>"))
  local other_body, other_seconds = other()
  local body, seconds = slow()
  local cpu = cpu_seconds(gw) - cpu_before
  assert.equal(gateway.fault(1017), other_body)
  assert.is_true(cpu < CPU_BOUND, string.format("the gateway worked %.2f s of CPU time", cpu))
  assert.is_true(other_seconds < BOUND, string.format("the other client waited %.2f s", other_seconds))
  assert.is_true(seconds < BOUND, string.format("the answer took %.2f s", seconds))
  return body
end

local spaces = string.rep(" ", MIB - 400)

describe("client text", function()
  local gw
  -- A 1 MiB value costs a few ms of Lua time (copying it in, trimming it); on a loaded machine,
  -- or under the sanitizers, that can pass 50 ms of wall time. More time changes nothing for
  -- linear work (the CPU bound tells): the quadratic trim took an hour either way.
  setup(function() gw = gateway.start({ args = "--lua-time-limit " .. 250 * SLOWER }) end)
  teardown(function() gw:stop() end)

  it("answers at once a parameter with a 1 MiB run of whitespace inside it", function()
    local body = answered_promptly_beside_another(gw, call("cancel_task", "<task_id>1" .. spaces .. "2</task_id>"))
    assert.equal(gateway.fault(1012), body)
  end)

  it("accepts a value padded with 1 MiB of whitespace, and refuses one of whitespace only", function()
    local half = spaces:sub(1, #spaces // 2)
    assert.equal(gateway.fault(1017),
      answered_promptly_beside_another(gw, call("cancel_task", "<task_id>" .. half .. "987654\t\n" .. half .. "</task_id>")))
    assert.equal(gateway.fault(1012), answered_promptly_beside_another(gw, call("cancel_task", "<task_id>" .. spaces .. "</task_id>")))
  end)

  it("answers at once a text parameter and a time with whitespace runs inside them", function()
    local params = "<taskgroup_id>5</taskgroup_id><category>1</category><priority>1</priority>"
      .. "<req_time>2024-05-01T08:00:00Z" .. spaces:sub(1, 300000) .. "x</req_time>"
      .. "<tasks><task><task_id>5</task_id><bin_id>5</bin_id><item>a" .. spaces:sub(1, 300000) .. "b</item></task></tasks>"
    assert.equal(gateway.fault(1008), answered_promptly_beside_another(gw, call("create_taskgroup", params)))
  end)

  it("answers at once the JSON form and the bin interface with 1 MiB runs of whitespace", function()
    local json_fault = '{"fault":{"code":%d}}'
    assert.equal(json_fault:format(1012),
      answered_promptly_beside_another(gw, json_call('{"method":"cancel_task","params":{"task_id":"1' .. spaces .. '2"}}')))
    assert.equal(json_fault:format(1901),
      answered_promptly_beside_another(gw, json_call('{"method":"cancel' .. spaces .. 'task","params":{}}')))
    assert.equal(json_fault:format(1017), answered_promptly_beside_another(gw,
      json_call('{"method":"cancel_task",' .. spaces:sub(1, MIB // 2) .. '"params":{"task_id":"' .. spaces:sub(1, MIB // 4) .. '987654"}}')))
    assert.equal(gateway.fault(1010), answered_promptly_beside_another(gw, bin_call("getbinstate", "<bin_id>1" .. spaces .. "2</bin_id>")))
  end)

  it("answers at once a method name with a 1 MiB run of whitespace inside it or around it", function()
    assert.equal(gateway.fault(1901), answered_promptly_beside_another(gw, call("cancel" .. spaces .. "task")))
    local half = spaces:sub(1, #spaces // 2)
    assert.equal(gateway.fault(1017),
      answered_promptly_beside_another(gw, call(half .. "cancel_task" .. half, "<task_id>987654</task_id>")))
  end)
end)

-- Rules whose one C call ran for minutes (patterns) or seconds (the rest) before.
local runaway = {
  lazy_find = [[return function(call) return { r = tostring(string.rep("a", 300):find(".-.-.-.-b")) } end]],
  lazy_match_method = [[return function(call) return { r = tostring(("a"):rep(300):match("^(.-)%s*(.-)%s*(.-)%s*(.-)b")) } end]],
  lazy_gsub = [[return function(call) return { r = (string.gsub(string.rep("a", 400), ".-.-.-.-b", "")) } end]],
  lazy_gmatch = [[return function(call) for m in string.rep("a", 400):gmatch(".-.-.-.-b") do end return {} end]],
  balanced = [[return function(call) local s = string.rep("(", 4 * 2^20) return { r = tostring(s:find("%b()")) } end]],
  caught_in_pcall = [[return function(call)
  local s = string.rep("a", 300)
  while true do pcall(string.find, s, ".-.-.-.-b") end
end]],
  rep_forever = [[return function(call) local n = 0 while true do n = n + #string.rep("ab", 8 * 2^20 - 1) end end]],
  rep_too_big = [[return function(call) return { n = #string.rep("x", 2^40) } end]],
  pack_padding = [[return function(call) return { n = #string.pack("c" .. 2^24, "") } end]],
  unpack_format = [[return function(call) return { n = select("#", string.unpack(string.rep("x", 2^22), "")) } end]],
  sort_big = [[return function(call)
  local t = {}
  for i = 1, 400000 do t[i] = (i * 7919) % 400000 end
  while true do table.sort(t) end
end]],
  sort_c_order = [[return function(call)
  local t = {}
  for i = 1, 400000 do t[i] = i end
  while true do table.sort(t, rawequal) end
end]],
  move_huge = [[return function(call) table.move({}, 1, 1e12, 2) return {} end]],
  format_long = [[return function(call) local f = ("%%"):rep(8 * 2^20 - 1) while true do local _ = f:format() end end]],
  format_quoted = [[return function(call) local s = ("x"):rep(8 * 2^20) while true do local _ = ("%q"):format(s) end end]],
  -- The table library's loops over a proxy whose metamethods are C functions (type, rawequal):
  -- no Lua instruction runs, only calls; and over a __len alone, or a chain of __index tables,
  -- nothing is called at all.
  insert_c_proxy = [[return function(call)
  local p = setmetatable({}, { __index = type, __newindex = rawequal, __len = function() return 1 << 40 end })
  table.insert(p, 1, "x")
  return {}
end]],
  remove_c_proxy = [[return function(call)
  local p = setmetatable({}, { __index = type, __newindex = rawequal, __len = function() return 1 << 40 end })
  table.remove(p, 1)
  return {}
end]],
  insert_len_only = [[return function(call)
  table.insert(setmetatable({}, { __len = function() return 1 << 40 end }), 1, "x")
  return {}
end]],
  remove_len_only = [[return function(call)
  table.remove(setmetatable({}, { __len = function() return 1 << 40 end }), 1)
  return {}
end]],
  unpack_c_proxy = [[return function(call)
  local p = setmetatable({}, { __index = rawequal })
  while true do select("#", table.unpack(p, 1, 990000)) end
end]],
  concat_c_proxy = [[return function(call)
  local p = setmetatable({}, { __index = type })
  while true do local s = table.concat(p, "", 1, 1 << 40) end
end]],
  pcall_c_proxy = [[return function(call) -- each step calls pcall, which catches what it calls
  local q = {}
  setmetatable(q, { __index = pcall, __newindex = pcall, __call = type, __len = function() return 1 << 40 end })
  table.insert(q, 1, "x")
  return {}
end]],
  unpack_chain = [[return function(call)
  local p = {}
  for _ = 1, 1990 do p = setmetatable({}, { __index = p }) end
  while true do select("#", table.unpack(p, 1, 990000)) end
end]],
  concat_chain = [[return function(call)
  local p = {}
  for i = 1, 100000 do p[i] = "x" end
  for _ = 1, 1990 do p = setmetatable({}, { __index = p }) end
  while true do local s = table.concat(p, "", 1, 100000) end
end]],
  insert_chain = [[return function(call)
  local p = {}
  for _ = 1, 1990 do p = setmetatable({}, { __index = p, __newindex = p, __len = function() return 1000000 end }) end
  table.insert(p, 1, "x")
  return {}
end]],
  upper_big = [[return function(call) local s = string.rep("a", 15 * 2^20) while true do s = s:upper():lower():reverse() end end]],
  big_reply = [[return function(call)
  local s, t = string.rep("x", 8 * 2^20), {}
  for i = 1, 1000 do t["k" .. i] = s end
  return t
end]],
  big_audit = [[return function(call)
  local s, t = string.rep("x", 8 * 2^20), {}
  for i = 1, 1000 do t["k" .. i] = s end
  audit.record(call, t)
  return {}
end]],
  big_log = [[return function(call)
  local t = {}
  for i = 1, 200000 do t["k" .. i] = i end
  while true do log.error("many fields", t) end
end]],
}

describe("rules whose work runs in C", function()
  local gw
  setup(function()
    gw = gateway.start({ rules = gateway.rules_dir(runaway), args = "--log-level error --lua-time-limit " .. LIMIT_MS })
  end)
  teardown(function() gw:stop() end)

  local names = {}
  for name in pairs(runaway) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    it("answers 1999 to " .. name .. " within the bound, and other clients are served meanwhile", function()
      assert.equal(gateway.fault(1999), answered_promptly_beside_another(gw, call(name)))
    end)
  end

  it("stops them as timeouts, the error raised once (never inside its own raise)", function()
    for _, name in ipairs({ "insert_c_proxy", "concat_chain", "pcall_c_proxy" }) do
      assert.equal(gateway.fault(1999), gw:call(name))
      assert.matches(name .. "%.lua:%d+: time limit of " .. LIMIT_MS .. " ms exceeded", gw:log())
    end
    assert.is_nil(gw:log():find("error in error handling", 1, true))
    assert.is_nil(gw:log():find("stack overflow", 1, true))
  end)
end)

describe("with two workers sharing the store", function()
  local gw
  setup(function()
    gw = gateway.start({
      rules = gateway.rules_dir(runaway), args = "--workers 2 --log-level error --lua-time-limit " .. LIMIT_MS,
    })
  end)
  teardown(function() gw:stop() end)

  it("serves the other worker's clients while a runaway pattern runs", function()
    local runs = {}
    for i = 1, 4 do runs[i] = send(gw, call("lazy_find")) end
    for _ = 1, 10 do
      local body, seconds = send(gw, call("cancel_task", "<task_id>987654</task_id>"))()
      assert.equal(gateway.fault(1017), body)
      assert.is_true(seconds < BOUND, string.format("a cancel waited %.2f s", seconds))
    end
    for i = 1, 4 do assert.equal(gateway.fault(1999), (runs[i]())) end
  end)

  -- Measured by the process's exit: the calls in flight end at their limit, and the drain waits
  -- for clients that neither read nor close (these four) a quarter second, not the 2 s linger.
  it("exits at SIGTERM within the bound while runaway patterns and table loops keep coming", function()
    local runs = {}
    for i = 1, 2 do runs[i] = send(gw, call("lazy_find")) end
    for i = 3, 4 do runs[i] = send(gw, call("insert_c_proxy")) end
    local started = socket.gettime()
    assert.is_true(gw:stop())
    local seconds = socket.gettime() - started
    assert.is_true(seconds < BOUND, string.format("exited %.2f s after SIGTERM", seconds))
  end)
end)

-- Lua runs a finalizer (__gc) with the hook off: the time limit cannot stop it, and it runs when
-- no call owns the moment (the collection after a failed call, a reload closing the old
-- generation, shutdown, or another call's transaction). Rules may not set one.
local finalizers = {
  spin_gc = [[return function(call)
  for i = 1, 100 do setmetatable({}, { __gc = function() while true do end end }) end
  return {}
end]],
  cancel_gc = [[return function(call)
  setmetatable({}, { __gc = function() store.cancel_task(7) end })
  return {}
end]],
  caught_gc = [[return function(call)
  local ok, err = pcall(setmetatable, {}, { __gc = function() while true do end end })
  local t = setmetatable({}, {})
  local later = pcall(function() getmetatable(t).__gc = function() while true do end end end) -- refused too
  return { refused = tostring(not ok), said = tostring(err):match("__gc"), later = tostring(not later) }
end]],
  spin_and_gc = [[return function(call)
  pcall(setmetatable, {}, { __gc = function() while true do end end })
  while true do end
end]],
  api_metatable_gc = [[return function(call) -- a metatable the API made, given __gc after it was set
  local mt = getmetatable(reply.list({ 1 }))
  mt.__gc = function() while true do end end
  return {}
end]],
  -- To-be-closed variables' __close runs at the scope's end, when the rule fails, and when a
  -- coroutine holding one is closed: always inside the call, under its limit.
  close_spin_error = [[return function(call)
  local x <close> = setmetatable({}, { __close = function() while true do end end })
  error("fails")
end]],
  close_spin_yield = [[return function(call) -- the gateway closes a coroutine that yields outside a network wait
  local x <close> = setmetatable({}, { __close = function() while true do end end })
  coroutine.yield()
end]],
  close_spin_nested = [[return function(call)
  local co = coroutine.create(function()
    local x <close> = setmetatable({}, { __close = function() while true do end end })
    coroutine.yield()
  end)
  coroutine.resume(co)
  coroutine.close(co)
  return {}
end]],
  -- Weak tables: Lua reads __mode at every collection, and weak-keyed tables chained so that each
  -- pass of the collector's atomic phase (no hook runs in it) resolves one link cost O(n^2): built a
  -- little per call, 24,000 links froze every later call, any client's, for seconds.
  ephemeron_chain = [[
local arr, root, last, n = {}, nil, nil, 0
local weak = { __mode = "k" }
local function pos(j) return (j == 1) and 0 or ((j % 2 == 0) and -(j // 2) or (j // 2)) end
return function(call)
  for _ = 1, 2000 do
    n = n + 1
    local key = {}
    if n == 1 then root = key else arr[pos(n - 1) + 100000][last] = key end
    arr[pos(n) + 100000] = setmetatable({}, weak)
    last = key
  end
  return { n = n }
end]],
  mode_later = [[return function(call)
  local mt = {}
  local t = setmetatable({}, mt)
  mt.__mode = "k"
  return {}
end]],
  mode_on_its_metatable_later = [[return function(call)
  local mm = {}
  local mt = setmetatable({}, mm)
  setmetatable({}, mt)
  mm.__mode = "k"
  return {}
end]],
  mode_api_metatable = [[return function(call) getmetatable(reply.list({ 1 })).__mode = "k" return {} end]],
  mode_api_object = [[return function(call)
  local list = reply.list({ 1 })
  setmetatable({}, list)
  list.__mode = "k"
  return {}
end]],
  classes = [[return function(call)
  local Base = {}
  Base.__index = Base
  function Base.hello() return "hi" end
  local Derived = setmetatable({}, { __index = Base })
  Derived.__index = Derived
  local object = setmetatable({}, Derived)
  Derived.__tostring = function() return "derived" end -- a metamethod added after use still counts
  return { said = object.hello(), same = tostring(getmetatable(object) == Derived),
           base = tostring(getmetatable(Derived).__index == Base), str = tostring(object) }
end]],
  garbage = [[return function(call)
  local t = {}
  for i = 1, 1000 do t[i] = { i } end
  return { n = #t }
end]],
}

describe("finalizers set by rules", function()
  local gw
  setup(function()
    -- Each call's own work is small, but a loaded machine can stretch any call past 50 ms.
    gw = gateway.start({ rules = gateway.rules_dir(finalizers), args = "--log-level info --lua-time-limit " .. 250 * SLOWER })
    assert.equal(gateway.OK, gw:call("create_taskgroup", gateway.taskgroup_params(3, { { 7, 7 } })))
  end)
  teardown(function() gw:stop() end)

  it("are refused at setmetatable, so none can hang a call, the collection after it, or another call", function()
    assert.equal(gateway.fault(1999), answered_promptly_beside_another(gw, call("spin_gc")))
    assert.matches("rules may not set __gc", gw:log())
    assert.equal(gateway.fault(1999), answered_promptly_beside_another(gw, call("cancel_gc")))
    assert.equal(gateway.fault(1999), answered_promptly_beside_another(gw, call("spin_and_gc")))
    local reply = answered_promptly_beside_another(gw, call("caught_gc"))
    assert.matches("<refused>true</refused>", reply)
    assert.matches("<said>__gc</said>", reply)
    assert.matches("<later>true</later>", reply)
    assert.equal(gateway.fault(1999), answered_promptly_beside_another(gw, call("api_metatable_gc"))) -- not a rule's to see
    for _ = 1, 150 do assert.matches("<n>1000</n>", gw:call("garbage")) end -- a few collections' worth
    assert.matches("<task_id>7</task_id>", gw:call("gettaskinfo", "<task_id>7</task_id>"))
  end)

  it("cannot make weak tables, at setmetatable or later, nor through the gateway's metatables", function()
    for _, name in ipairs({ "ephemeron_chain", "mode_later", "mode_on_its_metatable_later" }) do
      assert.equal(gateway.fault(1999), answered_promptly_beside_another(gw, call(name)))
      assert.matches(name .. "%.lua:%d+: rules may not set __mode", gw:log())
    end
    assert.equal(gateway.fault(1999), answered_promptly_beside_another(gw, call("mode_api_metatable")))
    assert.equal(gateway.fault(1999), answered_promptly_beside_another(gw, call("mode_api_object")))
    assert.matches("mode_api_object%.lua:%d+: rules may not use the gateway's objects as metatables", gw:log())
    local reply = gw:call("classes") -- metatables of the rule's own work as Lua's
    assert.matches("<said>hi</said>", reply)
    assert.matches("<same>true</same>", reply)
    assert.matches("<base>true</base>", reply)
    assert.matches("<str>derived</str>", reply)
  end)

  it("leave __close handlers, which run inside the call, under its time limit", function()
    for _, name in ipairs({ "close_spin_error", "close_spin_yield", "close_spin_nested" }) do
      assert.equal(gateway.fault(1999), answered_promptly_beside_another(gw, call(name)))
    end
  end)

  it("cannot hang a reload closing the old generation, nor shutdown", function()
    for _ = 1, 3 do gw:call("caught_gc") gw:call("api_metatable_gc") end
    local started = socket.gettime()
    os.execute("kill -HUP " .. gw.pid)
    for _ = 1, 300 do
      if gw:log():find("event=reloaded", 1, true) then break end
      socket.sleep(0.01)
    end
    assert.matches("event=reloaded", gw:log())
    for _ = 1, 3 do gw:call("caught_gc") end
    for _ = 1, 5 do gw:call("garbage") end
    assert.is_true(gw:stop())
    assert.is_true(socket.gettime() - started < 2 * BOUND)
  end)

  it("is refused in a rule file's own code, which then does not load", function()
    local dir = gateway.rules_dir({ loads_gc = "setmetatable({}, { __gc = function() end })\nreturn function() return {} end\n" })
    local out, code = gateway.run(string.format("%s --listen 127.0.0.1:0 --rules %s --store %s/s.db", gateway.binary,
      dir, gateway.tmpdir()))
    assert.is_not.equal(0, code)
    assert.matches("loads_gc%.lua:1: rules may not set __gc", out)
  end)
end)

-- Weak tables: the collector settles chains of weak-keyed tables (ephemerons) in its atomic
-- phase, one step that runs no hook, in time quadratic in their length, and in whichever call
-- allocates next: a chain a rule kept in its locals froze every later call (16,000 links: 2.4 s
-- of one unrelated cancel_task). Each rule below builds such a chain, a little per call, making
-- its weak tables one way; every way is refused, so the chain stays plain and costs nothing.
local CHAIN = [[
local arr, root, last, N = {}, nil, nil, 0
local OFF = 100000
-- Link j sits at +-j/2: each of the collector's passes over the tables settles one link.
local function pos(j) return (j == 1) and 0 or ((j %% 2 == 0) and -(j // 2) or (j // 2)) end
local shared_mt = {}
local function weak_table()
  %s
end
return function(call)
  local refused = 0
  for _ = 1, tonumber(call.params.add) do
    N = N + 1
    local key = {}
    if N == 1 then root = key else arr[pos(N - 1) + OFF][last] = key end
    local made, t = pcall(weak_table)
    if not made then refused, t = refused + 1, {} end
    arr[pos(N) + OFF] = t
    last = key
  end
  return { n = N, refused = refused }
end]]
local weak_ways = {
  -- the review's case
  weak_set = "return setmetatable({}, { __mode = 'k' })",
  -- __mode added to a metatable already set, which every earlier table shares
  weak_late = "local t = setmetatable({}, shared_mt)\n  shared_mt.__mode = 'k'\n  return t",
  -- added through a __newindex table that is the metatable itself
  weak_redirect = "local mt = {}\n  mt.__newindex = mt\n  local t = setmetatable({}, mt)\n  t.__mode = 'k'\n  return t",
  -- a class's metatable, reached through __index
  weak_class = "local C = {}\n  C.__index = C\n  local o = setmetatable({}, C)\n  o.__index.__mode = 'k'\n  return o",
  -- a metatable the API made, reached through getmetatable
  weak_api = "local t = reply.list({})\n  getmetatable(t).__mode = 'k'\n  return t",
  weak_record = "local t = reply.record({ 'a' }, {})\n  getmetatable(t).__mode = 'k'\n  return t",
  -- the API's own setmetatable over a metatable in use (reply.list took its guard away)
  weak_reshaped = "local mt = {}\n  local t = setmetatable({}, mt)\n  reply.list(mt)\n  mt.__mode = 'k'\n  return t",
}
local weak_rules = {
  -- what allocates next: ~20,000 small tables, a collection or two
  allocate = "return function(call) local t = {} for i = 1, 20000 do t[i] = { i } end return { n = #t } end",
}
for name, way in pairs(weak_ways) do weak_rules[name] = string.format(CHAIN, way) end

describe("weak tables made by rules", function()
  local gw
  setup(function()
    -- A loaded machine can stretch a call making 20,000 tables far past 50 ms; the bounds on
    -- CPU time and on another client's wait are what this measures.
    gw = gateway.start({ rules = gateway.rules_dir(weak_rules), args = "--log-level info --lua-time-limit " .. 1000 * SLOWER })
  end)
  teardown(function() gw:stop() end)

  local names = {}
  for name in pairs(weak_ways) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    it("are refused (" .. name .. "), so a chain of them never holds a later call", function()
      local reply
      for _ = 1, 8 do reply = gw:call(name, "<add>2000</add>") end
      assert.matches("<n>16000</n>", reply)
      assert.matches("<refused>2000</refused>", reply)
      for _ = 1, 3 do assert.matches("<n>20000</n>", answered_promptly_beside_another(gw, call("allocate"))) end
    end)
  end

  it("name the rule's line in the refusal", function()
    local dir = gateway.rules_dir({ weak_file = "local t = {}\nsetmetatable(t, { __mode = 'k' })\nreturn function() return {} end\n" })
    local out, code = gateway.run(string.format("%s --listen 127.0.0.1:0 --rules %s --store %s/s.db", gateway.binary,
      dir, gateway.tmpdir()))
    assert.is_not.equal(0, code)
    assert.matches("weak_file%.lua:2: rules may not set __mode", out)
    local single = gateway.rules_dir({ weak_late_file = "local mt = {}\nlocal t = setmetatable({}, mt)\nmt.__mode = 'v'\nreturn function() return {} end\n" })
    out = gateway.run(string.format("%s --listen 127.0.0.1:0 --rules %s --store %s/s.db", gateway.binary,
      single, gateway.tmpdir()))
    assert.matches("weak_late_file%.lua:3: rules may not set __mode", out)
  end)
end)
