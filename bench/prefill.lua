-- Fills a store with N tasks (100 per group), ids 1..N, through the gateway's own store code.
-- usage: lua5.4 bench/prefill.lua STORE N
local root = os.getenv("TASKGATE_ROOT") or "."
package.cpath = (os.getenv("TASKGATE_BUILD") or (root .. "/build")) .. "/?.so;" .. package.cpath
local native = require "taskgate_native"

local path, n = arg[1], math.tointeger(tonumber(arg[2] or "1000000"))
assert(path and n, "usage: prefill.lua STORE N")
local db = native.open_store(path)
assert(db.begin_turn())
db.exec([[WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < ?)
  INSERT INTO taskgroup (taskgroup_id, category, req_time, req_epoch, priority, suspended)
  SELECT i, 1 + i % 10, '2024-05-01T08:00:00Z', 1714550400, 1 + i % 5, 0 FROM g]], (n + 99) // 100)
db.exec([[WITH RECURSIVE t(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM t WHERE i < ?)
  INSERT INTO task (task_id, taskgroup_id, bin_id) SELECT i, (i - 1) / 100 + 1, 1 + i % 4000000 FROM t]], n)
assert(db.commit_turn())
db.close()
print(string.format("prefilled %s with %d tasks", path, n))
