-- taskgate.json: the JSON encoder for audit records (src/json_lua.c does the work).
--
-- encode(value) returns compact JSON: strings (control characters, " and \ escaped), integers
-- as written, other numbers with 17 significant digits, booleans, tables as arrays when t[1] is
-- set (up to the first nil) and otherwise as objects with their keys as text, sorted. NaN,
-- infinities, functions and anything nested deeper than 32 levels become null.
-- encode(value, max_bytes) returns nil instead when the text would pass max_bytes, and stops
-- encoding there: a bounded copy costs at most about max_bytes of work.

local sys = require "taskgate.sys"

return { encode = sys.json_encode }
