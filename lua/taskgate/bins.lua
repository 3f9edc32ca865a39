-- taskgate.bins: the bin model, as the bin interface sees it. A bin is known once it was
-- inserted or has been at a port (a row in `bin`), or while a task names it (then it is in the
-- grid). Its mode is one of the documented bin modes: GRID, PORT, OPEN, CLOSED, TOGRID, OUTSIDE...
-- Every function runs inside the calling methodcall's transaction.

local db = require "taskgate.db"

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

--- Records a new bin in the grid with this content.
function M.insert(bin_id, content)
  db.exec("INSERT INTO bin (bin_id, bin_mode, content) VALUES (?, 'GRID', ?)", bin_id, content)
end

--- Sets a bin's mode and port (nil: not at a port), and its content when not nil; the bin is
--- recorded if it was not yet.
function M.set(bin_id, bin_mode, port_id, content)
  db.exec("INSERT INTO bin (bin_id, bin_mode, port_id, content) VALUES (?1, ?2, ?3, coalesce(?4, 0)) "
    .. "ON CONFLICT (bin_id) DO UPDATE SET bin_mode = ?2, port_id = ?3, content = coalesce(?4, content)",
    bin_id, bin_mode, port_id, content)
end

--- The port has moved on: its CLOSED bins go back to the grid (all its bins with `all`, when
--- the port closes).
function M.leave_port(port_id, all)
  db.exec("UPDATE bin SET bin_mode = 'GRID', port_id = NULL WHERE port_id = ? AND (? OR bin_mode = 'CLOSED')",
    port_id, all and 1 or 0)
end

return M
