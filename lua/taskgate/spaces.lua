-- taskgate.spaces: which shared space (src/shared.c) the rules' `shared` and `ratelimit` use now:
-- the gateway's live one, shared by every worker and every rules generation, or while self-checks
-- run a scratch one, so that what they count never reaches the live space. Not a rule's to change.

local M = {}

M.live = require "taskgate.shared_space"
M.current = M.live

--- Runs fn(...) with a fresh, empty space in place of the live one; returns what fn returns
--- (pcall-style: ok, results...).
function M.with_scratch(fn, ...)
  local kept = M.current
  M.current = M.live.scratch(1 << 20)
  local results = table.pack(pcall(fn, ...))
  M.current = kept
  return table.unpack(results, 1, results.n)
end

return M
