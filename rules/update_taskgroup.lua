-- update_taskgroup: change a group's category, req_time and priority (all mandatory) and,
-- when given, its shipment, start_time and suspended flag. Absent optional fields keep their
-- values.
return function(call)
  local p = call.params
  local taskgroup_id = params.taskgroup_id(p.taskgroup_id)
  local changes = {}
  changes.category = params.category(p.category)
  changes.req_time, changes.req_epoch = check.time(p.req_time, { missing = 1906, invalid = 1008 })
  changes.priority = params.priority(p.priority)
  changes.shipment = params.shipment(p.shipment)
  changes.start_time, changes.start_epoch = check.time(p.start_time, { optional = true, invalid = 1912 })
  changes.suspended = check.bool(p.suspended, { optional = true, invalid = 1913 })
  if upstream.configured() then return upstream.forward(call, { taskgroup_id = taskgroup_id }) end

  if not store.taskgroup(taskgroup_id) then return fault(1018) end

  store.update_taskgroup(taskgroup_id, changes)
  audit.record(call, { taskgroup_id = taskgroup_id })
  return {}
end
