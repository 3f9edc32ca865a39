-- taskgate.audit: the audit trail, written in the same transaction as the change it records,
-- so the trail and the store can never disagree.

local clock = require "taskgate.clock"
local db = require "taskgate.db"
local json = require "taskgate.json"

local M = {}

local INSERT = "INSERT INTO audit (time, client, method, params, outcome, request_id) VALUES (?, ?, ?, ?, ?, ?)"

local kept = setmetatable({}, { __mode = "k" }) -- call -> records to write even if it rolls back

--- Records that `call` changed the store. `fields` are the values worth keeping (defaults to
--- the call's parameters as sent). opts.outcome replaces "ok"; opts.always keeps the record
--- even when the call ends in a fault and its changes are undone (used for forwarded calls,
--- whose effect lies upstream).
function M.record(call, fields, opts)
  local time, params = clock.format(clock.now()), json.encode(fields or call.params or {})
  local outcome = opts and opts.outcome or "ok"
  db.exec(INSERT, time, call.client, call.name, params, outcome, call.request_id)
  if opts and opts.always then
    kept[call] = kept[call] or {}
    table.insert(kept[call], { time, call.client, call.name, params, outcome, call.request_id })
  end
end

--- After `call` was aborted: writes its `always` records, in a call transaction of their own.
function M.after_abort(call)
  local records = kept[call]
  if not records then return end
  kept[call] = nil
  if not db.begin_call() then return end
  for _, record in ipairs(records) do db.exec(INSERT, table.unpack(record, 1, 6)) end
  db.commit_call()
end

--- Forgets `call`'s kept records once its transaction committed them.
function M.committed(call)
  kept[call] = nil
end

--- The newest `limit` records, newest first (for rules and specs that look back).
function M.recent(limit)
  return db.rows("SELECT audit_id, time, client, method, params, outcome, request_id FROM audit ORDER BY audit_id DESC LIMIT ?",
    limit or 10)
end

return M
