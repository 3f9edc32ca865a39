-- getportstatus: whether the port is open, its mode and select, and the bin it has open.
local order = { "port_id", "status", "port_mode", "select", "bin_id", "task_id", "taskgroup_id" }

return function(call)
  local port_id = params.port_id(call.params.port_id)
  if upstream.configured() then return upstream.forward(call) end

  local port = ports.get(port_id)
  if not port then return reply.record(order, { port_id = port_id, status = "closed" }) end

  return reply.record(order, {
    port_id = port_id,
    status = "open",
    port_mode = port.port_mode,
    select = { category = reply.list(port.categories), content = reply.list(port.contents) },
    bin_id = port.bin_id,
    task_id = port.task_id or (port.bin_id and 0), -- 0: an ad-hoc bin, open without a task
    taskgroup_id = port.taskgroup_id,
  })
end
