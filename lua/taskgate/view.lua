-- taskgate.view: the read-only view of a call that policies and rules receive. The gateway keeps
-- the call as decoded; a policy or rule reads it through a view and can change nothing in it, so
-- a policy cannot alter what the rule then sees, and nothing a rule does can change what the
-- audit trail, the journal or the log say about the call (client, request_id, parameters).
--
-- A view is an empty table whose metatable (hidden) reads from the gateway's table, which the
-- view holds under a key only C can make (sys.VIEW_KEY; the C encoders write a view as the
-- table it shows, src/view_lua.c). A nested table is read as a view of its own, made afresh
-- at each read (compare what the call holds, not its tables). Every write is an error:
-- assigning a field, table.insert, table.sort. pairs, ipairs, # and the sandbox's next, rawget
-- and rawlen read a view as the table it shows. Making a view costs one small table; reading a
-- field through one, a call of a C function.

local sys = require "taskgate.sys"

local M = {}

local SHOWN = sys.VIEW_KEY
local View = {}

local function view_of(shown)
  return setmetatable({ [SHOWN] = shown }, View)
end

-- What view[key] reads: the shown table's value, a nested table as a view of its own (in C:
-- a metamethod written in Lua cost some 1.5k instructions a read).
local read = sys.view_index

local function view_next(view, key)
  local found = next(view[SHOWN], key)
  if found == nil then return nil end
  return found, read(view, found)
end

View.__index = read
View.__newindex = function(_, key)
  error(string.format("the call is read-only to policies and rules (assigning '%s')", tostring(key)), 2)
end
View.__len = function(view) return #view[SHOWN] end
View.__pairs = function(view) return view_next, view, nil end
View.__metatable = false

--- The read-only view of `call` (a table), for its policies and rule.
M.of = view_of

--- The table `value` shows when it is a view, else `value` itself.
function M.shown(value)
  return type(value) == "table" and rawget(value, SHOWN) or value
end

--- Lua's next, rawget and rawlen for rules: on a view they read the table it shows, as pairs, a
--- field and # do; elsewhere they are Lua's own.
function M.next(t, key)
  if type(t) == "table" and rawget(t, SHOWN) then return view_next(t, key) end
  return next(t, key)
end

function M.rawget(t, key)
  if type(t) == "table" and rawget(t, SHOWN) then return read(t, key) end
  return rawget(t, key)
end

function M.rawlen(t)
  if type(t) == "table" and rawget(t, SHOWN) then return #t[SHOWN] end
  return rawlen(t)
end

return M
