-- taskgate.view: the read-only view of a call that policies and rules receive. The gateway keeps
-- the call as decoded; a policy or rule reads it through a view and can change nothing in it, so
-- a policy cannot alter what the rule then sees, and nothing a rule does can change what the
-- audit trail, the journal or the log say about the call (client, request_id, parameters).
--
-- A view is an empty table whose metatable (hidden) reads from the gateway's table. The view
-- holds no reference to that table: the pair lives in a weak-keyed side table only the runtime
-- and C reach (sys.VIEWS, src/view_lua.c; the C encoders write a view as the table it shows).
-- So no way of going through a table (Lua's own next, rawget, pairs, an error's value) leads
-- from a view to the gateway's table. A nested table is read as a view of its own, made afresh
-- at each read (compare what the call holds, not its tables). Every write is an error:
-- assigning a field, table.insert, table.sort. pairs, ipairs, # and the sandbox's next, rawget
-- and rawlen read a view as the table it shows. Making a view costs one small table and an
-- entry in the side table; reading a field through one, a call of a C function.

local sys = require "taskgate.sys"

local M = {}

local shown_of = sys.VIEWS -- view -> the table it shows (weak keys)
local View = {}

local function view_of(shown)
  local view = setmetatable({}, View)
  shown_of[view] = shown
  return view
end

-- What view[key] reads: the shown table's value, a nested table as a view of its own (in C:
-- a metamethod written in Lua cost some 1.5k instructions a read).
local read = sys.view_index

local function view_next(view, key)
  local found = next(shown_of[view], key)
  if found == nil then return nil end
  return found, read(view, found)
end

View.__index = read
View.__newindex = function(_, key)
  error(string.format("the call is read-only to policies and rules (assigning '%s')", tostring(key)), 2)
end
View.__len = function(view) return #shown_of[view] end
View.__pairs = function(view) return view_next, view, nil end
View.__metatable = false

--- The read-only view of `call` (a table), for its policies and rule.
M.of = view_of

--- The table `value` shows when it is a view, else `value` itself.
function M.shown(value)
  return shown_of[value] or value
end

--- The call running now (set by taskgate.dispatch around each step of a call).
M.running = nil

--- The gateway's own call behind `value`, which must be the view of the running call its policies
--- and rule were handed: anything else (a table of the rule's own, a view kept from an earlier
--- call, a nested view) is an error naming `what`, the runtime function that was given it.
function M.call(value, what)
  local call = shown_of[value]
  if call == nil or call ~= M.running then
    error(string.format("%s takes the call the rule or policy was handed, not a %s", what,
      call and "view of another table or call" or type(value)), 3)
  end
  return call
end

--- Lua's next, rawget and rawlen for rules: on a view they read the table it shows, as pairs, a
--- field and # do; elsewhere they are Lua's own.
function M.next(t, key)
  if shown_of[t] then return view_next(t, key) end
  return next(t, key)
end

function M.rawget(t, key)
  if shown_of[t] then return read(t, key) end
  return rawget(t, key)
end

function M.rawlen(t)
  local shown = shown_of[t]
  if shown then return #shown end
  return rawlen(t)
end

return M
