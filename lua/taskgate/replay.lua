-- taskgate.replay: recorded traffic against a rule set, and one call tried without keeping it.
-- src/replay.c drives it on a snapshot of the store, one step per call (each under the call time
-- limit): `taskgate replay --rules DIR` and `taskgate check DIR --replay N` replay the journal
-- (taskgate.journal) against the configured rules and against DIR, each on its own copy, and
-- report the calls whose answer differs; `taskgate try` answers one call and lists the rows it
-- changed. Each journaled call runs at its recorded time (clock.source) from its recorded
-- client; in bridge mode, what a rule forwards is answered as the controller answered it then.
-- Each call runs in a transaction replay.c opens, on the connection the gateway would use: a
-- read-only method's on a read connection (its rule cannot write), any other's in a turn.

local clock = require "taskgate.clock"
local db = require "taskgate.db"
local dispatch = require "taskgate.dispatch"
local journal = require "taskgate.journal"
local jsondecode = require "taskgate.jsondecode"
local sys = require "taskgate.sys"
local xml = require "taskgate.xml"

local M = {}

local ids, outcomes = {}, {} -- the journal ids to replay, oldest first; id -> "outcome\treason"
local calls_of = {} -- i -> "interface\tmethod" of the i-th loaded entry

--- Loads the newest `last` journal entries (all when 0); returns how many, as text.
function M.load(last)
  journal.paused = true -- the replayed calls are not traffic
  last = tonumber(last) or 0
  local rows = db.rows("SELECT journal_id, interface, method FROM journal ORDER BY journal_id DESC LIMIT ?",
    last > 0 and last or -1)
  ids, outcomes, calls_of = {}, {}, {}
  for i = #rows, 1, -1 do
    ids[#ids + 1] = rows[i].journal_id
    calls_of[#ids] = (rows[i].interface or "task") .. "\t" .. rows[i].method
  end
  return tostring(#ids)
end

--- The endpoint and method of the `i`-th loaded entry, "interface\tmethod": replay.c runs its
--- step on the connection the gateway would.
function M.call_of(i)
  return calls_of[tonumber(i)]
end

-- What the controller answered a forwarded call, rebuilt from the recorded outcome.
local function recorded_upstream(entry)
  if entry.outcome == "ok" then return { status = 200, body = xml.encode({ params = {} }) } end
  local code = tonumber(entry.outcome)
  if code then return { status = 200, body = xml.encode({ fault = { code = code } }) } end
  return { error = "not recorded" }
end

-- Runs one call as the gateway would, in the transaction replay.c opened for it; returns the
-- reply and the reason the call was refused (or the failure's kind), as the call's log line
-- would say them.
local function answer(call, send)
  local noted = sys.note
  local reason
  sys.note = function(method, outcome, failure, sent, why)
    reason = why or failure or reason
    return noted(method, outcome, failure, sent, why)
  end
  local ok, reply = pcall(dispatch.handle, call, send)
  sys.note = noted
  if not ok then error(reply, 0) end
  return reply, reason
end

local function outcome_of(reply)
  local code = reply.fault and reply.fault.code or reply.code
  return code and tostring(code) or "ok"
end

--- Replays the `i`-th loaded entry; returns "".
function M.step(i)
  local id = ids[tonumber(i)]
  local entry = db.row("SELECT journal_id, time, client, interface, method, params, outcome FROM journal WHERE journal_id = ?", id)
  local params = jsondecode.decode(entry.params)
  if type(params) ~= "table" or params.not_kept then
    outcomes[id] = "skipped\tparameters not kept"
    return ""
  end
  local source = clock.source
  clock.source = function() return entry.time end
  local ok, reply, reason = pcall(answer, { name = entry.method, params = params, client = entry.client,
    interface = entry.interface }, function() return recorded_upstream(entry) end)
  clock.source = source
  if not ok then error(reply, 0) end
  outcomes[id] = outcome_of(reply) .. "\t" .. (reason or "")
  return ""
end

--- The outcomes of the replay, one "id\toutcome\treason" a line.
function M.results()
  local lines = {}
  for i, id in ipairs(ids) do lines[i] = id .. "\t" .. outcomes[id] end
  return table.concat(lines, "\n")
end

local function parse_results(text)
  local by_id = {}
  for id, outcome, reason in text:gmatch("(%d+)\t([^\t\n]*)\t([^\n]*)") do
    by_id[tonumber(id)] = { outcome = outcome, reason = reason ~= "" and reason or nil }
  end
  return by_id
end

local function describe(outcome, reason)
  return reason and (outcome .. " (" .. reason .. ")") or outcome
end

local function add(counts, key)
  counts[key] = (counts[key] or 0) + 1
end

local function sorted_counts(counts)
  local keys = {}
  for key in pairs(counts) do keys[#keys + 1] = key end
  table.sort(keys, function(a, b) return counts[a] > counts[b] or (counts[a] == counts[b] and a < b) end)
  local parts = {}
  for i, key in ipairs(keys) do parts[i] = key .. " " .. counts[key] end
  return table.concat(parts, ", ")
end

--- Compares this run (the candidate rules) with the baseline's results; returns the report.
function M.report(baseline_text, baseline_dir, candidate_dir)
  local baseline = parse_results(baseline_text)
  local lines, by_method, by_reason, changed = {}, {}, {}, 0
  for _, id in ipairs(ids) do
    local entry = db.row("SELECT time, client, method, outcome, reason FROM journal WHERE journal_id = ?", id)
    local old, new = baseline[id], parse_results(id .. "\t" .. outcomes[id])[id]
    if old.outcome ~= new.outcome or old.reason ~= new.reason then
      changed = changed + 1
      lines[#lines + 1] = string.format("  #%d %s %s from %s: %s -> %s (recorded: %s)", id, clock.format(entry.time),
        entry.method, entry.client, describe(old.outcome, old.reason), describe(new.outcome, new.reason),
        describe(entry.outcome, entry.reason))
      add(by_method, entry.method)
      add(by_reason, new.reason or old.reason or "-")
    end
  end
  local head = { string.format("replayed %d journaled calls against %s (now) and %s (candidate), each on a copy of the store",
    #ids, baseline_dir, candidate_dir) }
  if #ids > 0 then
    local first = db.row("SELECT time FROM journal WHERE journal_id = ?", ids[1])
    local last = db.row("SELECT time FROM journal WHERE journal_id = ?", ids[#ids])
    head[2] = string.format("calls from %s to %s", clock.format(first.time), clock.format(last.time))
  end
  head[#head + 1] = string.format("%d answered differently%s", changed, changed > 0 and " (now -> candidate):" or "")
  for _, line in ipairs(lines) do head[#head + 1] = line end
  if changed > 0 then
    head[#head + 1] = "by method: " .. sorted_counts(by_method)
    head[#head + 1] = "by reason: " .. sorted_counts(by_reason)
  end
  return table.concat(head, "\n") .. "\n"
end

-- `try` -------------------------------------------------------------------------------------

local TRACKED = "try_changes" -- a temporary table the triggers below fill
local keys = {} -- table -> its first column, which names an updated row

--- Puts temporary triggers on every table of the store copy, so that the call's changes can be
--- listed: table, operation, the row before and after (as JSON).
function M.try_prepare()
  journal.paused = true
  db.exec("CREATE TEMP TABLE " .. TRACKED .. " (n INTEGER PRIMARY KEY, tbl TEXT, op TEXT, old TEXT, new TEXT)")
  for _, t in ipairs(db.rows("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")) do
    local old, new = {}, {}
    for i, column in ipairs(db.rows("SELECT name FROM pragma_table_info(?)", t.name)) do
      if i == 1 then keys[t.name] = column.name end
      old[#old + 1] = string.format("'%s', OLD.\"%s\"", column.name, column.name)
      new[#new + 1] = string.format("'%s', NEW.\"%s\"", column.name, column.name)
    end
    local o, n = "json_object(" .. table.concat(old, ", ") .. ")", "json_object(" .. table.concat(new, ", ") .. ")"
    local target = string.format("main.\"%s\"", t.name)
    db.exec(string.format("CREATE TEMP TRIGGER \"try_i_%s\" AFTER INSERT ON %s BEGIN INSERT INTO %s (tbl, op, new) VALUES ('%s', 'insert', %s); END",
      t.name, target, TRACKED, t.name, n))
    db.exec(string.format("CREATE TEMP TRIGGER \"try_u_%s\" AFTER UPDATE ON %s BEGIN INSERT INTO %s (tbl, op, old, new) VALUES ('%s', 'update', %s, %s); END",
      t.name, target, TRACKED, t.name, o, n))
    db.exec(string.format("CREATE TEMP TRIGGER \"try_d_%s\" AFTER DELETE ON %s BEGIN INSERT INTO %s (tbl, op, old) VALUES ('%s', 'delete', %s); END",
      t.name, target, TRACKED, t.name, o))
  end
  return ""
end

-- KEY=VALUE lines as a parameter table; dots nest ("tasks.task.1.task_id=10": a number is a
-- list index).
local function parse_params(text)
  local params = {}
  for line in text:gmatch("[^\n]+") do
    local key, value = line:match("^([^=]+)=(.*)$")
    local node, parts = params, {}
    for part in key:gmatch("[^.]+") do parts[#parts + 1] = tonumber(part) or part end
    for i = 1, #parts - 1 do
      node[parts[i]] = node[parts[i]] or {}
      node = node[parts[i]]
    end
    node[parts[#parts]] = value
  end
  return params
end

-- The differences between a row before and after, "column: old -> new".
local function changes_of(old, new)
  local parts = {}
  for key, value in pairs(new) do
    if old[key] ~= value then parts[#parts + 1] = string.format("%s: %s -> %s", key, tostring(old[key]), tostring(value)) end
  end
  table.sort(parts)
  return table.concat(parts, ", ")
end

local tried = {} -- the reply and reason of the call try_call answered, for try_report

--- Answers `method` with the KEY=VALUE `params` text as a local client would send it; returns
--- "". Its changes stay in the copy.
function M.try_call(method, params_text)
  tried.reply, tried.reason = answer({ name = method, params = parse_params(params_text), client = "127.0.0.1" },
    function(request) return { error = "not sent: taskgate try does not reach the network (" .. tostring(request.url) .. ")" } end)
  return ""
end

--- The reply document of the call tried and the changes it made, its traces written after it
--- (a read-only method's) included.
function M.try_report()
  local reply, reason = tried.reply, tried.reason
  local out = { "reply:", reply.raw or xml.encode(reply) }
  if reason then out[#out + 1] = "reason: " .. reason end
  local rows = db.rows("SELECT tbl, op, old, new FROM " .. TRACKED .. " ORDER BY n")
  out[#out + 1] = string.format("changes (%d rows; none is kept):", #rows)
  for _, row in ipairs(rows) do
    if row.op == "update" then
      local old, new = jsondecode.decode(row.old), jsondecode.decode(row.new)
      local key = keys[row.tbl]
      out[#out + 1] = string.format("  update %s %s=%s: %s", row.tbl, key, tostring(old[key]), changes_of(old, new))
    else
      out[#out + 1] = string.format("  %s %s %s", row.op, row.tbl, row.op == "insert" and row.new or row.old)
    end
  end
  return table.concat(out, "\n") .. "\n"
end

return M
