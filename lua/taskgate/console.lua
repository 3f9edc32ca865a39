-- taskgate.console: what the web console shows of the store, as JSON text: every port ever
-- opened, the queues in picking order, a task, group or bin looked up, and the audit history of
-- one of them. Read-only. Each answer is bounded whatever the store holds: a few index look-ups
-- per listed row, and at most AUDIT_SCAN audit records read.

local clock = require "taskgate.clock"
local db = require "taskgate.db"
local json = require "taskgate.json"
local ports = require "taskgate.ports"

local M = {}

-- The store's SQL dialect: PostgreSQL's schema has neither port_seen nor category_counts, and
-- its JSON is read with other functions.
local POSTGRESQL = db.dialect == "postgresql"

local MAX_PORTS = 1000        -- ports listed
local MAX_CATEGORIES = 50     -- queues listed
local DEFAULT_QUEUE, MAX_QUEUE = 20, 100
local MAX_AHEAD = 1000        -- a group's place in its queue is counted up to this
local AUDIT_SCAN = 20000      -- the newest audit records an audit search reads
local DEFAULT_AUDIT, MAX_AUDIT = 100, 500
local MAX_LISTED = 100        -- tasks of a group, tasks in a bin
local MAX_GROUP_TASKS = 1000  -- a group's tasks whose records its history shows

-- The query string's values, %XX and + decoded.
local function parse_query(query)
  local values = {}
  for name, value in (query or ""):gmatch("([^&=]+)=([^&]*)") do
    values[name] = value:gsub("+", " "):gsub("%%(%x%x)", function(hex) return string.char(tonumber(hex, 16)) end)
  end
  return values
end

-- A bad filter: the view answers 400 with this message (M.view catches it).
local BAD_REQUEST = {}
local function refuse(message)
  error(setmetatable({ message = message }, BAD_REQUEST), 0)
end

-- The whole number a query value names, or nil when it is absent; any other value is refused
-- with a message naming the filter (a mistyped id must never show everything, as if absent).
local function id(values, name, what)
  local text = values[name]
  if text == nil then return nil end
  local n = text:match("^%d+$") and #text <= 18 and math.tointeger(tonumber(text))
  if not n then refuse(string.format("%s must be %s (a whole number of at most 18 digits), not %q", name, what, text)) end
  return n
end

-- A limit from the query: default when absent, else 1..max (anything else is refused).
local function bounded(values, default, max)
  local n = id(values, "limit", "a count")
  if n == nil then return default end
  if n < 1 or n > max then refuse(string.format("limit must be 1 to %d, not %d", max, n)) end
  return n
end

-- JSON text of an array; json.encode would write an empty one as {}.
local function array(items)
  local parts = {}
  for i, item in ipairs(items) do parts[i] = json.encode(item) end
  return "[" .. table.concat(parts, ",") .. "]"
end

-- JSON text of a record (a table with at least one field) with one more field, `name`, whose
-- value is JSON text already.
local function extend(record, name, text)
  return json.encode(record):sub(1, -2) .. "," .. json.encode(name) .. ":" .. text .. "}"
end

-- JSON text of an object whose values are JSON text already: fields is a list of {name, text}.
local function object(fields)
  local parts = {}
  for i, field in ipairs(fields) do parts[i] = json.encode(field[1]) .. ":" .. field[2] end
  return "{" .. table.concat(parts, ",") .. "}"
end

