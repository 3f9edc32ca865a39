-- taskgate.owed: the traces of calls run on a read connection. A call of a read-only method
-- (taskgate.interfaces.read_only) runs beside the writing batch on its worker's reader, which
-- takes no writes; the journal entry and marked audit record it leaves (taskgate.dispatch) are
-- handed to the worker as their rows' values (sys.owe_trace, src/owed.c), which writes them
-- through M.write in its next store turn: one of its calls', one it takes for them within
-- 50 ms, or the last before it stops. They keep the time, rules version and request of their
-- call. So do the audit records such a call leaves on its own (taskgate.audit: a forwarded
-- call's, whatever its outcome, and an outcome the gateway could not know).

local db = require "taskgate.db"
local journal = require "taskgate.journal"
local log = require "taskgate.log"
local sys = require "taskgate.sys"

local M = {}

local JOURNAL, MARKED, RECORD = 1, 2, 3 -- a row's kind: a journal entry, a marked or a plain audit record
local owe_trace = sys.owe_trace

--- Whether the running call's traces are owed (it runs on a read connection).
M.owing = sys.owing

--- Hands the worker the running call's journal entry (journal.values of `call`, `outcome` and
--- `reason`; none when `call` is nil) and marked audit record (audit.unchanged_record, or nil).
--- Returns false when the worker could not keep them: the caller writes them itself.
function M.owe(call, outcome, reason, record)
  if call and not owe_trace(JOURNAL, journal.values(call, outcome, reason)) then return false end
  if record and not owe_trace(MARKED, table.unpack(record, 1, record.n)) then return false end
  return true
end

--- Hands the worker an audit record of the running call (the values of audit.record's row, 8).
--- Returns false when it could not keep it.
function M.owe_record(record)
  return owe_trace(RECORD, table.unpack(record, 1, 8))
end

local function write_rows(next_row)
  local audit = require "taskgate.audit" -- loaded by now: it requires this module
  for kind, row in next_row do
    if kind == JOURNAL then
      journal.insert(row)
    elseif kind == MARKED then
      audit.insert_unchanged(row)
    else
      audit.insert(row)
    end
  end
end

--- Writes the rows the worker kept (next_row: their iterator), in one call transaction (the
--- store's turn is open).
function M.write(next_row)
  local began, ok = pcall(db.begin_call)
  if not (began and ok) then
    log.warn("owed traces not written", { error = "the store took no call transaction" })
    return
  end
  local err
  ok, err = pcall(write_rows, next_row)
  if ok and db.commit_call() then return end
  pcall(db.abort_call)
  log.warn("owed traces not written", { error = tostring(err or "commit failed") })
end

return M
