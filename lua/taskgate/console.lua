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

local DEFAULT_PORTS, MAX_PORTS = 200, 1000 -- ports listed (a page: offset= goes on)
local PORTS_COUNTED = 100000  -- ports counted (port ids are far fewer: 2000 per interface)
local MAX_SELECTS = 20000     -- open ports' categories read (port_category: a few per open port)
local MAX_CATEGORIES = 100    -- queues listed
local DEFAULT_QUEUE, MAX_QUEUE = 20, 100
local OVERVIEW_ROWS = 100     -- groups listed in all queues together when no category is asked
local MAX_DUE = 1000          -- groups due for promotion merged into the queues
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

-- The open ports, by id, with their bin's task and group, and when they opened (port_seen, on
-- SQLite; PostgreSQL's schema keeps no port_seen).
local OPEN_PORTS = POSTGRESQL
  and ("SELECT p.port_id, p.port_mode, p.opened_epoch AS opened, p.task_id, p.bin_id, t.taskgroup_id FROM port p "
    .. "LEFT JOIN task t ON t.task_id = p.task_id ORDER BY p.port_id LIMIT ? OFFSET ?")
  or ("SELECT p.port_id, p.port_mode, s.opened, s.bin_opened, p.task_id, p.bin_id, t.taskgroup_id FROM port p "
    .. "LEFT JOIN port_seen s ON s.port_id = p.port_id LEFT JOIN task t ON t.task_id = p.task_id "
    .. "ORDER BY p.port_id LIMIT ? OFFSET ?")
-- The closed ones (SQLite): seen once, not open now.
local CLOSED_PORTS = "SELECT s.port_id, s.port_mode, s.opened, s.closed FROM port_seen s "
  .. "WHERE NOT EXISTS (SELECT 1 FROM port p WHERE p.port_id = s.port_id) ORDER BY s.port_id LIMIT ? OFFSET ?"

-- A listed port as JSON text, with the categories it selects.
local function port_text(row, open)
  local categories = open and db.rows("SELECT category FROM port_category WHERE port_id = ? ORDER BY category LIMIT ?",
    row.port_id, MAX_SELECTS) or {}
  for i, c in ipairs(categories) do categories[i] = c.category end
  return extend({ port_id = row.port_id, open = open, port_mode = row.port_mode, opened = row.opened, closed = row.closed,
    bin_opened = row.bin_opened, bin_id = row.bin_id, task_id = row.task_id, taskgroup_id = row.taskgroup_id },
    "categories", array(categories))
end

