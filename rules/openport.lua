-- openport: open a port. An optional <select> of <category> elements limits the task groups it
-- selects automatically, or one of <content> elements the bins (by content code, e.g. empty
-- bins for putaway); an optional <req_time> keeps groups required later away from it. port_mode
-- is one of the documented modes, OPEN by default (taskgate.interfaces).
return function(call)
  local p = call.params
  local port_id = params.port_id(p.port_id)
  local select = params.port_select(p.select, call.form)
  local port_mode = params.port_mode(p.port_mode)
  local req_time, req_epoch = check.time(p.req_time, { optional = true, invalid = 1008 })
  if upstream.configured() then return upstream.forward(call, { port_id = port_id }) end

  if ports.get(port_id) then return fault(1002) end

  ports.open(port_id, port_mode, select, req_epoch)
  audit.record(call, { port_id = port_id, port_mode = port_mode, categories = select.categories,
    contents = select.contents, req_time = req_time })
  return {}
end
