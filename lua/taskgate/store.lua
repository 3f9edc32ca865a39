-- taskgate.store: the task store as rules see it: task groups, tasks and which port has
-- selected a task. Every function runs inside the calling methodcall's transaction.

local clock = require "taskgate.clock"
local db = require "taskgate.db"

local M = {}

local TASK_COLUMNS = 'task_id, taskgroup_id, bin_id, item, "order", estpicktime, port_id'
local GROUP_COLUMNS = "taskgroup_id, shipment, category, req_time, priority, start_time, suspended"
-- Built once: the statement cache is keyed by the text, and every call would rebuild it.
local SELECT_TASK = "SELECT " .. TASK_COLUMNS .. " FROM task WHERE task_id = ?"
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
--- req_epoch, priority and optionally shipment, start_time, start_epoch, suspended.
function M.create_taskgroup(group, tasks)
  db.exec("INSERT INTO taskgroup (taskgroup_id, shipment, category, req_time, req_epoch, priority, "
    .. "start_time, start_epoch, suspended, waits) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    group.taskgroup_id, group.shipment, group.category, group.req_time, group.req_epoch, group.priority,
    group.start_time, group.start_epoch, group.suspended and 1 or 0, waits(group.start_epoch))
  M.add_tasks(group.taskgroup_id, tasks)
end

--- Inserts tasks (task_id, bin_id, optional item, order, estpicktime) into a group.
function M.add_tasks(taskgroup_id, tasks)
  for _, task in ipairs(tasks) do
    db.exec('INSERT INTO task (task_id, taskgroup_id, bin_id, item, "order", estpicktime) VALUES (?, ?, ?, ?, ?, ?)',
      task.task_id, taskgroup_id, task.bin_id, task.item, task.order, task.estpicktime)
  end
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

--- The port that has the group selected (a bin of one of its tasks is open there), or nil.
function M.taskgroup_port(taskgroup_id)
  local row = db.row("SELECT selected_by FROM taskgroup WHERE taskgroup_id = ?", taskgroup_id)
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

--- Task groups matching every given filter, by taskgroup_id, each with its `tasks` array
--- (by task_id). Filters: taskgroup_id, min_taskgroup_id, max_taskgroup_id, task_id (only that
--- task is listed), category, suspended (boolean), shipment.
function M.taskgroups(filter)
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
  add("t.task_id = ?", filter.task_id)
  add("g.category = ?", filter.category)
  add("g.shipment = ?", filter.shipment)
  if filter.suspended ~= nil then add("g.suspended = ?", filter.suspended and 1 or 0) end
  local sql = "SELECT g.taskgroup_id, g.shipment, g.category, g.req_time, g.priority, g.start_time, g.suspended, "
    .. 't.task_id, t.bin_id, t.item, t."order", t.estpicktime, t.port_id '
    .. "FROM taskgroup g JOIN task t ON t.taskgroup_id = g.taskgroup_id"
    .. (#where > 0 and (" WHERE " .. table.concat(where, " AND ")) or "")
    .. " ORDER BY g.taskgroup_id, t.task_id"
  local groups, current = {}, nil
  for _, row in ipairs(db.rows(sql, table.unpack(values, 1, #values))) do
    if not current or current.taskgroup_id ~= row.taskgroup_id then
      current = {
        taskgroup_id = row.taskgroup_id, shipment = row.shipment, category = row.category,
        req_time = row.req_time, priority = row.priority, start_time = row.start_time,
        suspended = row.suspended == 1, tasks = {},
      }
      groups[#groups + 1] = current
    end
    current.tasks[#current.tasks + 1] = {
      task_id = row.task_id, bin_id = row.bin_id, item = row.item, order = row.order,
      estpicktime = row.estpicktime, port_id = row.port_id,
    }
  end
  return groups
end

return M
