-- gettaskinfo: list task groups and their tasks. Every filter is optional; task_id and
-- taskgroup_id together are refused. A task shows state "selected" and its port_id while a
-- port has it, "open" otherwise. At most 10,000 tasks: more matching is 1931, filters the store
-- cannot answer without looking through far more than that 1932 (a taskgroup range narrows both).
local group_order = { "taskgroup_id", "shipment", "category", "req_time", "priority", "start_time", "suspended", "tasks" }
local task_order = { "task_id", "bin_id", "item", "order", "estpicktime", "state", "port_id" }

local function show_task(task)
  task.state = task.port_id and "selected" or "open"
  return reply.record(task_order, task)
end

local function show_group(group)
  local tasks = {}
  for i, task in ipairs(group.tasks) do tasks[i] = show_task(task) end
  group.tasks = { task = reply.list(tasks) }
  return reply.record(group_order, group)
end

return function(call)
  local p = call.params
  local filter = {
    taskgroup_id = params.optional.taskgroup_id(p.taskgroup_id),
    min_taskgroup_id = params.optional.taskgroup_id(p.min_taskgroup_id),
    max_taskgroup_id = params.optional.taskgroup_id(p.max_taskgroup_id),
    task_id = params.optional.task_id(p.task_id),
    category = params.optional.category(p.category),
    suspended = check.bool(p.suspended, { optional = true, invalid = 1913 }),
    shipment = params.shipment(p.shipment),
  }
  if filter.task_id and filter.taskgroup_id then return fault(1917) end
  if upstream.configured() then return upstream.forward(call) end -- a query: nothing to audit

  local found, why = store.taskgroups(filter, params.MAX_TASKS_PER_CALL)
  if not found then return fault(why == "too many" and 1931 or 1932) end -- narrow the filters
  local groups = {}
  for i, group in ipairs(found) do groups[i] = show_group(group) end
  return { taskgroups = { taskgroup = reply.list(groups) } }
end
