-- removebin: the port's open bin leaves the system (bin mode OUTSIDE), e.g. onto a conveyor;
-- otherwise as closebin: its task, which task_id must name, is done or (taskcomplete=0)
-- returned to its group. The bin interface's form names the port and the bin only.
return function(call)
  local p = call.params
  local port_id = params.port_id(p.port_id)
  local bin_id = params.bin_id(p.bin_id)
  local task_id = params.bin_task_id(p.task_id)
  local complete = check.bool(p.taskcomplete, { optional = true, default = true, invalid = 1920 })
  if upstream.configured() then return upstream.forward(call, { port_id = port_id, bin_id = bin_id }) end

  local port = ports.get(port_id)
  if not port then return fault(1009) end
  if port.bin_id ~= bin_id then return fault(1011) end
  if port.task_id and complete and not task_id then return fault(1040) end
  if task_id and task_id ~= (port.task_id or 0) then return fault(1017) end

  ports.close_bin(port_id, port.task_id, complete, nil, true)
  audit.record(call, { port_id = port_id, bin_id = bin_id, task_id = port.task_id or 0, taskcomplete = complete })
  return {}
end
