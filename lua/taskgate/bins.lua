-- taskgate.bins: the bin model, as the bin interface sees it. A bin is known once it was
-- inserted or has been at a port (a row in `bin`), or while a task names it (then it is in the
-- grid). Its mode is one of the documented bin modes: GRID, PORT, OPEN, CLOSED, TOGRID, OUTSIDE...
-- Every function runs inside the calling methodcall's transaction.

local db = require "taskgate.db"
local fault = require "taskgate.fault"
local interfaces = require "taskgate.interfaces"
local params = require "taskgate.params"
local reply = require "taskgate.reply"

local M = {}

local SELECT_BIN = "SELECT bin_id, bin_mode, port_id, content FROM bin WHERE bin_id = ?"
local TASK_IN_BIN = "SELECT 1 AS found FROM task WHERE bin_id = ? LIMIT 1"

--- The bin {bin_id, bin_mode, port_id (at a port), content}, or nil when it is unknown.
function M.get(bin_id)
  local bin = db.row(SELECT_BIN, bin_id)
  if bin then return bin end
  if db.row(TASK_IN_BIN, bin_id) then return { bin_id = bin_id, bin_mode = "GRID", content = 0 } end
  return nil
end

-- The bins of a range, in bin_id order, merged from the bin table and the bins tasks name; read
-- in one statement that stops after limit + 1 bins and gives up when the store would look
-- through far more (a bin that thousands of tasks name): bounded, whatever the store holds.
local BINS_IN_RANGE = "SELECT bin_id, bin_mode, port_id, content FROM bin WHERE bin_id BETWEEN ?1 AND ?2 "
  .. "UNION ALL SELECT DISTINCT bin_id, 'GRID', NULL, 0 FROM task t WHERE bin_id BETWEEN ?1 AND ?2 "
  .. "AND NOT EXISTS (SELECT 1 FROM bin b WHERE b.bin_id = t.bin_id) ORDER BY 1 LIMIT ?3"

--- Bins with bin_id in min..max (both inclusive), by bin_id, at most `limit`. Returns them, or
--- nil and "too many" when more match, nil and "too broad" when the store would have to look
--- through far more than it lists.
function M.list(min, max, limit)
  local found, why = db.rows_upto(limit, BINS_IN_RANGE, min, max, limit + 1)
  if found then return found end
  return nil, why == "too many rows" and "too many" or "too broad"
end

--- The bin mode as replies name it (interfaces.bin_mode_reply: the one-letter code or the word).
function M.reply_mode(mode)
  if interfaces.bin_mode_reply == "word" then return mode end
  return interfaces.bin_mode_codes[mode] or mode
end

--- Whether a port open in this mode takes insertbin (interfaces.insert_port_modes).
function M.takes_insert(port_mode)
  return interfaces.insert_port_modes[port_mode] == true
end

local WORD_OF_CODE = {}
for word, code in pairs(interfaces.bin_mode_codes) do WORD_OF_CODE[code] = word end

--- The bin mode a client wrote, as a word: "O" and "OPEN" are both OPEN (any case); nil when it
--- is neither a documented word nor a code.
function M.mode_of(text)
  local upper = text:upper()
  if interfaces.bin_mode_codes[upper] then return upper end
  return WORD_OF_CODE[upper]
end

-- A bin a port may be given for a content code: known, in the grid and not at a port.
local BY_CONTENT = "SELECT bin_id FROM bin INDEXED BY bin_by_content WHERE content = ? AND port_id IS NULL "
  .. "AND bin_mode IN ('GRID', 'PREPARED') ORDER BY bin_id LIMIT 1"

--- The lowest-numbered bin in the grid with one of these content codes, or nil (one index look-up
--- per code). Only bins the store has a row for count: bins known from tasks alone hold goods.
function M.with_content(contents)
  local best
  for _, content in ipairs(contents) do
    local row = db.row(BY_CONTENT, content)
    if row and (not best or row.bin_id < best) then best = row.bin_id end
  end
  return best
