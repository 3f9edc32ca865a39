-- taskgate.log: rule logging into the gateway's log stream, one logfmt line per call.

local sys = require "taskgate.sys"

local M = {}

local function emit(level, message, fields)
  local line = {}
  for key, value in pairs(fields or {}) do line[key] = value end
  line.msg = tostring(message)
  sys.log(level, "rule_log", line)
end

function M.debug(message, fields) emit("debug", message, fields) end
function M.info(message, fields) emit("info", message, fields) end
function M.warn(message, fields) emit("warn", message, fields) end
function M.error(message, fields) emit("error", message, fields) end

return M