-- Every port ever opened, from port_seen (SQLite's schema keeps it by triggers).
local PORTS_SEEN = "SELECT s.port_id, s.port_mode AS last_mode, s.opened, s.closed, s.bin_opened, "
  .. "p.port_id AS open_id, p.port_mode, p.task_id, p.bin_id, t.taskgroup_id FROM port_seen s "
  .. "LEFT JOIN port p ON p.port_id = s.port_id LEFT JOIN task t ON t.task_id = p.task_id "
  .. "ORDER BY s.port_id LIMIT ?"
-- On PostgreSQL, whose schema has no port_seen: the open ports, since when they are open.
local PORTS_OPEN = "SELECT p.port_id, p.port_id AS open_id, p.port_mode, p.opened_epoch AS opened, p.task_id, "
  .. "p.bin_id, t.taskgroup_id FROM port p LEFT JOIN task t ON t.task_id = p.task_id ORDER BY p.port_id LIMIT ?"

--- Every port ever opened (MAX_PORTS at most, by id; on PostgreSQL the open ones): open or closed, its mode and select, the
--- bin it has open with its task and group, and when it opened, closed and opened its bin.
function M.ports()
  local categories = {}
  for _, row in ipairs(db.rows("SELECT port_id, category FROM port_category ORDER BY port_id, category LIMIT ?",
    MAX_PORTS * 10)) do
    categories[row.port_id] = categories[row.port_id] or {}
    table.insert(categories[row.port_id], row.category)
  end
  local list = {}
  for _, row in ipairs(db.rows(POSTGRESQL and PORTS_OPEN or PORTS_SEEN, MAX_PORTS)) do
    list[#list + 1] = {
      port_id = row.port_id, open = row.open_id ~= nil, port_mode = row.port_mode or row.last_mode,
      opened = row.opened, closed = row.closed, bin_opened = row.bin_opened, bin_id = row.bin_id,
      task_id = row.task_id, taskgroup_id = row.taskgroup_id,
    }
    list[#list] = extend(list[#list], "categories", array(categories[row.port_id] or {}))
  end
  return "[" .. table.concat(list, ",") .. "]"
end

-- A queue's groups with the task openbin would open of each: its lowest task that no port has.
local function with_first_tasks(groups)
  for _, group in ipairs(groups) do
    local task = ports.first_task_of_group(group.taskgroup_id)
    group.task_id, group.bin_id = task and task.task_id, task and task.bin_id
    group.req_epoch, group.start_epoch = nil, nil
  end
  return groups
end

-- Groups listed apart from the queues (sql with its values): when filtered by category, from at
-- most AUDIT_SCAN index entries (the filter is applied after that bounded read).
local function apart(sql, values, category, limit)
  local all = { table.unpack(values) }
  all[#all + 1], all[#all + 2], all[#all + 3] = category and 1 or 0, category or 0, limit
  local rows = db.rows("SELECT taskgroup_id, category, req_time, priority, start_time FROM (" .. sql
    .. " LIMIT " .. AUDIT_SCAN .. ") AS listed WHERE ? = 0 OR category = ? LIMIT ?", table.unpack(all, 1, #values + 3))
  return array(rows)
end

--- The queues: for each category with a group to pick (or the one asked for), the groups a port
--- selecting it would pick next, in order, with the task it would open; the order of a port
--- of any category; and the suspended groups and those whose start_time lies ahead, apart.
function M.queue(query)
  local q = parse_query(query)
  local now, limit, category = clock.now(), bounded(q, DEFAULT_QUEUE, MAX_QUEUE),
    id(q, "category", "a category")
  local categories = category and { category } or ports.queued_categories(now, MAX_CATEGORIES)
  local picked_at = {} -- category -> the open ports selecting it
  for _, row in ipairs(db.rows("SELECT port_id, category FROM port_category ORDER BY port_id, category LIMIT ?",
    MAX_PORTS * 10)) do
    picked_at[row.category] = picked_at[row.category] or {}
    table.insert(picked_at[row.category], row.port_id)
  end
  local queues = {}
  for i, c in ipairs(categories) do
    -- PostgreSQL's schema keeps no per-category counts (a shared row every change would wait for)
    local counts = POSTGRESQL and {} or db.row("SELECT taskgroups, tasks FROM category_counts WHERE category = ?", c) or
      { taskgroups = 0, tasks = 0 }
    queues[i] = object({ { "category", json.encode(c) }, { "groups", array(with_first_tasks(ports.queue(c, now, limit))) },
      { "taskgroups", counts.taskgroups and json.encode(counts.taskgroups) or "null" },
      { "tasks", counts.tasks and json.encode(counts.tasks) or "null" },
      { "ports", array(picked_at[c] or {}) } })
  end
  return object({
    { "now", json.encode(now) },
    { "limit", json.encode(limit) },
    { "categories", "[" .. table.concat(queues, ",") .. "]" },
    { "any", array(category and {} or with_first_tasks(ports.queue(nil, now, limit))) },
    { "suspended", apart("SELECT * FROM taskgroup INDEXED BY taskgroup_by_suspended WHERE suspended = 1", {},
      category, limit) },
    { "future", apart("SELECT * FROM taskgroup INDEXED BY taskgroup_waiting WHERE waits = 1 AND start_epoch > ? "
      .. "ORDER BY start_epoch", { now }, category, limit) },
  })
end

-- Where a group stands: selected by a port, suspended, waiting for its start_time, or queued,
-- with the number of groups ahead of it in its category's queue (up to MAX_AHEAD).
local function standing(group, now)
  if group.selected_by then return { state = "selected", port_id = group.selected_by } end
  if group.suspended == 1 then return { state = "suspended" } end
  if group.start_epoch and group.start_epoch > now then return { state = "waiting", start_time = group.start_time } end
  local ahead = db.row("SELECT count(*) AS n FROM (SELECT 1 FROM taskgroup INDEXED BY taskgroup_ready "
    .. "WHERE category = ? AND suspended = 0 AND selected_by IS NULL AND waits = 0 "
    .. "AND (start_epoch IS NULL OR start_epoch <= ?) AND (req_epoch, priority, taskgroup_id) < (?, ?, ?) LIMIT ?) AS ahead",
    group.category, now, group.req_epoch, group.priority, group.taskgroup_id, MAX_AHEAD).n
  return { state = "queued", ahead = ahead, ahead_capped = ahead >= MAX_AHEAD }
end

local GROUP = "SELECT taskgroup_id, shipment, category, req_time, req_epoch, priority, start_time, start_epoch, "
  .. "suspended, selected_by FROM taskgroup WHERE taskgroup_id = ?"
local TASKS_OF_GROUP = 'SELECT task_id, bin_id, item, "order", port_id FROM task WHERE taskgroup_id = ? ORDER BY task_id LIMIT ?'

local function describe_group(taskgroup_id, now)
  local group = db.row(GROUP, taskgroup_id)
  if not group then return nil end
  group.standing = standing(group, now)
  group.tasks = db.rows(TASKS_OF_GROUP, taskgroup_id, MAX_LISTED)
  group.req_epoch, group.start_epoch, group.suspended = nil, nil, group.suspended == 1
  return group
end

--- A task (task=), group (group=) or bin (bin=) as the store has it now, and where it stands:
--- selected by a port, suspended, waiting, or queued with the number of groups ahead of it.
function M.search(query)
  local q = parse_query(query)
  local now = clock.now()
  local task_id, taskgroup_id, bin_id = id(q, "task", "a task id"), id(q, "group", "a task group id"),
    id(q, "bin", "a bin id")
  local fields = { { "now", json.encode(now) } }
  if task_id then
    local task = db.row('SELECT task_id, taskgroup_id, bin_id, item, "order", estpicktime, port_id FROM task '
      .. "WHERE task_id = ?", task_id)
    fields[#fields + 1] = { "task", task and json.encode(task) or "null" }
    taskgroup_id = taskgroup_id or (task and task.taskgroup_id)
  end
  if taskgroup_id then
    local group = describe_group(taskgroup_id, now)
    local tasks = group and group.tasks
    if group then group.tasks = nil end
    fields[#fields + 1] = { "group", group and extend(group, "tasks", array(tasks)) or "null" }
  end
  if bin_id then
    local bin = db.row("SELECT bin_id, bin_mode, port_id, content FROM bin WHERE bin_id = ?", bin_id) or { bin_id = bin_id }
    bin.open_at = bin.bin_mode == "OPEN" and bin.port_id or nil -- the bin model keeps where it is open
    fields[#fields + 1] = { "bin", extend(bin, "tasks", array(db.rows("SELECT task_id, taskgroup_id, port_id FROM task "
      .. "WHERE bin_id = ? ORDER BY task_id LIMIT ?", bin_id, MAX_LISTED))) }
  end
  return object(fields)
end

local AUDIT = "SELECT audit_id, time, client, method, params, outcome, request_id FROM "
  .. "(SELECT * FROM audit ORDER BY audit_id DESC LIMIT " .. AUDIT_SCAN .. ") AS recent WHERE "
-- A record about the value ?N of a field: the rule's own field, or the one it forwarded.
-- PostgreSQL reads the JSON text with its own operators (as text, compared with the id's text).
local function about(field, n)
  if POSTGRESQL then
    return string.format("(params::jsonb ->> '%s' = ?%d::text OR params::jsonb #>> '{forwarded,%s}' = ?%d::text)",
      field, n, field, n)
  end
  return string.format("(json_extract(params, '$.%s') = ?%d OR json_extract(params, '$.forwarded.%s') = ?%d)",
    field, n, field, n)
end
-- A record about task ?1: it names it, or created it (a create's task_ids).
local ABOUT_TASK = "(" .. about("task_id", 1) .. " OR EXISTS (SELECT 1 FROM "
  .. (POSTGRESQL and "jsonb_array_elements_text(params::jsonb -> 'task_ids') AS id(value) WHERE value = ?1::text))"
    or "json_each(params, '$.task_ids') WHERE value = ?1))")

-- A record about one of the tasks in the JSON array ?2: it names it (openbin, closebin and
-- removebin name the task, and before they named its group too, only the task).
local ABOUT_TASKS = POSTGRESQL
  and "(params::jsonb ->> 'task_id') IN (SELECT value FROM jsonb_array_elements_text(?2::jsonb) AS id(value))"
  or "json_extract(params, '$.task_id') IN (SELECT value FROM json_each(?2))"

-- The tasks a group holds now and those its create records name (done or cancelled ones are
-- gone from the store), as a JSON array, at most MAX_GROUP_TASKS.
local function tasks_of_group(taskgroup_id, own_records)
  local ids, seen = {}, {}
  local function add(task_id)
    if task_id and not seen[task_id] and #ids < MAX_GROUP_TASKS then ids[#ids + 1], seen[task_id] = task_id, true end
  end
  for _, row in ipairs(db.rows("SELECT task_id FROM task WHERE taskgroup_id = ? ORDER BY task_id LIMIT ?", taskgroup_id,
    MAX_GROUP_TASKS)) do add(row.task_id) end
  for _, record in ipairs(own_records) do
    local list = record.params:match('"task_ids":%[([%d,]*)%]')
    for n in (list or ""):gmatch("%d+") do add(math.tointeger(tonumber(n))) end
  end
  return "[" .. table.concat(ids, ",") .. "]"
end

-- How many records an audit search read: the newest AUDIT_SCAN, or every record when the trail
-- holds fewer (then `whole` is true).
local function scanned()
  if db.row("SELECT audit_id FROM audit ORDER BY audit_id DESC LIMIT 1 OFFSET ?", AUDIT_SCAN - 1) then
    return AUDIT_SCAN, false
  end
  return db.row("SELECT count(*) AS n FROM (SELECT audit_id FROM audit ORDER BY audit_id DESC LIMIT ?) AS trail",
    AUDIT_SCAN).n, true
end

--- The audit history of a task (task=), group (group=) or port (port=), newest first: at most
--- limit records of the newest AUDIT_SCAN. A task's history includes its group's records; a
--- group's, the records of its tasks (who opened and closed their bins). Without any: the
--- newest records. An id that is not a whole number is refused (400).
function M.audit(query)
  local q = parse_query(query)
  local limit = bounded(q, DEFAULT_AUDIT, MAX_AUDIT)
  local task_id, taskgroup_id, port_id = id(q, "task", "a task id"), id(q, "group", "a task group id"),
    id(q, "port", "a port id")
  local records = {}
  if task_id then
    local task = db.row("SELECT taskgroup_id FROM task WHERE task_id = ?", task_id)
    taskgroup_id = taskgroup_id or (task and task.taskgroup_id)
    if not taskgroup_id then -- gone from the store: its records may name its group
      for _, record in ipairs(db.rows(AUDIT .. ABOUT_TASK .. " LIMIT 10", task_id)) do
        taskgroup_id = taskgroup_id or math.tointeger(tonumber(record.params:match('"taskgroup_id":(%d+)')))
      end
    end
    records = db.rows(AUDIT .. "(" .. ABOUT_TASK .. " OR " .. about("taskgroup_id", 2) .. ") LIMIT ?3", task_id,
      taskgroup_id or -1, limit)
  elseif taskgroup_id then
    local own = db.rows(AUDIT .. about("taskgroup_id", 1) .. " LIMIT ?2", taskgroup_id, MAX_AUDIT)
    records = db.rows(AUDIT .. "(" .. about("taskgroup_id", 1) .. " OR " .. ABOUT_TASKS .. ") LIMIT ?3", taskgroup_id,
      tasks_of_group(taskgroup_id, own), limit)
  elseif port_id then
    records = db.rows(AUDIT .. about("port_id", 1) .. " LIMIT ?2", port_id, limit)
  else -- nothing asked: the newest records, whatever they are about
    records = db.rows(AUDIT .. "1 = 1 LIMIT ?1", limit)
  end
  local read, whole = scanned()
  return object({ { "scanned", json.encode(read) }, { "whole", json.encode(whole) },
    { "taskgroup_id", json.encode(taskgroup_id) }, { "records", array(records) } })
end

--- The self-checks of the serving rules: whether the rule set has them, how many calls they
--- made, and when they passed (a generation whose self-checks fail never serves).
function M.self_check()
  return json.encode(require("taskgate.host").self_check_report or { present = false })
end

--- The view asked for by name, as JSON text and an HTTP status: 200, or 400 with
--- {"error": message} when a filter is not what it must be.
function M.view(name, query)
  local view = ({ ports = M.ports, queue = M.queue, search = M.search, audit = M.audit, self_check = M.self_check })[name]
  if not view then error("no console view " .. tostring(name)) end
  local ok, answer = pcall(view, query)
  if ok then return answer, 200 end
  if getmetatable(answer) == BAD_REQUEST then return json.encode({ error = answer.message }), 400 end
  error(answer, 0) -- anything else (a time limit, a store error) stays the failure it was
end

return M