--- The ports, open ones first (by id), then those closed (on SQLite, which keeps every port
--- ever opened): a page of at most limit (default DEFAULT_PORTS) from offset, or the one asked
--- for (port=); with how many are open and closed, so that the page can say how many it does
--- not show. Each: open or closed, mode, select, its bin with its task and group, and when it
--- opened, closed and opened its bin.
function M.ports(query)
  local q = parse_query(query)
  local limit = bounded(q, DEFAULT_PORTS, MAX_PORTS)
  local offset, only = id(q, "offset", "a count") or 0, id(q, "port", "a port id")
  local open_count = db.row("SELECT count(*) AS n FROM (SELECT 1 FROM port LIMIT ?) AS open", PORTS_COUNTED).n
  local closed_count = POSTGRESQL and 0 or
    db.row("SELECT count(*) AS n FROM (SELECT 1 FROM port_seen LIMIT ?) AS seen", PORTS_COUNTED).n - open_count
  local list = {}
  if only then
    local open = db.row((OPEN_PORTS:gsub("ORDER BY", "WHERE p.port_id = ? ORDER BY")), only, 1, 0)
    local closed = not open and not POSTGRESQL and db.row((CLOSED_PORTS:gsub("ORDER BY",
      "AND s.port_id = ? ORDER BY")), only, 1, 0)
    list[1] = (open or closed) and port_text(open or closed, open ~= nil) or nil
  else
    for _, row in ipairs(db.rows(OPEN_PORTS, limit, offset)) do list[#list + 1] = port_text(row, true) end
    if not POSTGRESQL and #list < limit then
      for _, row in ipairs(db.rows(CLOSED_PORTS, limit - #list, math.max(0, offset - open_count))) do
        list[#list + 1] = port_text(row, false)
      end
    end
  end
  return object({ { "ports", "[" .. table.concat(list, ",") .. "]" }, { "open_ports", json.encode(open_count) },
    { "closed_ports", json.encode(closed_count) }, { "offset", json.encode(only and 0 or offset) },
    { "limit", json.encode(limit) } })
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

-- The open ports selecting each category (port_category holds the open ports' selects: bounded
-- by the ports, not by the store).
local function picked_at()
  local at = {}
  for _, row in ipairs(db.rows("SELECT port_id, category FROM port_category ORDER BY port_id, category LIMIT ?",
    MAX_SELECTS)) do
    at[row.category] = at[row.category] or {}
    table.insert(at[row.category], row.port_id)
  end
  return at
end

-- The categories of the overview: every one the store holds groups of, with something to pick
-- or not (suspended, waiting or selected groups only), and every one an open port selects,
-- even with nothing at all: at most MAX_CATEGORIES, in order, and whether there are more.
local function overview_categories(now, ports_at, counted)
  local list, seen = {}, {}
  local function add(c)
    if not seen[c] then list[#list + 1], seen[c] = c, true end
  end
  if POSTGRESQL then -- no per-category counts: the categories with a group to pick
    for _, c in ipairs(ports.queued_categories(now, MAX_CATEGORIES + 1)) do add(c) end
  else
    for _, row in ipairs(db.rows("SELECT category, taskgroups, tasks FROM category_counts WHERE taskgroups > 0 "
      .. "ORDER BY category LIMIT ?", MAX_CATEGORIES + 1)) do
      add(row.category)
      counted[row.category] = row
    end
  end
  for c in pairs(ports_at) do add(c) end
  table.sort(list)
  local more = #list > MAX_CATEGORIES
  for i = #list, MAX_CATEGORIES + 1, -1 do list[i] = nil end
  return list, more
end

-- The first `n` groups of a queue in picking order, and whether more follow.
local function first_groups(category, now, n, due)
  local groups = ports.queue(category, now, n + 1, due)
  local more = #groups > n
  groups[n + 1] = nil
  return with_first_tasks(groups), more
end

--- The queues: for each category the store holds groups of or an open port selects (or the
--- one asked for), how many groups and tasks it holds, the open ports selecting it, and the
--- groups a port selecting it would pick next, in order, with the task it would open; the order
--- of a port of any category; and the suspended groups and those whose start_time lies ahead,
--- apart. Without a category the queues share OVERVIEW_ROWS groups (each shows `per_category`,
--- at least one); `more` says that more are queued than shown.
function M.queue(query)
  local q = parse_query(query)
  local now, limit, category = clock.now(), bounded(q, DEFAULT_QUEUE, MAX_QUEUE),
    id(q, "category", "a category")
  local ports_at = picked_at()
  local categories, more_categories, counted = { category }, false, {} -- counted: category -> its counts, read
  if not category then categories, more_categories = overview_categories(now, ports_at, counted) end
  local per = category and limit or math.max(1, math.min(limit, OVERVIEW_ROWS // math.max(1, #categories)))
  local due, due_in = ports.due(now, MAX_DUE), {} -- read once, each queue given its category's
  for _, group in ipairs(due) do
    due_in[group.category] = due_in[group.category] or {}
    table.insert(due_in[group.category], group)
  end
  local queues = {}
  for i, c in ipairs(categories) do
    -- PostgreSQL's schema keeps no per-category counts (a shared row every change would wait for)
    local counts = POSTGRESQL and {} or counted[c] or
      db.row("SELECT taskgroups, tasks FROM category_counts WHERE category = ?", c) or { taskgroups = 0, tasks = 0 }
    local groups, more = first_groups(c, now, per, due_in[c] or {})
    queues[i] = object({ { "category", json.encode(c) }, { "groups", array(groups) }, { "more", json.encode(more) },
      { "taskgroups", counts.taskgroups and json.encode(counts.taskgroups) or "null" },
      { "tasks", counts.tasks and json.encode(counts.tasks) or "null" },
      { "ports", array(ports_at[c] or {}) } })
  end
  local any, any_more = {}, false
  if not category then any, any_more = first_groups(nil, now, limit, due) end
  return object({
    { "now", json.encode(now) },
    { "limit", json.encode(limit) },
    { "per_category", json.encode(per) },
    { "categories", "[" .. table.concat(queues, ",") .. "]" },
    { "more_categories", json.encode(more_categories) },
    { "any", array(any) },
    { "any_more", json.encode(any_more) },
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
