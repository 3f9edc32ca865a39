-- taskgate.reply: shapes for reply tables. The encoder writes a table's keys in sorted order;
-- `record` fixes the order instead, `list` makes repeated elements (possibly none).

local M = {}

--- Returns fields, marked so its keys are written in the order given by `order`.
function M.record(order, fields)
  return setmetatable(fields, { __order = order })
end

--- Returns items, marked so that `key = list` writes one <key> element per item (none if empty).
function M.list(items)
  return setmetatable(items, { __list = true })
end

return M
