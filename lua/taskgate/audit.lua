-- taskgate.audit: the audit trail, written in the same transaction as the change it records,
-- so the trail and the store can never disagree.

local clock = require "taskgate.clock"
local db = require "taskgate.db"
local json = require "taskgate.json"

local M = {}

local INSERT = "INSERT INTO audit (time, client, method, params, outcome, request_id) VALUES (?, ?, ?, ?, ?, ?)"

local kept = setmetatable({}, { __mode = "k" }) -- call -> records to write even if it rolls back
local notes = setmetatable({}, { __mode = "k" }) -- call -> fields every record of it gets (annotate)

--- Adds `fields` to every audit record `call` writes from now on (a policy's way to record more
--- than the rule does: the rule's own fields win over them). Fields set to nil are left out.
function M.annotate(call, fields)
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
--- undone (used for forwarded calls, whose effect lies upstream).
function M.record(call, fields, opts)
  local time, params = clock.format(clock.now()), json.encode(with_notes(call, fields or call.params or {}))
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

local REFUSED = "INSERT INTO audit (time, client, method, params, outcome, request_id, reason) VALUES (?, ?, ?, ?, ?, ?, ?)"

-- Refusal records are bounded: a client refused over and over (a rate limit) must not grow the
-- trail without end. Every PRUNE_EVERY refusals, those past the newest REFUSALS_KEPT go.
M.REFUSALS_KEPT, M.PRUNE_EVERY = 100000, 1000
M.REFUSED_PARAMS_MAX = 4096 -- bytes of a refused call's parameters kept (as JSON)
local PRUNE = "DELETE FROM audit WHERE reason IS NOT NULL AND audit_id <"
  .. " (SELECT audit_id FROM audit WHERE reason IS NOT NULL ORDER BY audit_id DESC LIMIT 1 OFFSET ?)"
local refusals = 0

--- After `call` was refused (a fault with a reason: a site policy's decision) and its changes
--- undone: records the refusal with its reason, in a call transaction of its own. The outcome is
--- the fault's code; the parameters are kept up to REFUSED_PARAMS_MAX bytes.
function M.refused(call, code, reason)
  if not db.begin_call() then return end
  local params = json.encode(with_notes(call, call.params or {}))
  if #params > M.REFUSED_PARAMS_MAX then params = string.format('{"not_kept":"%d bytes"}', #params) end
  db.exec(REFUSED, clock.format(clock.now()), call.client, call.name, params, tostring(code), call.request_id, reason)
  refusals = refusals + 1
  if refusals % M.PRUNE_EVERY == 0 then db.exec(PRUNE, M.REFUSALS_KEPT - 1) end
  db.commit_call()
end

--- Forgets `call`'s kept records once its transaction committed them.
function M.committed(call)
  kept[call] = nil
end

--- The newest `limit` records, newest first (for rules and specs that look back).
function M.recent(limit)
  return db.rows("SELECT audit_id, time, client, method, params, outcome, request_id, reason FROM audit ORDER BY audit_id DESC LIMIT ?",
    limit or 10)
end

return M
