-- Self-checks of this rule set. A reload runs them (in a transaction that is rolled back, so
-- the live store is untouched) and refuses the new rules if any fails: the old ones keep
-- serving. `call(method, params)` returns the reply table a client would get; `expect` checks
-- one and, when it is not what was expected, says what came instead.
return function(call, expect)
  expect.fault(call("cancel_task", {}), 1040, "cancel_task without task_id")
  expect.fault(call("cancel_task", { task_id = "x" }), 1012, "cancel_task with a bad task_id")

  local created = call("create_taskgroup", {
    taskgroup_id = "2147483647", category = "1", req_time = "2024-01-01T00:00:00Z", priority = "1",
    tasks = { task = { task_id = "2147483647", bin_id = "1" } },
  })
  if created.fault then return end -- the ids are in use on this store; nothing more to try
  expect.ok(call("cancel_task", { task_id = "2147483647" }), "cancel_task of a new task")
  expect.fault(call("cancel_task", { task_id = "2147483647" }), 1017, "second cancel_task")
end
