-- taskgate.json: the JSON encoder for audit records (src/json_lua.c does the work).
--
-- encode(value) returns compact JSON: strings (control characters, " and \ escaped), integers
-- as written, other numbers with 17 significant digits, booleans, tables as arrays when t[1] is
-- set (up to the first nil) and otherwise as objects with their keys as text, sorted. NaN,
-- infinities, functions and anything nested deeper than 32 levels become null.

local sys = require "taskgate.sys"

return { encode = sys.json_encode }
