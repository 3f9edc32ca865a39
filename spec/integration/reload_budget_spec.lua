-- A reload runs on a live gateway while clients wait: the rules' own code in it (every file's
-- top-level code and the self-checks, all files together) has twice the call limit, not the
-- boot budget of a gateway that is not yet listening. A reload that runs over fails with
-- file:line, and the old rules keep serving. The bounds are far below what the same reload
-- held the loop for before (20 call limits), and wide enough for a loaded machine.
local gateway = require "helpers.gateway"
local socket = require "socket"

local SLOWER = os.getenv("TASKGATE_SANITIZED") and 4 or 1
local LIMIT_MS = 100 * SLOWER
local PING = "return function(call) return { answer = %q } end\n"
-- Top-level code that spins for `share` of the rules' budget (2 * LIMIT_MS) by the clock.
local SPIN = "local started = clock.now()\nwhile clock.now() - started < %f do end\n" .. PING

-- Calls ping again and again for `seconds`; returns the longest wait and the last answer.
local function keep_calling(gw, seconds)
  local longest, answer = 0, nil
  local until_time = socket.gettime() + seconds
  repeat
    local started = socket.gettime()
    local body = gw:call("ping")
    longest = math.max(longest, socket.gettime() - started)
    answer = body:match("<answer>(.-)</answer>")
  until socket.gettime() > until_time
  return longest, answer
end

local function reload_failed(gw)
  for _ = 1, 250 do
    local line = gw:log():match("[^\n]*event=reload_failed[^\n]*")
    if line then return line end
    socket.sleep(0.02)
  end
end

describe("a reload's rule code", function()
  local gw, dir
  before_each(function()
    dir = gateway.rules_dir({ ping = PING:format("old") })
    gw = gateway.start({ rules = dir, args = "--lua-time-limit " .. LIMIT_MS })
  end)
  after_each(function() gw:stop() end)

  it("that loops at the top of a file fails within the bound, names file:line, and the old rules serve", function()
    gateway.write_file(dir .. "/loop.lua", "local n = 0\nwhile true do n = n + 1 end\nreturn function() end\n")
    local longest, answer = keep_calling(gw, 1.5 * SLOWER)
    local line = reload_failed(gw)
    assert.truthy(line, "no reload_failed line")
    assert.matches("kept=old", line, 1, true)
    assert.matches("/loop.lua:2: time limit of " .. 2 * LIMIT_MS .. " ms exceeded", line, 1, true)
    local _, status = gw:admin("/status")
    assert.matches('"last_reload":{"ok":false', status, 1, true)
    assert.matches("loop.lua:2:", status, 1, true)
    assert.equal("old", answer)
    -- the loop thread was held for the rules' budget and the runtime's own loading, not 20 limits
    assert.is_true(longest < 10 * LIMIT_MS / 1000, string.format("a call waited %.2f s", longest))
  end)

  -- Top-level code that stays in one C function of the table library: over a proxy whose
  -- metamethods are C functions (no Lua instruction runs), or over a __len alone (nothing is
  -- called at all). Before, the first held the loop for 2 s (1 << 25) or for good (1 << 40).
  for name, line in pairs({
    c_proxy = 'table.insert(setmetatable({}, { __index = type, __newindex = rawequal, __len = function() return 1 << 40 end }), 1, "x")',
    len_only = 'table.remove(setmetatable({}, { __len = function() return 1 << 40 end }), 1)',
  }) do
    it("that loops in a table function (" .. name .. ") fails within the bound, and the old rules serve", function()
      gateway.write_file(dir .. "/tloop.lua", "local x = 1\n" .. line .. "\nreturn function() end\n")
      local longest, answer = keep_calling(gw, 1.5 * SLOWER)
      local failed = reload_failed(gw)
      assert.truthy(failed, "no reload_failed line")
      assert.matches("/tloop.lua:2: time limit of " .. 2 * LIMIT_MS .. " ms exceeded", failed, 1, true)
      assert.equal("old", answer)
      assert.is_true(longest < 10 * LIMIT_MS / 1000, string.format("a call waited %.2f s", longest))
      -- taskgate check on the same tree: the boot budget (20 call limits), then a clear failure
      local started = socket.gettime()
      local out, code = gateway.run(string.format("%s check --rules %s --lua-time-limit %d", gateway.binary, dir, LIMIT_MS))
      assert.is_not.equal(0, code)
      assert.matches("tloop.lua:2: time limit", out, 1, true)
      assert.is_true(socket.gettime() - started < 40 * LIMIT_MS / 1000, "check took too long")
    end)
  end

  it("is one budget for all files together", function()
    -- each file alone stays within the budget; the two together do not
    local share = 0.7 * 2 * LIMIT_MS / 1000
    gateway.write_file(dir .. "/.a.tmp", SPIN:format(share, "a"))
    gateway.write_file(dir .. "/.b.tmp", SPIN:format(share, "b"))
    os.rename(dir .. "/.a.tmp", dir .. "/spin_a.lua")
    os.rename(dir .. "/.b.tmp", dir .. "/spin_b.lua")
    local line = reload_failed(gw)
    assert.truthy(line, "no reload_failed line")
    assert.matches("/spin_b.lua:2: time limit of " .. 2 * LIMIT_MS .. " ms exceeded", line, 1, true)
    assert.equal("<answer>old</answer>", gw:call("ping"):match("<answer>.-</answer>"))
  end)

  it("within its budget reloads as before", function()
    gateway.write_file(dir .. "/spin_a.lua", SPIN:format(0.3 * 2 * LIMIT_MS / 1000, "a"))
    gateway.write_file(dir .. "/ping.lua", PING:format("new"))
    local deadline = socket.gettime() + 3 * SLOWER
    local answer
    repeat
      answer = gw:call("ping"):match("<answer>(.-)</answer>")
      socket.sleep(0.02)
    until answer == "new" or socket.gettime() > deadline
    assert.equal("new", answer)
  end)
end)
