-- closeport: close a port. A bin still open there goes back to its group; with
-- suspend_taskgroup that group is suspended as well.
return function(call)
  local p = call.params
  local port_id = params.port_id(p.port_id)
  local suspend = check.bool(p.suspend_taskgroup, { optional = true, default = false, invalid = 1919 })
  if upstream.configured() then return upstream.forward(call, { port_id = port_id }) end

  local port = ports.get(port_id)
  if not port then return fault(1009) end

  if suspend and port.taskgroup_id then store.suspend_taskgroup(port.taskgroup_id) end
  ports.close(port_id)
  audit.record(call, { port_id = port_id, suspended_taskgroup = suspend and port.taskgroup_id or nil })
  return {}
end
