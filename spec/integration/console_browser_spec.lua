-- The web console in a real headless browser: spec/browser/console_browser.py drives Debian's
-- chromium through chromium-driver (python3-selenium) against a gateway started here, and each
-- of its checks is one test below.
local dkjson = require "dkjson"
local gateway = require "helpers.gateway"

local root = os.getenv("TASKGATE_ROOT") or "."

-- The sanitizer pass skips it: the console's C code runs under ASan in console_spec.lua, and the
-- browser adds half a minute to each pass.
if os.getenv("TASKGATE_SANITIZED") then return end

describe("the console in a browser", function()
  local results, gw, dir = {}, nil, nil

  setup(function()
    dir = gateway.tmpdir()
    local rules = gateway.rules_dir()
    gateway.write_file(dir .. "/console-token", "floor-pass-0123456789\n")
    gw = gateway.start({ rules = rules, args = "--console-token-file " .. dir .. "/console-token" })
    local out = gateway.run(string.format("%s %s/spec/browser/console_browser.py --task-port %d --admin-port %d "
      .. "--rules %s --password floor-pass-0123456789", gateway.python, root, gw.port, gw.admin_port, rules))
    for line in out:gmatch("[^\n]+") do
      local result = line:match("^{") and dkjson.decode(line)
      if result then results[result.name] = result else io.stderr:write(line, "\n") end
    end
  end)

  teardown(function() gw:stop() end)

  local function passed(name)
    local result = results[name] or results["the browser starts"]
    assert(result, "the browser checks did not run: " .. name)
    assert(result.ok, result.name .. ": " .. result.message)
  end

  for _, name in ipairs({
    "the page asks for the token once, keeps it for the tab and never puts it in a URL",
    "each view loads without console errors",
    "a cancel_task sent over HTTP appears in the calls view within 2 s with its fault's name",
    "the calls view filters by method, outcome, client and task id, from a link",
    "pausing the calls stream stops new rows and says how many calls came meanwhile",
    "the calls view stays responsive while calls pour in, paused or not",
    "opening a port and a bin shows in the ports view",
    "saving a broken rule shows the failed reload with file:line",
    "the queue view's order matches what openbin then picks",
    "searching a task shows where its group stands",
    "the audit view shows who created and cancelled a task",
    "the health view charts calls and faults by code",
    "no view logged a console error",
  }) do
    it(name, function() passed(name) end)
  end
end)
