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

--- Rows the store already wrote as reply text (db.rows_text, `form` "xml" or "json"): as
--- `key = reply.rows(text, form)`, <key> holds the rows (XML) or key's value is the JSON text.
function M.rows(text, form)
  return setmetatable({}, form == "json" and { __json = text } or { __xml = text })
end

return M
