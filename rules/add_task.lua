-- add_task: more tasks for an existing group. The v2 form puts <task> elements directly under
-- <params>; older clients wrap them in <tasks>. Both are accepted.
return function(call)
  local p = call.params
  local taskgroup_id = params.taskgroup_id(p.taskgroup_id)
  local tasks = params.tasks(p.tasks ~= nil and p.tasks or p)
  if upstream.configured() then return upstream.forward(call, { taskgroup_id = taskgroup_id, tasks = #tasks }) end

  if not store.taskgroup(taskgroup_id) then return fault(1018) end
  if not store.add_tasks(taskgroup_id, tasks) then return fault(1903) end -- a task id in use
  audit.record(call, { taskgroup_id = taskgroup_id, tasks = #tasks, task_ids = params.task_ids(tasks) })
  return {}
end
