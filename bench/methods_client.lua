-- The client of bench/methods' instruction counts: sends CALLS calls of METHOD (bench/calls.lua,
-- not paired) over CONNS connections, each sending one call and all then reading their replies,
-- so that the gateway answers them in batches as under load. Prints "calls=N faults=N" and the
-- fault codes seen (code x count).
-- usage: lua5.4 bench/methods_client.lua PORT METHOD CALLS CONNS TASKS PORTS [SKIP]
-- SKIP: start past the first SKIP calls of the plans (a second run after a first of SKIP calls
-- sends new calls, not the same ones again).
package.path = "bench/?.lua;" .. package.path
local socket = require "socket"
local calls = require "calls"

local port, method, total, conns = tonumber(arg[1]), arg[2], tonumber(arg[3]), tonumber(arg[4])
local store = { tasks = tonumber(arg[5]), ports = tonumber(arg[6]) }
local skip = tonumber(arg[7]) or 0

local function send(conn, body)
  assert(conn:send(string.format("POST /api/v2/task HTTP/1.1\r\nHost: x\r\nContent-Type: application/xml\r\n"
    .. "Content-Length: %d\r\n\r\n%s", #body, body)))
end

local function receive(conn)
  local length
  repeat
    local line = assert(conn:receive("*l"))
    length = tonumber(line:match("^Content%-Length: (%d+)")) or length
  until line == ""
  return conn:receive(length)
end

local clients = {}
for i = 1, conns do
  clients[i] = { conn = assert(socket.connect("127.0.0.1", port)), plan = calls.plan(method, i - 1, conns, store) }
  clients[i].plan.k = skip // conns
end
local sent, faults, codes = 0, 0, {}
while sent < total do
  local round = {}
  for _, client in ipairs(clients) do
    if sent == total then break end
    send(client.conn, client.plan:next(client.reply))
    sent = sent + 1
    round[#round + 1] = client
  end
  for _, client in ipairs(round) do
    client.reply = receive(client.conn)
    if not calls.ok(client.reply) then
      faults = faults + 1
      local code = client.reply:match("<code>(%d+)</code>") or "?"
      codes[code] = (codes[code] or 0) + 1
    end
  end
end
for _, client in ipairs(clients) do client.conn:close() end
local seen = {}
for code, n in pairs(codes) do seen[#seen + 1] = code .. "x" .. n end
table.sort(seen)
print(string.format("calls=%d faults=%d %s", sent, faults, table.concat(seen, " ")))
