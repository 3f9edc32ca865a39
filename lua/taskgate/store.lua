-- taskgate.store: the task store as rules see it: task groups, tasks and which port has
-- selected a task. Every function runs inside the calling methodcall's transaction.

local clock = require "taskgate.clock"
local db = require "taskgate.db"

local M = {}

local TASK_COLUMNS = 'task_id, taskgroup_id, bin_id, item, "order", estpicktime, port_id'
local GROUP_COLUMNS = "taskgroup_id, shipment, category, req_time, priority, start_time, suspended"
-- On a database several gateways share (PostgreSQL), a call that decides on a task's or a
-- group's state locks its row until the turn commits: a cancel through one gateway then waits
-- for a port's pick through another and sees the task selected (1045), instead of deleting it
-- under the pick. SQLite's turns never interleave: there it is the plain read.
local LOCKED = db.dialect == "postgresql" and " FOR UPDATE" or ""
-- Built once: the statement cache is keyed by the text, and every call would rebuild it.
local SELECT_TASK = "SELECT " .. TASK_COLUMNS .. " FROM task WHERE task_id = ?" .. LOCKED
local SELECT_GROUP = "SELECT " .. GROUP_COLUMNS .. " FROM taskgroup WHERE taskgroup_id = ?"

--- The task with this id, or nil. Fields: task_id, taskgroup_id, bin_id, item, order,
--- estpicktime, and port_id when a port has it selected.
function M.task(task_id)
  return db.row(SELECT_TASK, task_id)
end

--- The task group with this id, or nil.
function M.taskgroup(taskgroup_id)
  local group = db.row(SELECT_GROUP, taskgroup_id)
  if group then group.suspended = group.suspended == 1 end
  return group
end

