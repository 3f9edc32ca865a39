-- cancel_taskgroup: cancel a group and all its remaining tasks, unless a port has it selected.
return function(call)
  local taskgroup_id = params.taskgroup_id(call.params.taskgroup_id)
  if upstream.configured() then return upstream.forward(call, { taskgroup_id = taskgroup_id }) end

  if not store.taskgroup(taskgroup_id) then return fault(1018) end
  if store.taskgroup_port(taskgroup_id) then return fault(1019) end

  local cancelled = store.cancel_taskgroup(taskgroup_id)
  audit.record(call, { taskgroup_id = taskgroup_id, tasks = cancelled })
  return {}
end
