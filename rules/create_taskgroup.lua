-- create_taskgroup: a new task group with its tasks. Parameters are checked in the order the
-- interface documents them; task ids must be new across all groups (and within the call).
return function(call)
  local p = call.params
  local group = {}
  group.taskgroup_id = params.taskgroup_id(p.taskgroup_id)
  group.shipment = params.shipment(p.shipment)
  group.category = params.category(p.category)
  group.req_time, group.req_epoch = check.time(p.req_time, { missing = 1906, invalid = 1008 })
  group.priority = params.priority(p.priority)
  group.start_time, group.start_epoch = check.time(p.start_time, { optional = true, invalid = 1912 })
  group.suspended = check.bool(p.suspended, { optional = true, default = false, invalid = 1913 })
  local tasks = params.tasks(p.tasks)
  if upstream.configured() then return upstream.forward(call, { taskgroup_id = group.taskgroup_id, tasks = #tasks }) end

  if store.taskgroup(group.taskgroup_id) then return fault(1902) end
  if not store.create_taskgroup(group, tasks) then return fault(1903) end -- a task id in use
  audit.record(call, { taskgroup_id = group.taskgroup_id, tasks = #tasks, task_ids = params.task_ids(tasks) })
  return {}
end
