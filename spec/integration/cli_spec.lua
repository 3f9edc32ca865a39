-- The command line: help, version, bad flags, the audit command and the listen line.
local gateway = require "helpers.gateway"

local function run(args)
  return gateway.run(gateway.binary .. " " .. args)
end

describe("taskgate command line", function()
  it("prints help with every flag and its default, exit 0", function()
    local out, code = run("--help")
    assert.equal(0, code)
    for _, flag in ipairs({ "--listen", "--rules", "--store", "--log-level", "--sync", "--lua-time-limit",
      "--lua-memory-limit", "--version", "0.0.0.0:44000", "./taskgate.db", "./rules", "audit", "--admin-listen",
      "127.0.0.1:44100", "--admin-token-file", "--pid-file", "--config" }) do
      assert.matches(flag, out, 1, true)
    end
  end)

  it("prints the version, exit 0", function()
    local out, code = run("--version")
    assert.equal(0, code)
    assert.matches("^taskgate %d+%.%d+%.%d+", out)
  end)

  for _, args in ipairs({ "--bogus", "--listen", "--listen nonsense", "--listen 127.0.0.1:70000", "--log-level loud",
    "--sync sometimes", "--lua-time-limit 0", "stray", "frobnicate" }) do
    it("refuses '" .. args .. "' with a message and exit 2", function()
      local out, code = run(args)
      assert.equal(2, code)
      assert.matches("^taskgate: ", out)
    end)
  end

  it("prints the bound addresses when asked for port 0", function()
    local gw = gateway.start()
    assert.is_true(gw.port > 0)
    assert.matches("^listening on 127%.0%.0%.1:%d+\nadmin listening on 127%.0%.0%.1:(%d+)\n"
      .. "console on http://127%.0%.0%.1:%d+/console/\n$", gateway.read_file(gw.out))
    gw:stop()
  end)

  it("finds lua/ and console/ beside a copied binary, without --runtime or --console-dir", function()
    local root = os.getenv("TASKGATE_ROOT") or "."
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute(string.format("mkdir -p %s && cp %s %s/ && cp -r %s/lua %s/console %s/rules %s/", dir,
      gateway.binary, dir, root, root, root, dir)))
    local out, code = gateway.run(string.format("cd /tmp && %s/taskgate check %s/rules", dir, dir))
    os.execute("rm -rf " .. dir)
    assert.equal(0, code, out)
    assert.matches("^ok: ", out)
  end)

  it("exits 0 on SIGTERM", function()
    local gw = gateway.start()
    assert.is_true(gw:stop("TERM"))
    assert.matches("event=stopped", gw:log())
  end)

  it("reports an unusable store path and exits 1", function()
    local out, code = run("--listen 127.0.0.1:0 --store /nonexistent/dir/x.db")
    assert.equal(1, code)
    assert.matches("store", out)
  end)

  it("prints an empty audit trail for a fresh store", function()
    local gw = gateway.start()
    gw:stop()
    local out, code = run("audit --store " .. gw.store)
    assert.equal(0, code)
    assert.equal("", out)
  end)
end)
