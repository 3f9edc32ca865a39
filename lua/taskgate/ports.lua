-- taskgate.ports: ports, the bin each has open, and how a port selects its next task.
-- A task is "selected by a port" while its bin is open there; its group is then selected by
-- that port too.

local bins = require "taskgate.bins"
local db = require "taskgate.db"
local store = require "taskgate.store"

local M = {}

--- The open port with this id, or nil. Fields: port_id, port_mode, categories (array, empty
--- for "any"), and task_id, bin_id and taskgroup_id while a bin is open.
function M.get(port_id)
  local port = db.row("SELECT p.port_id, p.port_mode, p.task_id, p.bin_id, t.taskgroup_id FROM port p "
    .. "LEFT JOIN task t ON t.task_id = p.task_id WHERE p.port_id = ?", port_id)
  if not port then return nil end
  port.categories = {}
  for i, row in ipairs(db.rows("SELECT category FROM port_category WHERE port_id = ? ORDER BY category", port_id)) do
    port.categories[i] = row.category
  end
  return port
end

--- Opens a port in `mode`, selecting tasks of `categories` (nil or empty: any category).
function M.open(port_id, mode, categories)
  db.exec("INSERT INTO port (port_id, port_mode) VALUES (?, ?)", port_id, mode)
  for _, category in ipairs(categories or {}) do
    db.exec("INSERT OR IGNORE INTO port_category (port_id, category) VALUES (?, ?)", port_id, category)
  end
end

--- Closes a port; a task whose bin was open there goes back to its group.
function M.close(port_id)
  db.exec("UPDATE task SET port_id = NULL WHERE port_id = ?", port_id)
  bins.leave_port(port_id, true)
  db.exec("DELETE FROM port_category WHERE port_id = ?", port_id)
  db.exec("DELETE FROM port WHERE port_id = ?", port_id)
end

-- Conditions every automatically selected task meets: its group is not suspended, has started,
-- is not selected by another port, and is in one of the port's categories (if it has any).
local ELIGIBLE = "g.suspended = 0 AND (g.start_epoch IS NULL OR g.start_epoch <= ?) AND t.port_id IS NULL "
  .. "AND NOT EXISTS (SELECT 1 FROM task s WHERE s.taskgroup_id = g.taskgroup_id AND s.port_id IS NOT NULL) "
  .. "AND (NOT EXISTS (SELECT 1 FROM port_category c WHERE c.port_id = ?) "
  .. "OR g.category IN (SELECT category FROM port_category c WHERE c.port_id = ?))"

--- The next task the port should open: earliest req_time, then lowest priority, then the
--- lower group and task ids. Returns {task_id, bin_id, taskgroup_id} or nil.
function M.next_task(port_id, now)
  return db.row("SELECT t.task_id, t.bin_id, t.taskgroup_id FROM taskgroup g "
    .. "JOIN task t ON t.taskgroup_id = g.taskgroup_id WHERE " .. ELIGIBLE
    .. " ORDER BY g.req_epoch, g.priority, g.taskgroup_id, t.task_id LIMIT 1", now, port_id, port_id)
end

--- The first task of a group that no port has open, or nil.
function M.first_task_of_group(taskgroup_id)
  return db.row("SELECT task_id, bin_id, taskgroup_id FROM task WHERE taskgroup_id = ? AND port_id IS NULL "
    .. "ORDER BY task_id LIMIT 1", taskgroup_id)
end

--- The first task stored in a bin, or nil (selected or not).
function M.first_task_in_bin(bin_id)
  return db.row("SELECT task_id, bin_id, taskgroup_id, port_id FROM task WHERE bin_id = ? ORDER BY task_id LIMIT 1",
    bin_id)
end

--- Opens the bin of `task` at the port: the task (and its group) is now selected by it. A task
--- without task_id is an ad-hoc bin: the port opens {bin_id} alone.
function M.open_bin(port_id, task)
  if task.task_id then store.select_task(task.task_id, port_id) end
  db.exec("UPDATE port SET task_id = ?, bin_id = ? WHERE port_id = ?", task.task_id, task.bin_id, port_id)
  bins.leave_port(port_id) -- the bins it closed before go back to the grid
  bins.set(task.bin_id, "OPEN", port_id, nil)
end

--- Closes the port's open bin. With complete, its task is done (gone, like a cancelled one);
--- otherwise it returns to its group.
function M.close_bin(port_id, task_id, complete)
  if task_id and complete then
    store.cancel_task(task_id)
  elseif task_id then
    store.select_task(task_id, nil)
  end
  db.exec("UPDATE bin SET bin_mode = 'CLOSED' WHERE port_id = ? AND bin_mode = 'OPEN'", port_id)
  db.exec("UPDATE port SET task_id = NULL, bin_id = NULL WHERE port_id = ?", port_id)
end

return M
