-- Sends cancel_task's conformance cases to taskgate and to the peer and checks that both answer
-- every one with the same bytes. usage: lua5.4 bench/peers/check.lua PORT_A PORT_B
-- Both must hold task 999999 (and cancel it in the first "existing" case).
local socket = require "socket"

local function call(port, body)
  local conn = assert(socket.connect("127.0.0.1", port))
  conn:settimeout(5)
  conn:send(string.format("POST /api/v2/task HTTP/1.1\r\nHost: x\r\nContent-Type: application/xml\r\nContent-Length: %d\r\n\r\n%s", #body, body))
  local status = conn:receive("*l")
  local length = 0
  while true do
    local line = conn:receive("*l")
    if not line or line == "" then break end
    length = tonumber(line:match("^[Cc]ontent%-[Ll]ength:%s*(%d+)")) or length
  end
  local reply = length > 0 and conn:receive(length) or ""
  conn:close()
  return status:match("^HTTP/1%.1 (%d+)"), reply
end

local function cancel(id_text)
  return '<?xml version="1.0"?>\n<methodcall>\n  <name>cancel_task</name>\n  <params>\n    <task_id>' ..
    id_text .. "</task_id>\n  </params>\n</methodcall>"
end

local cases = {
  { "existing task", cancel("999999") },
  { "second cancel", cancel("999999") },
  { "no such task", cancel("2000000000") },
  { "missing task_id", '<?xml version="1.0"?><methodcall><name>cancel_task</name><params/></methodcall>' },
  { "no params", "<methodcall><name>cancel_task</name></methodcall>" },
  { "empty", cancel("") },
  { "letters", cancel("abc") },
  { "sign", cancel("+5") },
  { "negative", cancel("-5") },
  { "decimal", cancel("5.0") },
  { "zero", cancel("0") },
  { "overflow", cancel("2147483648") },
  { "20 digits", cancel("12345678901234567890") },
  { "whitespace only", cancel("   ") },
  { "padded", cancel(" 2000000000 ") },
  { "repeated", "<methodcall><name>cancel_task</name><params><task_id>1</task_id><task_id>2</task_id></params></methodcall>" },
  { "malformed", "<methodcall><name>cancel_task</name>" },
  { "DOCTYPE", '<!DOCTYPE m [<!ENTITY e "5">]><methodcall><name>cancel_task</name><params><task_id>&e;</task_id></params></methodcall>' },
  { "unknown method", "<methodcall><name>drop_all</name></methodcall>" },
  { "method case", cancel("2000000000"):gsub("cancel_task", "Cancel_Task") },
}

local a, b = tonumber(arg[1]), tonumber(arg[2])
local same = 0
for _, case in ipairs(cases) do
  local status_a, reply_a = call(a, case[2])
  local status_b, reply_b = call(b, case[2])
  if status_a == status_b and reply_a == reply_b then
    same = same + 1
  else
    io.stderr:write(string.format("differs: %s\n  taskgate %s %q\n  peer     %s %q\n", case[1], status_a, reply_a, status_b, reply_b))
  end
end
print(string.format("peer conformance: %d of %d cancel_task cases answered identically", same, #cases))
os.exit(same == #cases and 0 or 1)