--- Removes a task (cancelled or done); returns whether there was one. Its group finishes
--- when it was the last one (the store's taskgroup_finished trigger removes the group).
function M.cancel_task(task_id)
  return db.exec("DELETE FROM task WHERE task_id = ?", task_id) == 1
end

-- A group whose start_time lies ahead waits (column `waits`) until openbin promotes it once it
-- has come due (ports.next_task): only groups that do not wait are in the picking indexes.
local function waits(start_epoch)
  return (start_epoch and start_epoch > clock.now()) and 1 or 0
end

--- Inserts a task group and its tasks. `group` holds taskgroup_id, category, req_time,
--- req_epoch, priority and optionally shipment, start_time, start_epoch, suspended. Returns
--- true, or nil and the first task id already in use (see add_tasks).
function M.create_taskgroup(group, tasks)
  db.exec("INSERT INTO taskgroup (taskgroup_id, shipment, category, req_time, req_epoch, priority, "
    .. "start_time, start_epoch, suspended, waits) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    group.taskgroup_id, group.shipment, group.category, group.req_time, group.req_epoch, group.priority,
    group.start_time, group.start_epoch, group.suspended and 1 or 0, waits(group.start_epoch))
  return M.add_tasks(group.taskgroup_id, tasks)
end

local INSERT_TASKS = 'INSERT INTO task (task_id, taskgroup_id, bin_id, item, "order", estpicktime)'
local TASK_FIELDS = { "task_id", "taskgroup_id", "bin_id", "item", "order", "estpicktime" }

--- Inserts tasks (task_id, bin_id, optional item, order, estpicktime) into a group, in bulk
--- statements run from C (db.insert_rows). Returns true, or nil and the first task id already
--- in use (in the store or earlier in `tasks`); the caller then answers a fault, which undoes
--- whatever the call inserted.
function M.add_tasks(taskgroup_id, tasks)
  local done, why, failed_from = db.insert_rows(INSERT_TASKS, TASK_FIELDS, tasks, { taskgroup_id = taskgroup_id })
  if done then return true end
  if not why:find("task.task_id", 1, true) then error("store: " .. why, 2) end
  -- The statement that failed inserted nothing; the rows before it are in the store.
  local seen = {}
  for i, task in ipairs(tasks) do
    if i >= failed_from and (seen[task.task_id] or M.task(task.task_id)) then return nil, task.task_id end
    seen[task.task_id] = true
  end
  error("store: " .. why, 2)
end

--- Changes a group: category, req_time/req_epoch and priority always; shipment, start_time/
--- start_epoch and suspended only when not nil.
function M.update_taskgroup(taskgroup_id, changes)
  local suspended = changes.suspended
  if suspended ~= nil then suspended = suspended and 1 or 0 end
  local start_waits = changes.start_epoch and waits(changes.start_epoch)
  db.exec("UPDATE taskgroup SET category = ?, req_time = ?, req_epoch = ?, priority = ?, "
    .. "shipment = coalesce(?, shipment), start_time = coalesce(?, start_time), "
    .. "start_epoch = coalesce(?, start_epoch), suspended = coalesce(?, suspended), waits = coalesce(?, waits) "
    .. "WHERE taskgroup_id = ?",
    changes.category, changes.req_time, changes.req_epoch, changes.priority, changes.shipment,
    changes.start_time, changes.start_epoch, suspended, start_waits, taskgroup_id)
end

--- Suspends a group (or resumes it with suspended = false).
function M.suspend_taskgroup(taskgroup_id, suspended)
  db.exec("UPDATE taskgroup SET suspended = ? WHERE taskgroup_id = ?", suspended == false and 0 or 1, taskgroup_id)
end

local SELECT_GROUP_PORT = "SELECT selected_by FROM taskgroup WHERE taskgroup_id = ?" .. LOCKED

--- The port that has the group selected (a bin of one of its tasks is open there), or nil.
function M.taskgroup_port(taskgroup_id)
  local row = db.row(SELECT_GROUP_PORT, taskgroup_id)
  return row and row.selected_by
end

--- Removes a group and its tasks; returns how many tasks were cancelled.
function M.cancel_taskgroup(taskgroup_id)
  local cancelled = db.exec("DELETE FROM task WHERE taskgroup_id = ?", taskgroup_id)
  db.exec("DELETE FROM taskgroup WHERE taskgroup_id = ?", taskgroup_id)
  return cancelled
end

--- Marks a task as selected by a port (its bin is open there) or, with port_id nil, releases it.
function M.select_task(task_id, port_id)
  return db.exec("UPDATE task SET port_id = ? WHERE task_id = ?", port_id, task_id) == 1
end

-- What gettaskinfo lists is read in two statements that each stop after max_tasks + 1 rows and
-- give up (db.rows_upto) when the filters make the store look through far more than that: the
-- matching tasks in order, then the groups they belong to (all of the range between the first
-- and the last of them that pass the group filters). Its cost is bounded by what it may answer,
-- never by the store's size.
local TASK_ROWS = 'SELECT t.taskgroup_id, t.task_id, t.bin_id, t.item, t."order", t.estpicktime, t.port_id '
  .. "FROM taskgroup g JOIN task t ON t.taskgroup_id = g.taskgroup_id"
local GROUP_ROWS = "SELECT g.taskgroup_id, g.shipment, g.category, g.req_time, g.priority, g.start_time, g.suspended "
  .. "FROM taskgroup g"

local function rows_upto(max, sql, where, values)
  values[#values + 1] = max + 1
  local rows, why = db.rows_upto(max, sql .. (#where > 0 and (" WHERE " .. table.concat(where, " AND ")) or "")
    .. (sql == TASK_ROWS and " ORDER BY g.taskgroup_id, t.task_id" or " ORDER BY g.taskgroup_id") .. " LIMIT ?",
    table.unpack(values, 1, #values))
  if rows then return rows end
  return nil, why == "too many rows" and "too many" or "too broad"
end

--- Task groups matching every given filter, by taskgroup_id, each with its `tasks` array
--- (by task_id). Filters: taskgroup_id, min_taskgroup_id, max_taskgroup_id, task_id (only that
--- task is listed), category, suspended (boolean), shipment. At most max_tasks tasks (default
--- 10000) in all: returns the groups, or nil and "too many" when more tasks match, nil and
--- "too broad" when the filters would make the store look through far more than it would
--- list (a narrower taskgroup range answers).
function M.taskgroups(filter, max_tasks)
  max_tasks = max_tasks or 10000
  local where, values = {}, {}
  local function add(clause, value)
    if value ~= nil then
      where[#where + 1] = clause
      values[#values + 1] = value
    end
  end
  add("g.taskgroup_id = ?", filter.taskgroup_id)
  add("g.taskgroup_id >= ?", filter.min_taskgroup_id)
  add("g.taskgroup_id <= ?", filter.max_taskgroup_id)
  add("g.category = ?", filter.category)
  add("g.shipment = ?", filter.shipment)
  if filter.suspended ~= nil then add("g.suspended = ?", filter.suspended and 1 or 0) end
  local group_where, group_values = table.move(where, 1, #where, 1, {}), table.move(values, 1, #values, 1, {})
  add("t.task_id = ?", filter.task_id)
  local tasks, why = rows_upto(max_tasks, TASK_ROWS, where, values)
  if not tasks then return nil, why end
  if #tasks == 0 then return {} end
  group_where[#group_where + 1] = "g.taskgroup_id BETWEEN ? AND ?"
  group_values[#group_values + 1] = tasks[1].taskgroup_id
  group_values[#group_values + 1] = tasks[#tasks].taskgroup_id
  local groups
  groups, why = rows_upto(max_tasks, GROUP_ROWS, group_where, group_values)
  if not groups then return nil, why end
  local listed, next_task = {}, 1
  for _, group in ipairs(groups) do
    group.suspended = group.suspended == 1
    group.tasks = {}
    while tasks[next_task] and tasks[next_task].taskgroup_id == group.taskgroup_id do
      local task = tasks[next_task]
      task.taskgroup_id = nil -- the row becomes the task: the fields a task has
      group.tasks[#group.tasks + 1] = task
      next_task = next_task + 1
    end
    if #group.tasks > 0 then listed[#listed + 1] = group end -- (a group is never empty for long)
  end
  return listed
end

return M
