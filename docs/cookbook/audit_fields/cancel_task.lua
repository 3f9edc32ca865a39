-- cancel_task, recording in the audit trail which bin and group the cancelled task had and the
-- optional <reason> the WMS may send.
return function(call)
  local task_id = check.int(call.params.task_id, { min = 1, max = 2147483647, missing = 1040, invalid = 1012 })
  local reason = check.text(call.params.reason, { optional = true, max_len = 200, invalid = 1012 })

  local task = store.task(task_id)
  if not task then return fault(1017) end
  if task.port_id then return fault(1045) end

  store.cancel_task(task_id)
  audit.record(call, { task_id = task_id, taskgroup_id = task.taskgroup_id, bin_id = task.bin_id, reason = reason })
  return {}
end
