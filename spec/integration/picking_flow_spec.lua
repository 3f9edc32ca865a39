-- An end-to-end picking flow as a WMS runs it: two groups in two categories, two ports with
-- different selects, openbin/closebin until both groups finish, cancel_task tried at each step.
local gateway = require "helpers.gateway"

local OK, F = gateway.OK, gateway.fault

-- task_id -> state ("open" or "selected:<port>") for every task gettaskinfo lists.
local function listed_tasks(body)
  local tasks = {}
  for task in body:gmatch("<task>(.-)</task>") do
    local id = tonumber(task:match("<task_id>(%d+)</task_id>"))
    local state = task:match("<state>(%w+)</state>")
    local port = task:match("<port_id>(%d+)</port_id>")
    tasks[id] = port and (state .. ":" .. port) or state
  end
  return tasks
end

describe("a picking flow", function()
  it("runs create -> openport -> openbin/closebin -> closeport with documented answers throughout", function()
    local gw = gateway.start()
    local expected = {} -- what gettaskinfo must show after each step
    local function check_info()
      assert.same(expected, listed_tasks(gw:call("gettaskinfo")))
    end

    assert.equal(OK, gw:call("create_taskgroup", gateway.taskgroup_params(1, { { 101, 11 }, { 102, 12 }, { 103, 13 }, { 104, 14 } })))
    assert.equal(OK, gw:call("create_taskgroup",
      "<taskgroup_id>2</taskgroup_id><category>2</category><req_time>2024-05-01T07:00:00Z</req_time><priority>1</priority>" ..
      "<tasks><task><task_id>201</task_id><bin_id>21</bin_id></task><task><task_id>202</task_id><bin_id>22</bin_id></task></tasks>"))
    for _, id in ipairs({ 101, 102, 103, 104, 201, 202 }) do expected[id] = "open" end
    check_info()

    assert.equal(OK, gw:call("openport", "<port_id>1</port_id><select><category>1</category></select>"))
    assert.equal(OK, gw:call("openport", "<port_id>2</port_id><select><category>2</category></select>"))

    local picked = { [1] = {}, [2] = {} }
    local cancelled_while_waiting = false
    for _ = 1, 20 do
      local progressed = false
      for _, port in ipairs({ 1, 2 }) do
        local reply = gw:call("openbin", "<port_id>" .. port .. "</port_id>")
        if reply ~= F(1015) then
          progressed = true
          local bin_id = tonumber(reply:match("<bin_id>(%d+)</bin_id>"))
          local task_id = tonumber(reply:match("<task_id>(%d+)</task_id>"))
          assert.is_number(task_id, reply)
          assert.equal(math.floor(task_id / 100), port) -- each port only gets its own category
          expected[task_id] = "selected:" .. port
          check_info()
          assert.equal(F(1045), gw:call("cancel_task", "<task_id>" .. task_id .. "</task_id>"))
          -- The other port may not take the group while this bin is open.
          local other = 3 - port
          assert.equal(F(1019), gw:call("openbin", string.format("<port_id>%d</port_id><task_id>%d</task_id>", other, task_id)))
          if port == 1 and not cancelled_while_waiting then
            -- A task of the selected group that no port has open can still be cancelled.
            assert.equal(OK, gw:call("cancel_task", "<task_id>104</task_id>"))
            expected[104] = nil
            cancelled_while_waiting = true
            check_info()
          end
          assert.equal(OK, gw:call("closebin", string.format("<port_id>%d</port_id><bin_id>%d</bin_id><task_id>%d</task_id>", port, bin_id, task_id)))
          expected[task_id] = nil
          picked[port][#picked[port] + 1] = task_id
          check_info()
          assert.equal(F(1017), gw:call("cancel_task", "<task_id>" .. task_id .. "</task_id>"))
        end
      end
      if not progressed then break end
    end

    assert.same({ 101, 102, 103 }, picked[1])
    assert.same({ 201, 202 }, picked[2])
    assert.same({}, expected)
    assert.equal('<?xml version="1.0"?>\n<response>\n  <params>\n    <taskgroups/>\n  </params>\n</response>\n', gw:call("gettaskinfo"))
    assert.equal(OK, gw:call("closeport", "<port_id>1</port_id>"))
    assert.equal(OK, gw:call("closeport", "<port_id>2</port_id>"))
    assert.equal(F(1009), gw:call("openbin", "<port_id>1</port_id>"))
    gw:stop()
  end)
end)
