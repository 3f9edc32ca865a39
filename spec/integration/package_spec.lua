-- The Debian package, for real: built with debhelper from the tracked files (scripts/package),
-- lintian clean, installed with dpkg, edited as a site would, upgraded to a second build, and
-- the site's rules and config are still there and still serve. Installs on this machine, so it
-- runs as root, one run at a time (a lock), and only where taskgate is not installed otherwise;
-- once per suite (not again under the sanitizers: the package does not use the binary under
-- test). About 60 s.
local gateway = require "helpers.gateway"
local socket = require "socket"

local run = gateway.run
local root = os.getenv("TASKGATE_ROOT") or "."

local function sh(cmd)
  local out, code = run(cmd)
  assert(code == 0, cmd .. " exited " .. tostring(code) .. ":\n" .. out)
  return out
end

-- Why this machine cannot run the spec, or nil.
local function unsuitable()
  if os.getenv("TASKGATE_SANITIZED") then return "runs once, in the release pass" end
  if select(2, run("test $(id -u) = 0")) ~= 0 then return "installs a package: needs root" end
  if select(2, run("command -v dpkg-buildpackage && command -v lintian")) ~= 0 then return "needs scripts/deps" end
  if select(2, run("git -C " .. root .. " rev-parse")) ~= 0 then return "builds from git's tracked files" end
  if select(2, run("dpkg-query -W -f '${Status}' taskgate | grep -q installed")) == 0 then
    return "taskgate is installed on this machine: left alone"
  end
end

-- Holds a machine-wide lock until the returned pipe is closed (or this process ends): two spec
-- runs on one machine must not install over each other.
local function hold_lock()
  local marker = os.tmpname()
  local holder = io.popen(string.format("flock /tmp/taskgate-package-spec.lock sh -c 'echo held > %s; cat >/dev/null'", marker), "w")
  for _ = 1, 6000 do
    if (gateway.read_file(marker) or ""):find("held") then
      os.remove(marker)
      return holder
    end
    socket.sleep(0.1)
  end
  error("waited 10 minutes for /tmp/taskgate-package-spec.lock")
end

local SITE_RULE = '\n-- site: task 424242 is on a port the WMS does not know about\n'

