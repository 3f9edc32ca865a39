-- A second SIGTERM while the gateway drains ends it at once (event=exit_now); it leaves no pid
-- file behind that would name a pid no longer its own.
local gateway = require "helpers.gateway"
local socket = require "socket"

describe("a second SIGTERM while draining", function()
  it("exits at once and removes the pid file", function()
    local fake = gateway.fake_upstream("slow") -- keeps a call forwarded while the gateway drains
    local gw = gateway.start({ args = "--upstream " .. fake.url .. " --drain-timeout 30" })
    local pid_path = gw.store .. ".pid"
    assert.is_truthy(gateway.read_file(pid_path))
    local conn = gw:connect()
    conn:send(gateway.post_request(gateway.methodcall("cancel_task", "<task_id>1</task_id>")))
    for _ = 1, 100 do
      if fake:count(1) == 1 then break end
      socket.sleep(0.02)
    end
    os.execute("kill -TERM " .. gw.pid)
    for _ = 1, 100 do
      if gw:log():find("event=draining", 1, true) then break end
      socket.sleep(0.02)
    end
    assert.is_true(gw:stop("TERM"))
    assert.matches("event=exit_now", gw:log(), 1, true)
    assert.is_nil(gateway.read_file(pid_path))
    conn:close()
    fake:stop()
  end)
end)
