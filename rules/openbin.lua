-- openbin: the port opens the bin of its next task, or of the task, group or bin it names.
-- Until closebin that task is selected by the port (cancel_task -> 1045) and so is its group
-- (another port -> 1019). A named task or group is opened even outside the port's select.
-- A named bin that holds no task is an ad-hoc bin (a robot fetching a bin by number): the port
-- opens it all the same and the reply's task_id is 0 (assumed).
return function(call)
  local p = call.params
  local port_id = params.port_id(p.port_id)
  local taskgroup_id = check.int(p.taskgroup_id, { optional = true, min = 1, max = 2147483647, invalid = 1013 })
  local task_id = check.int(p.task_id, { optional = true, min = 1, max = 2147483647, invalid = 1012 })
  local bin_id = check.int(p.bin_id, { optional = true, min = 1, max = 4000000, invalid = 1010 })
  local named = (taskgroup_id and 1 or 0) + (task_id and 1 or 0) + (bin_id and 1 or 0)
  if named > 1 then return fault(1917) end
  if upstream.configured() then return upstream.forward(call, { port_id = port_id }) end

  local port = ports.get(port_id)
  if not port then return fault(1009) end
  if port.bin_id then return fault(1020) end -- a bin is open there, with a task or ad hoc

  local task
  if task_id then
    task = store.task(task_id)
    if not task then return fault(1017) end
  elseif taskgroup_id then
    if not store.taskgroup(taskgroup_id) then return fault(1018) end
    if store.taskgroup_port(taskgroup_id) then return fault(1019) end
    task = ports.first_task_of_group(taskgroup_id)
  elseif bin_id then
    task = ports.first_task_in_bin(bin_id)
    if not task then
      local bin = bins.get(bin_id)
      if bin and bin.port_id and bin.port_id ~= port_id then return fault(1925) end
      ports.open_bin(port_id, { bin_id = bin_id })
      audit.record(call, { port_id = port_id, bin_id = bin_id, task_id = 0 })
      return reply.record({ "bin_id", "task_id" }, { bin_id = bin_id, task_id = 0 })
    end
  else
    task = ports.next_task(port_id, clock.now())
    if not task then return fault(1015) end
  end
  if store.taskgroup_port(task.taskgroup_id) then return fault(1019) end

  ports.open_bin(port_id, task)
  audit.record(call, { port_id = port_id, task_id = task.task_id, bin_id = task.bin_id })
  return reply.record({ "bin_id", "task_id" }, { bin_id = task.bin_id, task_id = task.task_id })
end
