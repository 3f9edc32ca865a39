-- taskgate.params: parameter contracts that several methods share, so each is written once.

local check = require "taskgate.check"
local fault = require "taskgate.fault"

local M = {}

--- port_id: mandatory, 1..2000 (1003 missing, 1004 invalid).
function M.port_id(value)
  return check.int(value, { min = 1, max = 2000, missing = 1003, invalid = 1004 })
end

--- taskgroup_id: mandatory, 1..2147483647 (1904 missing, 1013 invalid).
function M.taskgroup_id(value)
  return check.int(value, { min = 1, max = 2147483647, missing = 1904, invalid = 1013 })
end

-- The contracts of a <task>'s fields, made once: a bulk call checks tens of thousands of tasks.
local TASK_ID = { min = 1, max = 2147483647, missing = 1040, invalid = 1012 }
local BIN_ID = { min = 1, max = 4000000, missing = 1911, invalid = 1010 }
local ITEM = { optional = true, invalid = 1914 }
local ORDER = { optional = true, invalid = 1915 }
local ESTPICKTIME = { optional = true, min = 0, max = 2147483647, invalid = 1916 }

--- One <task> of create_taskgroup or add_task, checked field by field. (The optional fields
--- are checked only when present: a bulk call checks tens of thousands of tasks.)
function M.task(task)
  local checked = { task_id = check.int(task.task_id, TASK_ID), bin_id = check.int(task.bin_id, BIN_ID) }
  if task.item ~= nil then checked.item = check.text(task.item, ITEM) end
  if task.order ~= nil then checked.order = check.text(task.order, ORDER) end
  if task.estpicktime ~= nil then checked.estpicktime = check.int(task.estpicktime, ESTPICKTIME) end
  return checked
end

-- A call creates, adds or lists at most this many tasks; more is fault 1931. The bound that
-- keeps one call's work within its time limits (docs/rules.md, "What the time limit counts").
M.MAX_TASKS_PER_CALL = 10000

--- The checked tasks of a <tasks> wrapper (or of `container` itself for the v2 add_task form);
--- 1931 past MAX_TASKS_PER_CALL.
function M.tasks(container)
  local list = check.list(container, "task", { missing = 1909, invalid = 1910 })
  if #list > M.MAX_TASKS_PER_CALL then fault.raise(1931) end
  local tasks = {}
  for i, task in ipairs(list) do
    tasks[i] = M.task(task)
  end
  return tasks
end

--- The ids of `tasks`, in order: what a create's audit record names, so that
--- `taskgate audit --task ID` finds the call that created a task.
function M.task_ids(tasks)
  local ids = {}
  for i, task in ipairs(tasks) do ids[i] = task.task_id end
  return ids
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

--- bin_id: mandatory, 1..4000000 (1911 missing, 1010 invalid).
function M.bin_id(value)
  return check.int(value, { min = 1, max = 4000000, missing = 1911, invalid = 1010 })
end

M.MAX_BINS_LISTED = 10000 -- a bin query answers at most this many bins; more is fault 1930

--- The bins a bin query names: bin_id alone, or the range min_bin_id..max_bin_id (each bound
--- optional, 1..4000000, 1010 invalid). Returns the bins by bin_id, or nil and the fault to
--- answer: 1930 when more than MAX_BINS_LISTED match, 1932 when the store would have to look
--- through far more than that (a narrower range answers).
function M.bins_in_range(p)
  local bins = require "taskgate.bins"
  local bin_id = check.int(p.bin_id, { optional = true, min = 1, max = 4000000, invalid = 1010 })
  local min = check.int(p.min_bin_id, { optional = true, min = 1, max = 4000000, invalid = 1010 })
  local max = check.int(p.max_bin_id, { optional = true, min = 1, max = 4000000, invalid = 1010 })
  if bin_id then min, max = math.max(bin_id, min or 1), math.min(bin_id, max or 4000000) end
  local found, why = bins.list(min or 1, max or 4000000, M.MAX_BINS_LISTED)
  if not found then return nil, why == "too many" and 1930 or 1932 end
  return found
end

return M
