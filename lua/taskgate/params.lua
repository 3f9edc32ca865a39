-- taskgate.params: parameter contracts that several methods share, so each is written once.

local check = require "taskgate.check"

local M = {}

--- port_id: mandatory, 1..2000 (1003 missing, 1004 invalid).
function M.port_id(value)
  return check.int(value, { min = 1, max = 2000, missing = 1003, invalid = 1004 })
end

--- taskgroup_id: mandatory, 1..2147483647 (1904 missing, 1013 invalid).
function M.taskgroup_id(value)
  return check.int(value, { min = 1, max = 2147483647, missing = 1904, invalid = 1013 })
end

--- One <task> of create_taskgroup or add_task, checked field by field.
function M.task(task)
  return {
    task_id = check.int(task.task_id, { min = 1, max = 2147483647, missing = 1040, invalid = 1012 }),
    bin_id = check.int(task.bin_id, { min = 1, max = 4000000, missing = 1911, invalid = 1010 }),
    item = check.text(task.item, { optional = true, invalid = 1914 }),
    order = check.text(task.order, { optional = true, invalid = 1915 }),
    estpicktime = check.int(task.estpicktime, { optional = true, min = 0, max = 2147483647, invalid = 1916 }),
  }
end

--- The checked tasks of a <tasks> wrapper (or of `container` itself for the v2 add_task form).
function M.tasks(container)
  local tasks = {}
  for i, task in ipairs(check.list(container, "task", { missing = 1909, invalid = 1910 })) do
    tasks[i] = M.task(task)
  end
  return tasks
end

--- Returns the first task id of `tasks` that repeats within them or already exists, else nil.
function M.duplicate_task(tasks, store)
  local seen = {}
  for _, task in ipairs(tasks) do
    if seen[task.task_id] or store.task(task.task_id) then return task.task_id end
    seen[task.task_id] = true
  end
  return nil
end

return M
