-- Fills a store quickly with a warehouse-like mix of task groups, writing SQL straight into
-- the tables that the gateway's own schema code made (native.open_store runs the migrations),
-- as bench/prefill.lua does. Used by the scale specs and the per-method benchmark.
--
--   local fill = dofile("bench/fill.lua")
--   fill.groups(db, { tasks = 1000000, per_group = 10, categories = 50, suspended_pct = 80,
--                     future_pct = 10, now = 1714550400 })
--   fill.selected(db, { ports = 200, first_port = 1000 })
--
-- Every value is a fixed function of the group's number, so a store is the same on every run.
-- Group g (1, 2, ...) holds tasks first_task + (g - 1) * per_group ... (per_group of them).

local M = {}

M.BASE_EPOCH = 1714550400 -- 2024-05-01T08:00:00Z

local defaults = {
  tasks = 10000,
  per_group = 10,
  categories = 50,
  req_times = 1000,   -- distinct req_times (minutes apart): many groups share one
  priorities = 5,
  suspended_pct = 0,  -- percent of groups suspended
  future_pct = 0,     -- percent of groups whose start_time lies ahead of `now`
  past_start_pct = 0, -- percent of groups whose start_time has passed
  now = M.BASE_EPOCH,
  first_task = 1,
  first_group = 1,
}

local function options(given)
  local o = {}
  for k, v in pairs(defaults) do o[k] = v end
  for k, v in pairs(given or {}) do o[k] = v end
  return o
end

--- Writes the groups and their tasks (see the header); returns the number of groups.
function M.groups(db, given)
  local o = options(given)
  local groups = (o.tasks + o.per_group - 1) // o.per_group
  db.exec("PRAGMA cache_size = -262144") -- 256 MiB while filling: the indexes are written out of order
  assert(db.begin_turn())
  -- h(g, a) = the high bits of a linear congruence: a spread of values that does not line up
  -- with the other columns' (plain g * a % m would make suspended, held and category correlate).
  assert(db.exec([[WITH RECURSIVE n(g) AS (SELECT 0 UNION ALL SELECT g + 1 FROM n WHERE g + 1 < :groups),
    h(g, c, r, p, s, w, hour) AS (SELECT g, (g * 1103515245 + 12345) / 65536, (g * 134775813 + 1) / 65536,
      (g * 22695477 + 1) / 65536, (g * 214013 + 2531011) / 65536 % 100, (g * 69069 + 1) / 65536 % 100,
      1 + (g * 48271 + 11) / 65536 % 48 FROM n),
    s(g, c, r, p, s, start_epoch) AS (SELECT g, c, r, p, s, CASE
      WHEN w < :future_pct THEN :now + 3600 * hour
      WHEN w < :future_pct + :past_start_pct THEN :now - 3600 * hour END FROM h)
    INSERT INTO taskgroup (taskgroup_id, shipment, category, req_time, req_epoch, priority, start_time, start_epoch,
      suspended, waits)
    SELECT :first_group + g, 1 + g / 20, 1 + c % :categories,
      strftime('%Y-%m-%dT%H:%M:%SZ', :base + (r % :req_times) * 60, 'unixepoch'),
      :base + (r % :req_times) * 60, 1 + p % :priorities,
      strftime('%Y-%m-%dT%H:%M:%SZ', start_epoch, 'unixepoch'), start_epoch,
      s < :suspended_pct, coalesce(start_epoch > :now, 0) FROM s]],
    groups, o.future_pct, o.now, o.past_start_pct, o.first_group, o.categories, M.BASE_EPOCH, o.req_times,
    o.priorities, o.suspended_pct))
  assert(db.exec([[WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < :tasks)
    INSERT INTO task (task_id, taskgroup_id, bin_id) SELECT :first_task + i, :first_group + i / :per_group,
      1 + (i * 7) % 4000000 FROM n]], o.tasks, o.first_task, o.first_group, o.per_group))
  assert(db.commit_turn())
  db.exec("PRAGMA cache_size = -2000")
  return groups
end

--- Opens `ports` ports (port_id first_port, ...), each selecting `categories_per_port`
--- categories, and gives each an open bin: the first task of a group picked by a stride
--- through the store's groups (those up to groups_below, when given) that is not suspended and
--- not yet selected. Returns the ports' task ids.
function M.selected(db, given)
  local o = options(given)
  local ports, first_port = o.ports or 0, o.first_port or 1000
  local selected = {}
  assert(db.begin_turn())
  local groups = o.groups_below or db.row("SELECT max(taskgroup_id) AS n FROM taskgroup").n or 0
  for k = 0, ports - 1 do
    local port_id = first_port + k
    db.exec("INSERT INTO port (port_id, port_mode) VALUES (?, 'PICK')", port_id)
    for c = 0, (o.categories_per_port or 2) - 1 do
      db.exec("INSERT OR IGNORE INTO port_category (port_id, category) VALUES (?, ?)", port_id,
        1 + (k * 3 + c) % o.categories)
    end
    local task = db.row("SELECT t.task_id, t.bin_id FROM taskgroup g JOIN task t ON t.taskgroup_id = g.taskgroup_id "
      .. "WHERE g.taskgroup_id >= ? AND g.taskgroup_id <= ? AND g.suspended = 0 AND g.selected_by IS NULL "
      .. "ORDER BY g.taskgroup_id, t.task_id LIMIT 1", 1 + (k * 7919) % math.max(groups, 1), groups)
    if task then
      db.exec("UPDATE task SET port_id = ? WHERE task_id = ?", port_id, task.task_id)
      db.exec("UPDATE port SET task_id = ?, bin_id = ? WHERE port_id = ?", task.task_id, task.bin_id, port_id)
      selected[#selected + 1] = task.task_id
    end
  end
  assert(db.commit_turn())
  return selected
end

-- As a command: lua5.4 bench/fill.lua STORE TASKS [name=value ...] (numbers only).
if arg and arg[0] and arg[0]:match("fill%.lua$") then
  local root = os.getenv("TASKGATE_ROOT") or "."
  package.cpath = (os.getenv("TASKGATE_BUILD") or (root .. "/build")) .. "/?.so;" .. package.cpath
  local path, tasks = arg[1], math.tointeger(tonumber(arg[2] or ""))
  assert(path and tasks, "usage: lua5.4 bench/fill.lua STORE TASKS [name=value ...]")
  local given, ports = { tasks = tasks }, {}
  for i = 3, #arg do
    local name, value = arg[i]:match("^([%w_]+)=(%d+)$")
    assert(name, "not name=number: " .. arg[i])
    given[name] = math.tointeger(tonumber(value))
  end
  local db = require("taskgate_native").open_store(path)
  local groups = M.groups(db, given)
  if given.ports then M.selected(db, given) end
  db.close()
  print(string.format("filled %s with %d tasks in %d groups", path, tasks, groups))
end

return M
