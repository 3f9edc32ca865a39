-- taskgate.audit: the audit trail, written in the same transaction as the change it records,
-- so the trail and the store can never disagree.

local clock = require "taskgate.clock"
local db = require "taskgate.db"
local json = require "taskgate.json"
local owed = require "taskgate.owed"
local sys = require "taskgate.sys"
local view = require "taskgate.view"

local M = {}

-- Every record names the client's address and port, the request (the log line's request_id) and
-- the rules version that decided (taskgate.host: a digest of the loaded files).
local INSERT = "INSERT INTO audit (time, client, client_port, method, params, outcome, request_id, rules)"
  .. " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"

M.rules_version = nil -- set by taskgate.host when a rule set loads

local kept = setmetatable({}, { __mode = "k" }) -- call -> records to write even if it rolls back
local handed = setmetatable({}, { __mode = "k" }) -- call -> true: such records are owed (taskgate.owed)
local notes = setmetatable({}, { __mode = "k" }) -- call -> fields every record of it gets (annotate)

--- Adds `fields` to every audit record `call` writes from now on (a policy's way to record more
--- than the rule does: the rule's own fields win over them). Fields set to nil are left out.
function M.annotate(call, fields)
  call = view.call(call, "audit.annotate") -- a policy's view: the records are the gateway's call's
  if type(fields) ~= "table" then error("audit.annotate(call, fields): fields is a table", 2) end
  local merged = notes[call] or {}
  for key, value in pairs(fields) do merged[key] = value end
  notes[call] = merged
end

-- The fields of a record: the rule's, with the call's annotations added.
local function with_notes(call, fields)
  local extra = notes[call]
  if not extra then return fields end
  local merged = {}
  for key, value in pairs(extra) do merged[key] = value end
  for key, value in pairs(fields) do merged[key] = value end
  return merged
end

--- Records that `call` changed the store. `fields` are the values worth keeping (defaults to
--- the call's parameters as sent), with what policies added (annotate). opts.outcome replaces
--- "ok"; opts.always keeps the record even when the call ends in a fault and its changes are
--- undone (used for forwarded calls, whose effect lies upstream). A call on a read connection (a
--- read-only method's, taskgate.owed) changes nothing: its `always` records are owed to its
--- worker, and any other is a write the connection refuses (the call fails).
function M.record(call, fields, opts)
  -- only the running call's view: the record names the call as the gateway received it
  M.record_call(view.call(call, "audit.record"), fields, opts)
end

--- M.record for the gateway's own call (not a view), for the runtime (taskgate.upstream).
function M.record_call(call, fields, opts)
  fields = fields or call.params or {}
  local time, params = clock.format(clock.now()), json.encode(with_notes(call, fields))
  local outcome = opts and opts.outcome or "ok"
  local always = opts and opts.always
  if always then -- kept as a table: written again after an abort, or owed
    local record = { time, call.client, call.client_port, call.name, params, outcome, call.request_id, M.rules_version }
    if owed.owing() and owed.owe_record(record) then
      handed[call] = true
    else
      db.exec(INSERT, table.unpack(record, 1, 8))
      kept[call] = kept[call] or {}
      table.insert(kept[call], record)
    end
  else -- every change's record: its values passed as they are, without a table
    db.exec(INSERT, time, call.client, call.client_port, call.name, params, outcome, call.request_id, M.rules_version)
  end
  -- the calls view shows what the call acted on: an openbin's task and bin, a cancel's group (ids
  -- read as math.tointeger reads them)
  sys.note_acted(fields.task_id, fields.taskgroup_id, fields.port_id, fields.bin_id)
end

--- Writes a record of M.record's (its row's 8 values). The caller holds a call transaction open.
function M.insert(record)
  db.exec(INSERT, table.unpack(record, 1, 8))
end

--- After `call` was aborted: writes its `always` records, in a call transaction of their own.
--- Returns true when it had any (the call's effect lies upstream: it is recorded), owed ones too.
function M.after_abort(call)
  local records = kept[call]
  local owed_any = handed[call]
  handed[call] = nil
  if not records then return owed_any == true end
  kept[call] = nil
  if not db.begin_call() then return true end
  for _, record in ipairs(records) do M.insert(record) end
  db.commit_call()
  return true
end

--- After `call`, which the upstream may have executed, failed here: records that its outcome is
--- unknown (reason: what failed), in a call transaction of its own, or owed by a call on a read
--- connection. Parameters are kept up to MARKED_PARAMS_MAX bytes.
function M.outcome_unknown(call, reason)
  local params = json.encode(with_notes(call, call.params or {}))
  if #params > M.MARKED_PARAMS_MAX then params = string.format('{"not_kept":"%d bytes"}', #params) end
  -- the reason quotes an error's message, which a rule may have written with a URL in it
  local record = { clock.format(clock.now()), call.client, call.client_port, call.name, params,
    "upstream outcome unknown: " .. sys.redact(reason), call.request_id, M.rules_version }
  if owed.owing() and owed.owe_record(record) then return end
  local ok, began = pcall(db.begin_call)
  if not (ok and began) then return end
  local committed
  ok = pcall(db.exec, INSERT, table.unpack(record, 1, 8))
  if ok then ok, committed = pcall(db.commit_call) end
  if not (ok and committed) then pcall(db.abort_call) end
end

local UNCHANGED = "INSERT INTO audit (time, client, client_port, method, params, outcome, request_id, rules, reason, marked)"
  .. " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"

-- Records of calls that changed nothing are bounded: a client refused over and over (a rate
-- limit) must not grow the trail without end. Every PRUNE_EVERY of them, the marked records
-- past the newest MARKED_KEPT go; the records of changes are never pruned.
M.MARKED_KEPT, M.PRUNE_EVERY = 100000, 1000
M.MARKED_PARAMS_MAX = 4096 -- bytes of such a call's parameters kept (as JSON)
-- Sessions side by side (PostgreSQL) pass over the records another is pruning (journal.lua).
local MARKED_OLD = "marked IS NOT NULL AND audit_id <"
  .. " (SELECT audit_id FROM audit WHERE marked IS NOT NULL ORDER BY audit_id DESC LIMIT 1 OFFSET ?)"
local PRUNE = db.dialect == "postgresql"
    and "DELETE FROM audit WHERE audit_id IN (SELECT audit_id FROM audit WHERE " .. MARKED_OLD .. " FOR UPDATE SKIP LOCKED)"
  or "DELETE FROM audit WHERE " .. MARKED_OLD
local marked_written = 0

--- After `call` changed nothing (its changes undone): records it, marked `mark` ("refused": a
--- fault with a reason, a site policy's decision; "failed": the rule failed, 1999), with the fault's code as the outcome and the reason (who refused, or the
--- failure's kind). The caller holds a call transaction open. Parameters are kept up to
--- MARKED_PARAMS_MAX bytes.
function M.unchanged(call, code, mark, reason)
  M.insert_unchanged(M.unchanged_record(call, code, mark, reason))
end

--- The record M.unchanged writes, as the values of its row (n: their count), to write later.
function M.unchanged_record(call, code, mark, reason)
  local params = json.encode(with_notes(call, call.params or {}), M.MARKED_PARAMS_MAX)
    or string.format('{"not_kept":"over %d bytes"}', M.MARKED_PARAMS_MAX)
  notes[call] = nil
  return table.pack(clock.format(clock.now()), call.client, call.client_port, call.name, params, tostring(code),
    call.request_id, M.rules_version, reason, mark)
end

--- After the database refused to commit a turn: every record of its calls went with it. Records
--- each call of `calls` ({name, client, client_port, request_id, outcome, params}: the ids its
--- request named stand for its parameters, which are gone) marked "failed", with the fault it
--- was answered and `reason`, in a call transaction of its own. Returns true, or false and why.
function M.turn_rolled_back(calls, reason)
  local ok, began = pcall(db.begin_call)
  if not (ok and began) then return false, "the store took no call transaction" end
  local err
  ok, err = pcall(function()
    for _, call in ipairs(calls) do M.insert_unchanged(M.unchanged_record(call, call.outcome, "failed", reason)) end
  end)
  local committed
  if ok then ok, committed = pcall(db.commit_call) end
  if ok and committed then return true end
  pcall(db.abort_call)
  return false, err or "commit failed"
end

--- Writes a record of M.unchanged_record. The caller holds a call transaction open.
function M.insert_unchanged(record)
  db.exec(UNCHANGED, table.unpack(record, 1, record.n))
  marked_written = marked_written + 1
  if marked_written % M.PRUNE_EVERY == 0 then db.exec(PRUNE, M.MARKED_KEPT - 1) end
end

--- Forgets `call`'s kept records once its transaction committed them.
function M.committed(call)
  kept[call] = nil
  handed[call] = nil
end

--- The newest `limit` records, newest first (for rules and specs that look back).
function M.recent(limit)
  return db.rows("SELECT audit_id, time, client, client_port, method, params, outcome, request_id, rules, reason, marked"
    .. " FROM audit ORDER BY audit_id DESC LIMIT ?",
    limit or 10)
end

return M
