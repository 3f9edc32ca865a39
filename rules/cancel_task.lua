-- cancel_task: cancel one task. The checks run in the documented order:
-- 1040 task_id missing, 1012 task_id invalid, 1017 no such task, 1045 selected by a port.
-- In bridge mode (--upstream) the checked call is forwarded and the upstream answers the rest.
return function(call)
  local task_id = params.task_id(call.params.task_id)
  if upstream.configured() then return upstream.forward(call, { task_id = task_id }) end

  local task = store.task(task_id)
  if not task then return fault(1017) end
  if task.port_id then return fault(1045) end

  store.cancel_task(task_id)
  audit.record(call, { task_id = task_id, taskgroup_id = task.taskgroup_id })
  return {}
end