end

-- The bin_mode column as replies name it (interfaces.bin_mode_reply).
local function mode_column()
  if interfaces.bin_mode_reply == "word" then return "bin_mode" end
  local cases = {}
  for word, code in pairs(interfaces.bin_mode_codes) do cases[#cases + 1] = "WHEN '" .. word .. "' THEN '" .. code .. "'" end
  table.sort(cases) -- one text, so one cached statement
  return "CASE bin_mode " .. table.concat(cases, " ") .. " ELSE bin_mode END AS bin_mode"
end

-- A bin only tasks name is in the grid, at no port, with content 0. (The NULL is typed: the
-- arm's DISTINCT would make PostgreSQL take an untyped one for text, which no integer matches.)
local TASKS_ONLY_COLUMN = { bin_id = "bin_id", port_id = "CAST(NULL AS INTEGER) AS port_id", content = "0 AS content" }

-- The known bins in ?1..?2 (among the JSON array ?3 of bin_ids unless it is NULL): the store's
-- rows, then the bins only tasks name; both arms come in bin_id order from their indexes, so
-- the store merges them rather than sorting. At most ?4.
-- (?3 typed as text: PostgreSQL cannot tell a parameter's type from IS NULL.)
local IN_LIST = " AND (CAST(?3 AS TEXT) IS NULL OR bin_id IN (SELECT value FROM json_each(CAST(?3 AS TEXT))))"
local STORED = " FROM bin WHERE bin_id BETWEEN ?1 AND ?2" .. IN_LIST
local TASKS_ONLY = " FROM task t WHERE bin_id BETWEEN ?1 AND ?2 AND NOT EXISTS (SELECT 1 FROM bin b WHERE b.bin_id = t.bin_id)"
  .. IN_LIST

--- The known bins in min..max (and among `ids`, an array of bin_ids, when not nil), by bin_id,
--- ready for a reply as `{bins = bins.listing(...)}` (<bins> under <params>). The store writes
--- them as reply text (a grid's worth of bins as Lua tables would not fit a call's time): for
--- the XML form the <bin>s, for JSON {bin = [...]}. `columns` lists each <bin>'s children in
--- order: bin_id first, then any of bin_mode (as replies name it), port_id, content, or SQL
--- such as "0 AS xpos". Returns nil and "too many" when more than `limit` bins match, nil and
--- "too broad" when the store would look through far more than it lists (bins that thousands
--- of tasks name).
function M.listing(columns, min, max, ids, limit, form)
  local stored, tasks_only = {}, {}
  for i, column in ipairs(columns) do
    if column == "bin_mode" then
      stored[i], tasks_only[i] = mode_column(), "'" .. M.reply_mode("GRID") .. "' AS bin_mode"
    else
      stored[i], tasks_only[i] = column, TASKS_ONLY_COLUMN[column] or column
    end
  end
  local sql = "SELECT " .. table.concat(stored, ", ") .. STORED .. " UNION ALL SELECT DISTINCT "
    .. table.concat(tasks_only, ", ") .. TASKS_ONLY .. " ORDER BY 1 LIMIT ?4"
  local json = form == "json"
  local text, why = db.rows_text(json and "json" or "xml", "bin", 3, limit, sql, min, max,
    ids and ("[" .. table.concat(ids, ",") .. "]"), limit + 1)
  if not text then return nil, why == "too many rows" and "too many" or "too broad" end
  if json then return { bin = reply.rows(text, "json") } end
  return reply.rows(text, "xml")
end

--- What getbininfo, getbinloc and getbinstate answer: M.listing of a params.bins_in_range
--- `range`, at most params.MAX_BINS_LISTED bins. Raises 1930 when more match, and 1932 when the
--- range is too broad for the store to look through (the client narrows it).
function M.list(columns, range, form)
  local listed, why = M.listing(columns, range.min, range.max, range.ids, params.MAX_BINS_LISTED, form)
  if not listed then fault.raise(why == "too many" and 1930 or 1932) end
  return listed
end

--- Records a new bin in the grid with this content.
function M.insert(bin_id, content)
  db.exec("INSERT INTO bin (bin_id, bin_mode, content) VALUES (?, 'GRID', ?)", bin_id, content)
end

--- Sets a bin's mode and port (nil: not at a port), and its content when not nil; the bin is
--- recorded if it was not yet.
function M.set(bin_id, bin_mode, port_id, content)
  db.exec("INSERT INTO bin (bin_id, bin_mode, port_id, content) VALUES (?1, ?2, ?3, coalesce(?4, 0)) "
    .. "ON CONFLICT (bin_id) DO UPDATE SET bin_mode = ?2, port_id = ?3, content = coalesce(?4, bin.content)",
    bin_id, bin_mode, port_id, content)
end

-- On PostgreSQL a gateway's loop turn is one transaction, so the bins a call frees stay locked
-- until the turn commits. Freeing a port's closed bins waited for a bin another turn held (it
-- was opening that bin at its port) while holding the bin that turn's next call wanted: two
-- turns moving bins between ports deadlocked, one call faulting 1934. So the freeing passes
-- over a bin another session has locked: that session is moving the bin away from this port
-- (to open it at another, or setting its mode), and if it gives up the bin stays CLOSED here
-- until this port's next openbin or closeport frees it. SQLite writes one turn at a time.
local LEAVE_PORT = db.dialect == "postgresql"
  and "UPDATE bin SET bin_mode = 'GRID', port_id = NULL WHERE bin_id IN (SELECT bin_id FROM bin "
    .. "WHERE port_id = ?1 AND (?2 OR bin_mode = 'CLOSED') FOR NO KEY UPDATE SKIP LOCKED)"
  or "UPDATE bin SET bin_mode = 'GRID', port_id = NULL WHERE port_id = ?1 AND (?2 OR bin_mode = 'CLOSED')"

--- The port has moved on: its CLOSED bins go back to the grid (all its bins with `all`, when
--- the port closes).
function M.leave_port(port_id, all)
  db.exec(LEAVE_PORT, port_id, all and 1 or 0)
end

-- The port queue (bin interface): the bins a port is to open, in order.
--- The port's queue, front first: an array of bin_ids.
function M.queue(port_id)
  local list = {}
  for i, row in ipairs(db.rows("SELECT bin_id FROM port_queue WHERE port_id = ? ORDER BY position", port_id)) do
    list[i] = row.bin_id
  end
  return list
end

--- Appends bins to the back of the port's queue.
function M.append_queue(port_id, bin_ids)
  local last = db.row("SELECT max(position) AS position FROM port_queue WHERE port_id = ?", port_id)
  local position = last and last.position or 0
  for _, bin_id in ipairs(bin_ids) do
    position = position + 1
    db.exec("INSERT INTO port_queue (port_id, position, bin_id) VALUES (?, ?, ?)", port_id, position, bin_id)
  end
end

--- The front of the port's queue, or nil.
function M.queue_front(port_id)
  local row = db.row("SELECT bin_id FROM port_queue WHERE port_id = ? ORDER BY position LIMIT 1", port_id)
  return row and row.bin_id
end

--- The bin closed at the port leaves its queue when it is the front one (documented: only the
--- front bin leaves; one picked from the middle stays).
function M.leave_queue(port_id, bin_id)
  db.exec("DELETE FROM port_queue WHERE port_id = ?1 AND position = (SELECT min(position) FROM port_queue "
    .. "WHERE port_id = ?1) AND bin_id = ?2", port_id, bin_id)
end

--- Empties the port's queue.
function M.clear_queue(port_id)
  db.exec("DELETE FROM port_queue WHERE port_id = ?", port_id)
end

return M
