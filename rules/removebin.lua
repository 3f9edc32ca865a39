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

  -- The port is open (1009) with this bin (1011); completing the bin's task needs its task_id
  -- (1040), and a task_id given is the open task's (1017).
  local port = ports.bin_to_close(port_id, bin_id, task_id, complete)

  local task = port.task_id and store.task(port.task_id) -- its group, named in the record (gone once done)
  ports.close_bin(port_id, port.task_id, complete, nil, true)
  audit.record(call, { port_id = port_id, bin_id = bin_id, task_id = port.task_id or 0, taskcomplete = complete,
    taskgroup_id = task and task.taskgroup_id })
  return {}
end
