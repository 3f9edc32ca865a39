-- Crash consistency: a create/cancel load while the gateway is killed with kill -9 at random
-- moments and restarted. After every kill: every acknowledged change is in the store, no
-- unacknowledged change is half-applied, PRAGMA integrity_check is ok, and replaying the audit
-- trail gives exactly the store's tasks. CRASH_ROUNDS sets the number of kills (20 here; the
-- long run in docs/hardening.md uses 200).
local gateway = require "helpers.gateway"
local runtime = require "helpers.runtime"
local socket = require "socket"

local ROUNDS = tonumber(os.getenv("CRASH_ROUNDS") or "20")
local CONNECTIONS, PIPELINE = 4, 300

local function tasks_of(group) return { group * 10 + 1, group * 10 + 2 } end

describe("crash consistency", function()
  it("keeps every acknowledged change and nothing half-applied across " .. ROUNDS .. " kill -9s", function()
    math.randomseed(os.time())
    local dir = gateway.tmpdir()
    local store_path = dir .. "/taskgate.db"
    local next_group = 0
    local live = {}          -- task ids whose create was acknowledged and that no cancel was sent for
    local acked_cancel = {}  -- task id -> true
    local created = {}       -- group -> "acked" | "sent"
    local sent_cancel = {}   -- task id -> true (acknowledged or not)

    for round = 1, ROUNDS do
      local gw = gateway.start({ store = store_path, dir = dir })
      -- Build the requests of this round: new groups and cancels of live tasks.
      local conns, plans = {}, {}
      for c = 1, CONNECTIONS do
        local plan, bytes = {}, {}
        for _ = 1, PIPELINE do
          local op
          if #live > 0 and math.random() < 0.5 then
            local task = table.remove(live, math.random(#live))
            sent_cancel[task] = true
            op = { kind = "cancel", task = task }
            bytes[#bytes + 1] = gateway.post_request(gateway.methodcall("cancel_task", "<task_id>" .. task .. "</task_id>"))
          else
            next_group = next_group + 1
            local ids = tasks_of(next_group)
            created[next_group] = "sent"
            op = { kind = "create", group = next_group }
            bytes[#bytes + 1] = gateway.post_request(gateway.methodcall("create_taskgroup",
              gateway.taskgroup_params(next_group, { { ids[1], 1 }, { ids[2], 2 } })))
          end
          plan[#plan + 1] = op
        end
        conns[c] = gw:connect()
        plans[c] = { plan = plan, bytes = table.concat(bytes) }
      end
      os.execute(string.format("(sleep %.3f; kill -9 %s) >/dev/null 2>&1 &", math.random() * 0.12, gw.pid))
      for c = 1, CONNECTIONS do conns[c]:send(plans[c].bytes) end
      local acked_this_round = 0
      for c = 1, CONNECTIONS do
        for _, op in ipairs(plans[c].plan) do
          local status, _, body = gateway.read_response(conns[c])
          if not status then break end
          assert.equal(gateway.OK, body)
          acked_this_round = acked_this_round + 1
          if op.kind == "create" then
            created[op.group] = "acked"
            for _, task in ipairs(tasks_of(op.group)) do live[#live + 1] = task end
          else
            acked_cancel[op.task] = true
          end
        end
        conns[c]:close()
      end
      for _ = 1, 200 do
        if not gw:alive() then break end
        socket.sleep(0.01)
      end
      assert.is_false(gw:alive(), "the gateway was not killed in round " .. round)
      if os.getenv("CRASH_VERBOSE") then
        io.stderr:write(string.format("round %d: %d of %d requests acknowledged\n", round, acked_this_round,
          CONNECTIONS * PIPELINE))
      end

      -- Check the store as the next gateway will find it.
      local db = runtime.native.open_store(store_path)
      assert.equal("ok", db.row("PRAGMA integrity_check").integrity_check)
      local present = {}
      for _, row in ipairs(db.rows("SELECT task_id FROM task")) do present[row.task_id] = true end
      for group, state in pairs(created) do
        local ids = tasks_of(group)
        local here = (present[ids[1]] or acked_cancel[ids[1]] or sent_cancel[ids[1]]) and
          (present[ids[2]] or acked_cancel[ids[2]] or sent_cancel[ids[2]])
        local both = present[ids[1]] and present[ids[2]]
        local none = not present[ids[1]] and not present[ids[2]]
        if state == "acked" then
          assert.is_truthy(here, "acknowledged group " .. group .. " lost a task")
        elseif not sent_cancel[ids[1]] and not sent_cancel[ids[2]] then
          assert.is_true(both or none, "group " .. group .. " half created")
        end
      end
      for task in pairs(acked_cancel) do assert.is_nil(present[task], "acknowledged cancel of " .. task .. " undone") end
      -- Replaying the audit trail's changes (not the marked records of calls that changed
      -- nothing) must give exactly the store's tasks.
      local replayed = {}
      for _, row in ipairs(db.rows("SELECT method, params FROM audit WHERE marked IS NULL ORDER BY audit_id")) do
        if row.method == "create_taskgroup" then
          local group = tonumber(row.params:match('"taskgroup_id":(%d+)'))
          for _, task in ipairs(tasks_of(group)) do replayed[task] = true end
        elseif row.method == "cancel_task" then
          replayed[tonumber(row.params:match('"task_id":(%d+)'))] = nil
        end
      end
      assert.same(present, replayed)
      db.close()
      -- Unacknowledged creates that did land become live too: later rounds may cancel them.
      for group, state in pairs(created) do
        local ids = tasks_of(group)
        if state == "sent" and present[ids[1]] and present[ids[2]] then
          created[group] = "acked"
          live[#live + 1] = ids[1]
          live[#live + 1] = ids[2]
        elseif state == "sent" then
          created[group] = nil
        end
      end
    end
  end)
end)
