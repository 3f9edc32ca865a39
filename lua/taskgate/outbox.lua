-- taskgate.outbox: messages for systems that must not miss them (a legacy ERP, a WMS that wants
-- to hear of cancels). A message is written in the call's own transaction, so it exists exactly
-- when the call's change does; the gateway then delivers it, in order per target, until the
-- target answers 2xx (src/outbox.c, docs/bridge.md). Targets are named by --outbox-target
-- NAME=URL, so rules carry no URLs.

local db = require "taskgate.db"
local json = require "taskgate.json"
local sys = require "taskgate.sys"

local M = {}

local MAX_BODY_BYTES = 1024 * 1024
local INSERT = "INSERT INTO outbox (uuid, target, body, content_type, request_id, created)"
  .. " VALUES (lower(hex(randomblob(16))), ?, ?, ?, ?, ?) RETURNING uuid"

local targets -- name -> true, read once from the host

local function configured(name)
  if not targets then
    targets = {}
    for target in (sys.outbox_targets() or ""):gmatch("[^,]+") do targets[target] = true end
  end
  return targets[name] == true
end

--- outbox.send{target = "erp", body = "..." or a table (sent as JSON), content_type = "..."}
--- queues a message for the target --outbox-target erp=URL names, in the call's transaction.
--- Returns the message's id, the X-Message-Id the target receives (and deduplicates on). Like
--- any store change it comes after the call's outbound requests, never before one.
function M.send(message)
  if type(message) ~= "table" or type(message.target) ~= "string"
      or (type(message.body) ~= "string" and type(message.body) ~= "table") then
    error("outbox.send{target = ..., body = ..., content_type = ...}", 2)
  end
  if not configured(message.target) then
    error(string.format("outbox target '%s' is not configured (--outbox-target %s=URL)", message.target,
      message.target), 2)
  end
  if message.content_type ~= nil and (type(message.content_type) ~= "string" or message.content_type:find("%c")) then
    error("outbox.send: the content_type must be one line of text", 2) -- a line end would add headers
  end
  local body, content_type = message.body, message.content_type
  if type(body) == "table" then body, content_type = json.encode(body), content_type or "application/json" end
  if #body > MAX_BODY_BYTES then error("an outbox message's body is limited to 1 MiB", 2) end
  local row = db.row(INSERT, message.target, body, content_type or "application/octet-stream", sys.request_id(),
    sys.now())
  sys.outbox_wake()
  return row.uuid
end

return M
