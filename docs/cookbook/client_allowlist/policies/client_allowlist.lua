-- Changes come only from the client addresses the site knows; queries from anywhere. Refusals
-- are fault 1921 with this policy's name as the reason (in the log line, the metrics and the
-- audit trail; the client sees the code only).
local known_clients = {
  ["127.0.0.1"] = true,
  ["10.20.0.15"] = true, -- the WMS
}

return {
  methods = { "cancel_task", "cancel_taskgroup", "create_taskgroup", "add_task", "update_taskgroup" },
  run = function(call)
    if not known_clients[call.client] then return fault(1921) end
  end,
}
