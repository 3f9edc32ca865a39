-- taskgate.journal: the call journal. Every call a rule answered (and every call to a method no
-- rule answers) is kept with its method, parameters, client, endpoint, time and outcome, the
-- newest --journal-size of them (default 10,000), for `taskgate replay` and `taskgate check
-- --replay N`, which run yesterday's traffic against a candidate rule set. Refusals and faults
-- are kept too: they are what a policy change alters. Self-checks and replays write nothing.

local clock = require "taskgate.clock"
local db = require "taskgate.db"
local json = require "taskgate.json"
local sys = require "taskgate.sys"

local M = {}

M.DEFAULT_SIZE = 10000
M.PARAMS_MAX = 65536 -- bytes of a call's parameters kept (as JSON); larger ones are not replayable
M.PRUNE_EVERY = 100 -- the journal may exceed its size by this many calls per worker

M.paused = false -- self-checks and replays set it
local size = sys.journal_size() or M.DEFAULT_SIZE
local written = 0

local INSERT = "INSERT INTO journal (time, client, interface, method, params, outcome, reason, request_id)"
  .. " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
-- Sessions side by side (PostgreSQL: gateways, workers) prune the same oldest entries: each
-- passes over the ones another is removing instead of waiting for that turn's commit.
local OLDEST = "journal_id <= (SELECT max(journal_id) FROM journal) - ?"
local PRUNE = db.dialect == "postgresql"
    and "DELETE FROM journal WHERE journal_id IN (SELECT journal_id FROM journal WHERE " .. OLDEST .. " FOR UPDATE SKIP LOCKED)"
  or "DELETE FROM journal WHERE " .. OLDEST

--- Whether calls are journaled.
function M.enabled()
  return size > 0 and not M.paused
end

-- The entry's parameters as JSON. Bounded: a bulk call's megabyte of parameters is not kept, so
-- it is not encoded either.
local function params_of(call)
  return json.encode(call.params or {}, M.PARAMS_MAX) or string.format('{"not_kept":"over %d bytes"}', M.PARAMS_MAX)
end

--- `call`'s entry, its row's 8 values: `outcome` ("ok" or the fault code), `reason` (who
--- refused, or nil).
function M.values(call, outcome, reason)
  return clock.now(), call.client or "", call.interface or "task", call.name, params_of(call), outcome, reason,
    call.request_id
end

local function inserted()
  written = written + 1
  if written % M.PRUNE_EVERY == 0 then db.exec(PRUNE, size) end
end

--- Writes an entry kept as a table (its 8 values and n, as taskgate.owed reads them back). The
--- caller holds a call transaction open.
function M.insert(entry)
  db.exec(INSERT, table.unpack(entry, 1, entry.n))
  inserted()
end

--- Writes `call`'s entry (the row of M.values, without a table or a call more: every call
--- writes one). The caller holds a call transaction open.
function M.write(call, outcome, reason)
  db.exec(INSERT, clock.now(), call.client or "", call.interface or "task", call.name, params_of(call), outcome,
    reason, call.request_id)
  inserted()
end

--- The newest `limit` entries (all when nil), oldest first: {journal_id, time, client,
--- interface, method, params (JSON), outcome, reason}.
function M.entries(limit)
  local rows = db.rows("SELECT journal_id, time, client, interface, method, params, outcome, reason FROM journal"
    .. " ORDER BY journal_id DESC LIMIT ?", limit or -1)
  local n = #rows
  for i = 1, n // 2 do rows[i], rows[n + 1 - i] = rows[n + 1 - i], rows[i] end
  return rows
end

return M
