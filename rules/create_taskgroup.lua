-- create_taskgroup: a new task group with its tasks. Parameters are checked in the order the
-- interface documents them; task ids must be new across all groups (and within the call).
local function read_task(task)
  return {
    task_id = check.int(task.task_id, { min = 1, max = 2147483647, missing = 1040, invalid = 1012 }),
    bin_id = check.int(task.bin_id, { min = 1, max = 4000000, missing = 1911, invalid = 1010 }),
    item = check.text(task.item, { optional = true, invalid = 1914 }),
    order = check.text(task.order, { optional = true, invalid = 1915 }),
    estpicktime = check.int(task.estpicktime, { optional = true, min = 0, max = 2147483647, invalid = 1916 }),
  }
end

return function(call)
  local p = call.params
  local group = {}
  group.taskgroup_id = check.int(p.taskgroup_id, { min = 1, max = 2147483647, missing = 1904, invalid = 1013 })
  group.shipment = check.int(p.shipment, { optional = true, min = 1, max = 2147483647, invalid = 1014 })
  group.category = check.int(p.category, { min = 1, max = 10000000, missing = 1905, invalid = 1007 })
  group.req_time, group.req_epoch = check.time(p.req_time, { missing = 1906, invalid = 1008 })
  group.priority = check.int(p.priority, { min = 1, max = 2147483647, missing = 1907, invalid = 1908 })
  group.start_time, group.start_epoch = check.time(p.start_time, { optional = true, invalid = 1912 })
  group.suspended = check.bool(p.suspended, { optional = true, default = false, invalid = 1913 })

  local tasks = {}
  for i, task in ipairs(check.list(p.tasks, "task", { missing = 1909, invalid = 1910 })) do
    tasks[i] = read_task(task)
  end

  if store.taskgroup(group.taskgroup_id) then return fault(1902) end
  local seen = {}
  for _, task in ipairs(tasks) do
    if seen[task.task_id] or store.task(task.task_id) then return fault(1903) end
    seen[task.task_id] = true
  end

  store.create_taskgroup(group, tasks)
  audit.record(call, { taskgroup_id = group.taskgroup_id, tasks = #tasks })
  return {}
end
