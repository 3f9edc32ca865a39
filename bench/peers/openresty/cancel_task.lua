-- cancel_task for the comparison peer, with taskgate's contract: 1040 missing, 1012 invalid,
-- 1017 no such task, 1045 selected by a port; malformed XML 1900; other methods 1901.
local lxp = require "lxp"

local M = {}

local OK = '<?xml version="1.0"?>\n<response>\n  <params/>\n</response>\n'
local FAULT = '<?xml version="1.0"?>\n<response>\n  <fault>\n    <code>%d</code>\n  </fault>\n</response>\n'

-- Collects <name> and the direct children of <params> as text; nil on malformed XML.
local function decode(body)
  local call, path, text = { params = {} }, {}, {}
  local parser = lxp.new({
    StartElement = function(_, name)
      path[#path + 1] = name
      text = {}
    end,
    CharacterData = function(_, data) text[#text + 1] = data end,
    EndElement = function(_, name)
      local depth = #path
      if depth == 2 and name == "name" then
        call.name = table.concat(text)
      elseif depth == 3 and path[2] == "params" then
        local value = table.concat(text)
        if call.params[name] ~= nil then value = false end -- repeated: invalid
        call.params[name] = value
      end
      path[depth] = nil
    end,
  })
  local ok = parser:parse(body) and parser:parse()
  parser:close()
  if not ok or path[1] ~= nil then return nil end
  return call
end

local function reply(text)
  ngx.header["Content-Type"] = "application/xml; charset=utf-8"
  ngx.header["Content-Length"] = #text
  ngx.print(text)
end

function M.handle()
  ngx.req.read_body()
  local body = ngx.req.get_body_data() or ""
  if body:find("<!DOCTYPE", 1, true) then return reply(FAULT:format(1900)) end
  local call = decode(body)
  if not call or not call.name then return reply(FAULT:format(1900)) end
  if call.name:lower():match("^%s*(.-)%s*$") ~= "cancel_task" then return reply(FAULT:format(1901)) end
  local raw = call.params.task_id
  if raw == nil then return reply(FAULT:format(1040)) end
  local digits = raw and raw:match("^%s*(%d+)%s*$")
  local id = digits and #digits <= 18 and tonumber(digits)
  if not id or id < 1 or id > 2147483647 then return reply(FAULT:format(1012)) end
  local tasks = ngx.shared.tasks
  local group = tasks:get(id)
  if not group then return reply(FAULT:format(1017)) end
  if tasks:get("selected:" .. id) then return reply(FAULT:format(1045)) end
  tasks:delete(id)
  return reply(OK)
end

return M
