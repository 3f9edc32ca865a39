-- The documentation's own client snippets, run unchanged but for the port, print the
-- documented replies.
local gateway = require "helpers.gateway"

local function run_snippet(interpreter, file, port, prelude)
  local text = gateway.read_file(file):gsub(":44000/", ":" .. port .. "/")
  local dir = gateway.tmpdir()
  local path = dir .. "/" .. file:match("[^/]+$")
  local f = assert(io.open(path, "w"))
  f:write(prelude or "", text)
  f:close()
  local p = io.popen(interpreter .. " " .. path .. " 2>&1")
  local out = p:read("a")
  p:close()
  return out
end

local root = os.getenv("TASKGATE_ROOT") or "."
local python = os.getenv("TASKGATE_PYTHON") or "/usr/bin/python3"

describe("the documentation's client snippets", function()
  local gw
  before_each(function()
    gw = gateway.start()
    assert.equal(gateway.OK, gw:call("create_taskgroup", gateway.taskgroup_params(1, { { 123004, 5 }, { 123005, 6 } })))
  end)
  after_each(function() gw:stop() end)

  it("Python requests prints the documented success reply, then 1017", function()
    local file = root .. "/spec/seed/cancel_task.py"
    assert.equal(gateway.OK .. "\n", run_snippet(python, file, gw.port, "import requests\n"))
    assert.equal(gateway.fault(1017) .. "\n", run_snippet(python, file, gw.port, "import requests\n"))
  end)

  it("JavaScript fetch prints the documented success reply, then 1017", function()
    local file = root .. "/spec/seed/cancel_task.js"
    assert.equal(gateway.OK .. "\n", run_snippet("node", file, gw.port))
    assert.equal(gateway.fault(1017) .. "\n", run_snippet("node", file, gw.port))
  end)
end)
