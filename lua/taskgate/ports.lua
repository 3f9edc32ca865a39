-- taskgate.ports: ports, the bin each has open, and how a port selects its next task.
-- A task is "selected by a port" while its bin is open there; its group is then selected by
-- that port too.

local bins = require "taskgate.bins"
local db = require "taskgate.db"
local fault = require "taskgate.fault"
local store = require "taskgate.store"

local M = {}

--- The open port with this id, or nil. Fields: port_id, port_mode, categories and contents (the
--- select: arrays, both empty for "any"), req_epoch (its req_time limit, or nil), and task_id,
--- bin_id and taskgroup_id while a bin is open.
function M.get(port_id)
  local port = db.row("SELECT p.port_id, p.port_mode, p.task_id, p.bin_id, p.req_epoch, t.taskgroup_id FROM port p "
    .. "LEFT JOIN task t ON t.task_id = p.task_id WHERE p.port_id = ?", port_id)
  if not port then return nil end
  port.categories, port.contents = {}, {}
  for i, row in ipairs(db.rows("SELECT category FROM port_category WHERE port_id = ? ORDER BY category", port_id)) do
    port.categories[i] = row.category
  end
  for i, row in ipairs(db.rows("SELECT content FROM port_content WHERE port_id = ? ORDER BY content", port_id)) do
    port.contents[i] = row.content
  end
  return port
end

--- Opens a port in `mode`, selecting task groups of `select.categories` or bins of
--- `select.contents` (both empty or nil: any), none with a req_time after `req_epoch` (nil: no
--- limit).
function M.open(port_id, mode, select, req_epoch)
  select = select or {}
  db.exec("INSERT INTO port (port_id, port_mode, req_epoch) VALUES (?, ?, ?)", port_id, mode, req_epoch)
  for _, category in ipairs(select.categories or {}) do
    db.exec("INSERT INTO port_category (port_id, category) VALUES (?, ?) ON CONFLICT DO NOTHING", port_id, category)
  end
  for _, content in ipairs(select.contents or {}) do
    db.exec("INSERT INTO port_content (port_id, content) VALUES (?, ?) ON CONFLICT DO NOTHING", port_id, content)
  end
end

--- Closes a port; a task whose bin was open there goes back to its group.
function M.close(port_id)
  db.exec("UPDATE task SET port_id = NULL WHERE port_id = ?", port_id)
  bins.leave_port(port_id, true)
  db.exec("DELETE FROM port_category WHERE port_id = ?", port_id)
  db.exec("DELETE FROM port_content WHERE port_id = ?", port_id)
  db.exec("DELETE FROM port WHERE port_id = ?", port_id)
end

-- How a port finds its next task without looking at more than a few index entries, whatever
-- the store holds (docs/architecture.md, "Selection"). A group that can be picked — not
-- suspended, not selected by a port, not waiting for its start_time — is an entry of the
-- partial indexes taskgroup_ready (per category) and taskgroup_ready_any, kept in picking
-- order: earliest req_time, lowest priority, lower taskgroup_id. The start_time is checked
-- again from the index entry, so a clock set back never serves a group early.
-- On a database several gateways share (PostgreSQL), a pick locks the group and the task it
-- takes, and passes over those another gateway's pick (or a cancel) holds right now: two ports
-- never get the same task, and no pick waits for another gateway's turn (SKIP LOCKED). SQLite's
-- turns never interleave.
local SKIP_LOCKED = db.dialect == "postgresql" and " FOR UPDATE SKIP LOCKED" or ""
local READY = "suspended = 0 AND selected_by IS NULL AND waits = 0 AND (start_epoch IS NULL OR start_epoch <= ?)"
local ORDER = " ORDER BY req_epoch, priority, taskgroup_id"
local PICKING_ORDER = ORDER .. " LIMIT 1" .. SKIP_LOCKED
-- The first group in picking order, for a port that selects every category.
local NEXT_GROUP = "SELECT taskgroup_id, req_epoch FROM taskgroup INDEXED BY taskgroup_ready_any WHERE " .. READY .. PICKING_ORDER
-- The first group of each category the port selects (one index look-up each); the earliest of
-- them is the port's next group.
local NEXT_GROUP_PER_CATEGORY = "SELECT g.taskgroup_id, g.req_epoch, g.priority FROM port_category c "
  .. "JOIN taskgroup g ON g.taskgroup_id = (SELECT taskgroup_id FROM taskgroup INDEXED BY taskgroup_ready "
  .. "WHERE category = c.category AND " .. READY .. PICKING_ORDER .. ") WHERE c.port_id = ?"
local SELECTS_CATEGORIES = "SELECT 1 AS yes FROM port_category WHERE port_id = ? LIMIT 1"
-- Groups whose start_time has come stop waiting, in start_time order. At most PROMOTED_AT_ONCE
-- per call, so that a wave of groups all starting at one moment cannot hold the store long
-- (docs/architecture.md); each group is promoted once. Sessions side by side (PostgreSQL) pass
-- over the groups another is promoting (or holds) this moment, instead of waiting for its turn:
-- those are not ready to this pick either way, and the next pick promotes any left waiting.
local PROMOTED_AT_ONCE = 10000
local PROMOTE = "UPDATE taskgroup SET waits = 0 WHERE taskgroup_id IN (SELECT taskgroup_id FROM taskgroup "
  .. "INDEXED BY taskgroup_waiting WHERE waits = 1 AND start_epoch <= ? ORDER BY start_epoch LIMIT ?" .. SKIP_LOCKED .. ")"
