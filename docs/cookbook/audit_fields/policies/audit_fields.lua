-- Adds to cancel_task's audit record the <reason> the WMS may send and, when this gateway's own
-- store holds the task (standalone), its bin and group. In bridge mode the record is the
-- forwarded call's, and the task lives upstream: the reason is added, bin and group are not known.
return {
  methods = { "cancel_task" },
  run = function(call)
    local reason = call.params.reason
    local task_id = math.tointeger(tonumber(call.params.task_id))
    local task = task_id and task_id > 0 and task_id <= 2147483647 and store.task(task_id)
    audit.annotate(call, {
      reason = type(reason) == "string" and reason:sub(1, 200) or nil,
      bin_id = task and task.bin_id or nil,
      taskgroup_id = task and task.taskgroup_id or nil,
    })
  end,
}
