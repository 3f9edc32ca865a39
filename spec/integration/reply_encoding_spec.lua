-- Encoding a reply is the gateway's work, bounded by the reply's size: it does not count against
-- the rule's time limit (a legal big reply must not fail with the machine's load), yet a rule-built
-- table far costlier to walk than its bytes is still stopped.
local gateway = require "helpers.gateway"

-- The Lua time limit of these gateways: room for the shipped rule's 10,000 records under the
-- sanitizers too, which slow Lua several times.
local LIMIT = os.getenv("TASKGATE_SANITIZED") and 1500 or 400
local TASKS = 10000

-- The shipped gettaskinfo, which then spins until 95% of the limit is gone: what is left (20 ms,
-- 75 ms under the sanitizers) is less than encoding 10,000 tasks takes in either form, so the
-- reply is answered only if its encoding is not charged to the rule.
local function late_gettaskinfo()
  local shipped = gateway.read_file(gateway.rules .. "/gettaskinfo.lua")
  local body = shipped:gsub("\nreturn function%(call%)", "\nlocal function shipped(call)")
  return body .. string.format([[

return function(call)
  local started = clock.now()
  local result = shipped(call)
  while clock.now() - started < 0.95 * %d / 1000 do end
  return result
end
]], LIMIT)
end

-- A reply far costlier to walk than to write: 100 x 100 elements, each of 2,000 empty lists
-- (which write nothing) shared by all, some 20 million steps for about 100 KB.
local COSTLY = [[
return function(call)
  local leaf = {}
  for i = 1, 2000 do leaf["l" .. i] = reply.list({}) end
  local middle = {}
  for i = 1, 100 do middle["m" .. i] = leaf end
  local top = {}
  for i = 1, 100 do top["t" .. i] = middle end
  return { costly = top }
end]]

local function group_body(first, count)
  local tasks = {}
  for i = 0, count - 1 do
    tasks[#tasks + 1] = string.format("<task><task_id>%d</task_id><bin_id>%d</bin_id><item>ITEM-%06d</item>" ..
      "<order>ORD-%06d</order></task>", first + i, 1 + i % 4000, i, i)
  end
  return table.concat(tasks)
end

-- POSTs a JSON methodcall of method with the given JSON params; returns status, headers, body.
local function post_json(gw, method, params_json)
  local json = string.format('{"method":"%s","params":%s}', method, params_json)
  return gw:raw(string.format(
    "POST /api/v2/task HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", #json, json))
end

describe("a reply's encoding and the rule's time limit", function()
  local gw
  setup(function()
    gw = gateway.start({ rules = gateway.rules_dir({ late_gettaskinfo = late_gettaskinfo(), costly = COSTLY }),
      args = "--lua-time-limit " .. LIMIT })
    local params = gateway.taskgroup_params(3, {}):gsub("<tasks>.*</tasks>", "")
    local status, _, body = gw:post(gateway.methodcall("create_taskgroup", params:gsub("</params>$", "") ..
      "<tasks>" .. group_body(300000, TASKS / 2) .. "</tasks>"))
    assert.equal(200, status, body)
    status, _, body = gw:post(gateway.methodcall("add_task", "<taskgroup_id>3</taskgroup_id><tasks>" ..
      group_body(300000 + TASKS / 2, TASKS / 2) .. "</tasks>"))
    assert.equal(200, status, body)
  end)
  teardown(function() gw:stop() end)

  it("answers a 10,000-task gettaskinfo in full in XML though the rule left almost no time", function()
    local status, _, body = gw:post(gateway.methodcall("late_gettaskinfo", "<taskgroup_id>3</taskgroup_id>"))
    assert.equal(200, status)
    local _, tasks = body:gsub("<task>", "")
    assert.equal(TASKS, tasks, gw:log())
    assert.truthy(body:find("<item>ITEM-004999</item>", 1, true))
  end)

  it("answers it in full in JSON too", function()
    local status, _, body = post_json(gw, "late_gettaskinfo", '{"taskgroup_id":3}')
    assert.equal(200, status)
    local _, tasks = body:gsub('"task_id"', "")
    assert.equal(TASKS, tasks, gw:log())
  end)

  it("still stops a reply that is far costlier to walk than to write, and keeps serving", function()
    for _, form in ipairs({ "xml", "json" }) do
      local status, _, body
      if form == "xml" then
        status, _, body = gw:post(gateway.methodcall("costly", ""))
      else
        status, _, body = post_json(gw, "costly", "{}")
      end
      assert.equal(200, status)
      assert.truthy(body:find("1999", 1, true), form .. ": " .. body:sub(1, 200))
    end
    assert.matches("time limit of " .. LIMIT .. " ms exceeded", gw:log())
    local status, _, body = gw:post(gateway.methodcall("gettaskinfo", "<task_id>300000</task_id>"))
    assert.equal(200, status)
    assert.truthy(body:find("ITEM-000000", 1, true))
  end)
end)