local FIRST_TASK = "SELECT task_id, bin_id, taskgroup_id FROM task WHERE taskgroup_id = ? AND port_id IS NULL "
  .. "ORDER BY task_id LIMIT 1" .. SKIP_LOCKED

-- A pick on PostgreSQL also locks the task's bin, and passes over a task whose bin another
-- session holds right now (it is opening, closing or freeing that bin at another port), as it
-- passes over a locked task: the pick then finds nothing this time. So an openbin never waits
-- for a bin row while its turn holds others: two turns each holding a bin the other's next
-- call wanted deadlocked (docs/ha.md, "Writers side by side").
local CLAIM_BIN = db.dialect == "postgresql" and "SELECT bin_id FROM bin WHERE bin_id = ? FOR NO KEY UPDATE SKIP LOCKED"
local BIN_EXISTS = "SELECT 1 AS found FROM bin WHERE bin_id = ?"

-- The first task of the group (FIRST_TASK) unless its bin is held by another session (a pick
-- of the port's next task; an openbin naming a group or shipment still waits for the bin).
local function first_task(taskgroup_id)
  local task = db.row(FIRST_TASK, taskgroup_id)
  if task and CLAIM_BIN and not db.row(CLAIM_BIN, task.bin_id) and db.row(BIN_EXISTS, task.bin_id) then return nil end
  return task
end

local function earlier(a, b)
  if a.req_epoch ~= b.req_epoch then return a.req_epoch < b.req_epoch end
  if a.priority ~= b.priority then return a.priority < b.priority end
  return a.taskgroup_id < b.taskgroup_id
end

-- The port's next group {taskgroup_id, req_epoch}, or nil.
local function next_group(port_id, now)
  local best
  for _, group in ipairs(db.rows(NEXT_GROUP_PER_CATEGORY, now, port_id)) do
    if not best or earlier(group, best) then best = group end
  end
  if best or db.row(SELECTS_CATEGORIES, port_id) then return best end
  return db.row(NEXT_GROUP, now)
end

--- The next task the port should open: earliest req_time, then lowest priority, then the
--- lower group and task ids; never a task of a suspended group, of a group whose start_time
--- lies ahead or that a port has selected, outside the port's categories (if it has any), or
--- whose req_time is after the port's req_time limit (if it has one: groups come in req_time
--- order, so when the first is past the limit all are). Returns {task_id, bin_id, taskgroup_id}
--- or nil.
function M.next_task(port_id, now, req_epoch)
  db.exec(PROMOTE, now, PROMOTED_AT_ONCE)
  local group = next_group(port_id, now)
  if not group or (req_epoch and group.req_epoch > req_epoch) then return nil end
  return first_task(group.taskgroup_id)
end

