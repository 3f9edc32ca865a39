-- taskgate.audit: the audit trail, written in the same transaction as the change it records,
-- so the trail and the store can never disagree.

local clock = require "taskgate.clock"
local db = require "taskgate.db"
local json = require "taskgate.json"

local M = {}

--- Records that `call` changed the store. `fields` are the values worth keeping (defaults to
--- the call's parameters as sent).
function M.record(call, fields)
  db.exec("INSERT INTO audit (time, client, method, params, outcome) VALUES (?, ?, ?, ?, 'ok')",
    clock.format(clock.now()), call.client, call.name, json.encode(fields or call.params or {}))
end

--- The newest `limit` records, newest first (for rules and specs that look back).
function M.recent(limit)
  return db.rows("SELECT audit_id, time, client, method, params, outcome FROM audit ORDER BY audit_id DESC LIMIT ?",
    limit or 10)
end

return M
