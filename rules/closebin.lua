-- closebin: the port closes its open bin. The task is done (gone, like a cancelled one) or,
-- with taskcomplete=0, returned to its group. The documentation: when the bin belongs to an
-- open task, task_id "must be equal to the open task"; so a closebin that would complete a task
-- it does not name changes nothing (1040): no task is ever completed by a client that did not
-- name it (returning it, taskcomplete=0, needs no name). An ad-hoc
-- bin (openbin's task_id 0) has no task: closebin without task_id, or with 0, closes it.
-- <content> sets the bin's content code.
return function(call)
  local p = call.params
  local port_id = params.port_id(p.port_id)
  local bin_id = params.bin_id(p.bin_id)
  local task_id = params.bin_task_id(p.task_id)
  local content = params.content(p.content)
  local complete = check.bool(p.taskcomplete, { optional = true, default = true, invalid = 1920 })
  if upstream.configured() then return upstream.forward(call, { port_id = port_id, bin_id = bin_id }) end

  -- The port is open (1009) with this bin (1011); completing the bin's task needs its task_id
  -- (1040), and a task_id given is the open task's (1017).
  local port = ports.bin_to_close(port_id, bin_id, task_id, complete)

  local task = port.task_id and store.task(port.task_id) -- its group, named in the record (gone once done)
  ports.close_bin(port_id, port.task_id, complete, content)
  audit.record(call, { port_id = port_id, bin_id = bin_id, task_id = port.task_id or 0, taskcomplete = complete,
    content = content, taskgroup_id = task and task.taskgroup_id })
  return {}
end