describe("the Debian package", function()
  local why = unsuitable()
  if why then
    pending("skipped: " .. why)
    return
  end

  local work, lock, v1, v2
  local installed = {}

  setup(function()
    lock = hold_lock()
    work = gateway.tmpdir()
    -- v1: the tracked files, as scripts/package builds them
    sh(string.format("cd %s && TASKGATE_PACKAGE_WORKDIR=%s TASKGATE_PACKAGE_OUT=%s/v1 bash scripts/package", root, work, work))
    v1 = sh("ls " .. work .. "/v1/taskgate_*_*.deb | grep -v dbgsym"):match("[^\n]+")
  end)

  teardown(function()
    if installed.taskgate then run("dpkg --purge taskgate") end
    if lock then lock:close() end
  end)

  it("is lintian clean and carries no file git does not track", function()
    -- scripts/package failed the build on any lintian warning; here, the shipped rules are
    -- exactly the tracked ones, however many stray files sit beside them in the checkout
    local shipped = sh("dpkg-deb -c " .. v1 .. " | grep -o 'etc/taskgate/rules/.*' | sed 's|etc/taskgate/rules/||' | grep -v '/$' | grep . | sort")
    local tracked = sh("cd " .. root .. " && git ls-files rules | sed 's|rules/||' | sort")
    assert.equal(tracked, shipped)
    assert.equal("net", sh("dpkg-deb -f " .. v1 .. " Section"):match("%S+"))
  end)

  it("declares every library CMake builds against among its Build-Depends", function()
    -- a library added to CMakeLists.txt but not to debian/control builds here, where scripts/deps
    -- installed it, and nowhere else: each pkg-config module is traced to the package that owns it
    local control = gateway.read_file(root .. "/debian/control")
    local cmake = gateway.read_file(root .. "/CMakeLists.txt")
    local modules = 0
    for module in cmake:gmatch("pkg_check_modules%(%w+ REQUIRED IMPORTED_TARGET ([%w%.%-]+)%)") do
      local owner = sh(string.format("dpkg -S \"$(pkg-config --variable=pcfiledir %s)/%s.pc\" | cut -d: -f1", module,
        module)):match("%S+")
      assert.truthy(control:find("\n%s+" .. owner:gsub("%p", "%%%0") .. ",\n"), module .. ": " .. owner .. " is not a Build-Depends")
      modules = modules + 1
    end
    assert.is_true(modules >= 8)
  end)

  it("installs: the user, the enabled unit, the man page, /etc/taskgate as conffiles", function()
    sh("DEBIAN_FRONTEND=noninteractive dpkg -i " .. v1)
    installed.taskgate = true
    assert.matches("^taskgate:", sh("getent passwd taskgate"))
    sh("test -L /etc/systemd/system/multi-user.target.wants/taskgate.service")
    sh("test -f /usr/share/man/man8/taskgate.8.gz")
    sh("test -f /usr/share/taskgate/console/index.html")
    assert.matches("libjs%-chart%.js", sh("dpkg-query -W -f '${Depends}' taskgate"))
    local conffiles = sh("dpkg-query -W -f '${Conffiles}' taskgate")
    assert.matches("/etc/taskgate/taskgate.conf", conffiles, 1, true)
    assert.matches("/etc/taskgate/rules/cancel_task.lua", conffiles, 1, true)
    -- the installed binary reads the installed config without being told
    assert.matches("ok: /etc/taskgate/rules loads", sh("taskgate check"))
    sh("systemd-analyze verify /lib/systemd/system/taskgate.service")
    -- a site's specs run with the installed runtime and its native module, no checkout needed
    local specs = gateway.tmpdir()
    gateway.write_file(specs .. "/site_spec.lua", 'local testing = require "taskgate.testing"\n'
      .. 'describe("the site", function() it("runs its rules on a temporary store", function()\n'
      .. '  local site = testing.open("/etc/taskgate/rules")\n'
      .. '  assert.same({ fault = { code = 1017 } }, site.call("cancel_task", { task_id = "9" }))\n'
      .. '  site.close()\nend) end)\n')
    assert.matches("1 success / 0 failures", sh("cd / && /usr/bin/taskgate test " .. specs))
  end)

  it("keeps the site's edited rules and config across an upgrade", function()
    assert.is_true(installed.taskgate, "the install step ran")
    -- the site edits a rule and the config
    local rule = "/etc/taskgate/rules/cancel_task.lua"
    local edited_rule = gateway.read_file(rule):gsub("return function%(call%)\n",
      SITE_RULE .. 'return function(call)\n  if call.params.task_id == "424242" then return fault(1045) end\n', 1)
    gateway.write_file(rule, edited_rule)
    local edited_conf, edits = gateway.read_file("/etc/taskgate/taskgate.conf"):gsub("\nlog%-level = info\n",
      "\n# site: quieter\nlog-level = warn\n")
    assert.equal(1, edits)
    gateway.write_file("/etc/taskgate/taskgate.conf", edited_conf)
    -- v2: the next version changes the shipped config (which the site also edited) and a rule
    -- the site left alone, and is rebuilt in the same tree
    local tree = work .. "/taskgate"
    local changelog = gateway.read_file(tree .. "/debian/changelog")
    local version = changelog:match("^taskgate %(([^)]+)%)")
    gateway.write_file(tree .. "/debian/changelog", string.format(
      "taskgate (%s+upgrade1) unstable; urgency=medium\n\n  * Upgrade spec.\n\n -- spec <spec@example.org>  %s\n\n%s",
      version, sh("date -R"):match("[^\n]+"), changelog))
    gateway.write_file(tree .. "/packaging/taskgate.conf", gateway.read_file(tree .. "/packaging/taskgate.conf") .. "\n# v2\n")
    local add_task_v2 = gateway.read_file(tree .. "/rules/add_task.lua") .. "\n-- v2\n"
    gateway.write_file(tree .. "/rules/add_task.lua", add_task_v2)
    sh(string.format("cd %s && DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage -us -uc -b -nc >%s/v2.log 2>&1", tree, work))
    v2 = sh("ls " .. work .. "/taskgate_*+upgrade1_*.deb | grep -v dbgsym"):match("[^\n]+")
    -- upgrade as an unattended apt would: keep local edits where both sides changed
    sh("DEBIAN_FRONTEND=noninteractive dpkg --force-confdef --force-confold -i " .. v2 .. " </dev/null")
    assert.equal(version .. "+upgrade1", sh("dpkg-query -W -f '${Version}' taskgate"))
    assert.equal(edited_rule, gateway.read_file(rule))
    assert.equal(edited_conf, gateway.read_file("/etc/taskgate/taskgate.conf"))
    assert.matches("# v2", gateway.read_file("/etc/taskgate/taskgate.conf.dpkg-dist"), 1, true)
    assert.equal(add_task_v2, gateway.read_file("/etc/taskgate/rules/add_task.lua"))
  end)

  it("serves the site's edits with the upgraded binary and config", function()
    assert.truthy(v2, "the upgrade step ran")
    assert.matches("ok: /etc/taskgate/rules loads", sh("taskgate check"))
    -- as the service runs it: its user, its config; only the addresses and store move aside
    local dir = gateway.tmpdir()
    sh("chown taskgate " .. dir)
    local gw = gateway.start({ dir = dir, config = "/etc/taskgate/taskgate.conf",
      args = "--admin-listen 127.0.0.1:0 --store " .. dir .. "/store.db",
      binary = "setpriv --reuid=taskgate --regid=taskgate --init-groups /usr/bin/taskgate" })
    assert.equal(gateway.fault(1045), gw:call("cancel_task", "<task_id>424242</task_id>"))
    assert.equal(gateway.fault(1017), gw:call("cancel_task", "<task_id>5</task_id>"))
    -- the console: its page from /usr/share/taskgate/console, Chart.js from libjs-chart.js
    local status, page = gw:admin("/console/")
    assert.equal(200, status)
    assert.matches('id="login%-form"', page)
    local chart_status, chart = gw:admin("/console/chart.js")
    assert.equal(200, chart_status)
    assert.equal(gateway.read_file("/usr/share/javascript/chart.js/chart.min.js"), chart)
    gw:stop()
    assert.is_nil(gw:log():find("event=call", 1, true)) -- the site's log-level = warn holds
  end)

  it("purges cleanly: no conffile and no unit link left behind", function()
    assert.is_true(installed.taskgate, "the install step ran")
    sh("dpkg --purge taskgate")
    installed.taskgate = false
    sh("test ! -e /etc/taskgate")
    sh("test ! -e /etc/systemd/system/multi-user.target.wants/taskgate.service")
  end)
end)
