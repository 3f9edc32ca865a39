-- cancel_task, refusing cancels from client addresses the site does not know.
local allowed_clients = {
  ["127.0.0.1"] = true,
  ["10.20.0.15"] = true, -- the WMS
}

return function(call)
  if not allowed_clients[call.client] then
    log.warn("cancel refused: unknown client", { client = call.client })
    return fault(1921)
  end

  local task_id = check.int(call.params.task_id, { min = 1, max = 2147483647, missing = 1040, invalid = 1012 })

  local task = store.task(task_id)
  if not task then return fault(1017) end
  if task.port_id then return fault(1045) end

  store.cancel_task(task_id)
  audit.record(call, { task_id = task_id, taskgroup_id = task.taskgroup_id })
  return {}
end
