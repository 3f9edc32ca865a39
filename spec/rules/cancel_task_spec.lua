-- The real rules/cancel_task.lua against a real temporary store.
local runtime = require "helpers.runtime"

describe("rule cancel_task", function()
  local rt
  before_each(function()
    rt = runtime.new()
    assert.same({ params = {} }, rt.call("create_taskgroup", {
      taskgroup_id = "1", category = "1", req_time = "2024-05-01T08:00:00Z", priority = "1",
      tasks = { task = { { task_id = "10", bin_id = "100" }, { task_id = "11", bin_id = "101" } } },
    }))
  end)
  after_each(function() runtime.close(rt) end)

  it("cancels an existing task and replies with empty params", function()
    assert.same({ params = {} }, rt.call("cancel_task", { task_id = "10" }))
    assert.is_nil(rt.store.task(10))
  end)

  it("answers 1017 for a second cancel of the same task", function()
    rt.call("cancel_task", { task_id = "10" })
    assert.same({ fault = { code = 1017 } }, rt.call("cancel_task", { task_id = "10" }))
  end)

  it("answers 1040 when task_id is missing", function()
    assert.same({ fault = { code = 1040 } }, rt.call("cancel_task", {}))
  end)

  it("answers 1012 for an invalid task_id", function()
    assert.same({ fault = { code = 1012 } }, rt.call("cancel_task", { task_id = "-10" }))
  end)

  it("answers 1045 while a port has the task selected, and leaves it in place", function()
    assert.is_true(rt.store.select_task(10, 3))
    assert.same({ fault = { code = 1045 } }, rt.call("cancel_task", { task_id = "10" }))
    assert.equal(3, rt.store.task(10).port_id)
  end)

  it("cancels the task again once the port releases it", function()
    rt.store.select_task(10, 3)
    rt.store.select_task(10, nil)
    assert.same({ params = {} }, rt.call("cancel_task", { task_id = "10" }))
  end)

  it("checks 1040/1012 before looking the task up (1017)", function()
    assert.same({ fault = { code = 1012 } }, rt.call("cancel_task", { task_id = "999999" .. "9999999" }))
  end)

  it("finishes the group when its last task is cancelled", function()
    rt.call("cancel_task", { task_id = "10" })
    assert.is_not_nil(rt.store.taskgroup(1))
    rt.call("cancel_task", { task_id = "11" })
    assert.is_nil(rt.store.taskgroup(1))
  end)

  it("records the cancel in the audit trail in the same transaction", function()
    rt.call("cancel_task", { task_id = "10" })
    local last = require("taskgate.audit").recent(1)[1]
    assert.equal("cancel_task", last.method)
    assert.equal("spec", last.client)
    assert.equal('{"task_id":10,"taskgroup_id":1}', last.params)
  end)

  it("answers as it would when its trace (journal, marked record) cannot be written", function()
    local journal = require "taskgate.journal"
    local write = journal.write
    journal.write = function() error("database or disk is full") end
    local ok, reply = pcall(rt.call, "cancel_task", { task_id = "12345" })
    journal.write = write
    assert.is_true(ok, reply)
    assert.same({ fault = { code = 1017 } }, reply)
  end)

  it("journals a cancel with its change, and keeps the change when its entry cannot be written", function()
    rt.call("cancel_task", { task_id = "10" })
    local journal = require "taskgate.journal"
    local last = journal.entries(1)[1]
    assert.same({ "cancel_task", "ok", '{"task_id":"10"}' }, { last.method, last.outcome, last.params })
    local write = journal.write
    journal.write = function() error("database or disk is full") end
    local ok, reply = pcall(rt.call, "cancel_task", { task_id = "11" })
    journal.write = write
    assert.is_true(ok, reply)
    assert.same({ params = {} }, reply)
    assert.is_nil(rt.store.task(11))
    assert.equal('{"task_id":11,"taskgroup_id":1}', require("taskgate.audit").recent(1)[1].params)
    assert.equal(last.journal_id, journal.entries(1)[1].journal_id)
  end)

  it("leaves no audit record for a cancel that faulted (the journal has it)", function()
    local before = #require("taskgate.audit").recent(100)
    rt.call("cancel_task", { task_id = "12345" })
    assert.equal(before, #require("taskgate.audit").recent(100))
    local last = require("taskgate.journal").entries(1)[1]
    assert.same({ "cancel_task", "1017", '{"task_id":"12345"}' }, { last.method, last.outcome, last.params })
  end)
end)