-- The first group of a shipment in picking order that no port has selected (its index keeps a
-- shipment's groups in that order).
local SHIPMENT_GROUP = "SELECT taskgroup_id FROM taskgroup INDEXED BY taskgroup_shipment_turn "
  .. "WHERE shipment = ? AND selected_by IS NULL ORDER BY req_epoch, priority, taskgroup_id LIMIT 1" .. SKIP_LOCKED

--- The first task of a shipment's next group that no port has selected, or nil.
function M.first_task_of_shipment(shipment)
  local group = db.row(SHIPMENT_GROUP, shipment)
  return group and db.row(FIRST_TASK, group.taskgroup_id)
end

--- Whether any group has this shipment.
function M.shipment_exists(shipment)
  return db.row("SELECT 1 AS found FROM taskgroup INDEXED BY taskgroup_by_shipment WHERE shipment = ? LIMIT 1",
    shipment) ~= nil
end

-- What the console lists of a queue: the same indexes and conditions as the picks above, more
-- than one entry at a time.
local QUEUED = "taskgroup_id, category, req_time, req_epoch, priority, start_time, start_epoch"
local CATEGORY_QUEUE = "SELECT " .. QUEUED .. " FROM taskgroup INDEXED BY taskgroup_ready WHERE category = ? AND "
  .. READY .. ORDER .. " LIMIT ?"
local ANY_QUEUE = "SELECT " .. QUEUED .. " FROM taskgroup INDEXED BY taskgroup_ready_any WHERE " .. READY .. ORDER
  .. " LIMIT ?"
-- The groups next_task would promote before it picks (PROMOTE's own selection).
local DUE = "SELECT " .. QUEUED .. ", suspended, selected_by FROM taskgroup INDEXED BY taskgroup_waiting "
  .. "WHERE waits = 1 AND start_epoch <= ? ORDER BY start_epoch LIMIT ?"
local NEXT_CATEGORY = "SELECT min(category) AS category FROM taskgroup INDEXED BY taskgroup_ready "
  .. "WHERE category > ? AND suspended = 0 AND selected_by IS NULL AND waits = 0"

--- The groups a port selecting `category` (nil: a port of any category) would pick at `now`,
--- in picking order, at most `limit`: what next_task would answer again and again if each pick
--- were taken away. The groups whose start_time has come, which next_task would promote first,
--- are merged in. Changes nothing.
function M.queue(category, now, limit, due)
  local groups = category and db.rows(CATEGORY_QUEUE, category, now, limit) or db.rows(ANY_QUEUE, now, limit)
  due = due or M.due(now)
  if #due == 0 then return groups end
  for _, group in ipairs(due) do
    if group.suspended == 0 and group.selected_by == nil and (category == nil or group.category == category) then
      local listed = {} -- a copy: `due` may serve the next queue too
      for k, v in pairs(group) do listed[k] = v end
      listed.suspended, listed.selected_by = nil, nil
      groups[#groups + 1] = listed
    end
  end
  table.sort(groups, earlier)
  for i = #groups, limit + 1, -1 do groups[i] = nil end
  return groups
end

--- The groups whose start_time has come, which next_task would promote first (at most
--- PROMOTED_AT_ONCE, or `max`): read once, they can be given to several queue() calls at the
--- same now.
function M.due(now, max)
  return db.rows(DUE, now, math.min(max or PROMOTED_AT_ONCE, PROMOTED_AT_ONCE))
end

--- The categories that have a group to pick (at most `limit`, in order), the due ones included.
function M.queued_categories(now, limit)
  local categories, seen, after = {}, {}, math.mininteger
  while #categories < limit do
    local row = db.row(NEXT_CATEGORY, after)
    if not row or row.category == nil then break end
    categories[#categories + 1], seen[row.category], after = row.category, true, row.category
  end
  for _, group in ipairs(db.rows(DUE, now, PROMOTED_AT_ONCE)) do
    if #categories >= limit then break end
    if group.suspended == 0 and group.selected_by == nil and not seen[group.category] then
      categories[#categories + 1], seen[group.category] = group.category, true
    end
  end
  table.sort(categories)
  return categories
end

--- The first task of a group that no port has open, or nil.
function M.first_task_of_group(taskgroup_id)
  return db.row(FIRST_TASK, taskgroup_id)
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

--- The open port whose open bin a closebin or removebin closes, after the checks both make: the
--- port is open (else fault 1009) with bin_id open there (1011); a call that would complete the
--- bin's task names it (1040: no client completes a task it did not name; returning it, complete
--- false, needs no name); a task_id given is the open task's, 0 for a bin without a task (1017).
--- Raises the fault, as the params checks do.
function M.bin_to_close(port_id, bin_id, task_id, complete)
  local port = M.get(port_id)
  if not port then fault.raise(1009) end
  if port.bin_id ~= bin_id then fault.raise(1011) end
  if port.task_id and complete and not task_id then fault.raise(1040) end
  if task_id and task_id ~= (port.task_id or 0) then fault.raise(1017) end
  return port
end

-- Closing the port's bin waits for no other session (PostgreSQL), as freeing its closed bins
-- does not (bins.lua, LEAVE_PORT): a session holding that bin's row is moving it to another port
-- (a pick there took a task of that bin), and two turns whose closebins each waited for the bin
-- the other turn's pick held deadlocked. Passed over, the bin is where that session puts it, as
-- if it had come first; the port closes either way.
local CLOSE_AT_PORT = db.dialect == "postgresql"
    and "UPDATE bin SET bin_mode = 'CLOSED', content = coalesce(?1, content) WHERE bin_id IN "
      .. "(SELECT bin_id FROM bin WHERE bin_id = ?2 AND port_id = ?3 FOR NO KEY UPDATE SKIP LOCKED)"
  or "UPDATE bin SET bin_mode = 'CLOSED', content = coalesce(?1, content) WHERE bin_id = ?2 AND port_id = ?3"

--- Closes the port's open bin. With complete, its task is done (gone, like a cancelled one);
--- otherwise it returns to its group. `content`, when not nil, is the bin's new content code.
--- With `removed` the bin leaves the system (removebin: mode OUTSIDE) instead of staying at the
--- port, closed.
function M.close_bin(port_id, task_id, complete, content, removed)
  if task_id then
    store.select_task(task_id, nil) -- released first: its group's selected state follows the task's
    if complete then store.cancel_task(task_id) end
  end
  local port = db.row("SELECT bin_id FROM port WHERE port_id = ?", port_id)
  if removed then
    db.exec("UPDATE bin SET bin_mode = 'OUTSIDE', port_id = NULL, content = coalesce(?, content) WHERE bin_id = ?",
      content, port.bin_id)
  else
    db.exec(CLOSE_AT_PORT, content, port.bin_id, port_id)
  end
  bins.leave_queue(port_id, port.bin_id)
  db.exec("UPDATE port SET task_id = NULL, bin_id = NULL WHERE port_id = ?", port_id)
end

return M
