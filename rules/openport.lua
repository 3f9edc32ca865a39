-- openport: open a port. An optional <select> of <category> elements limits the task groups
-- it selects automatically; port_mode defaults to PICK.
return function(call)
  local p = call.params
  local port_id = params.port_id(p.port_id)
  local categories = check.values(p.select, "category", check.int, { min = 1, max = 10000000, invalid = 1007 })
  local port_mode = check.token(p.port_mode, { optional = true, default = "PICK", invalid = 1918 })
  if upstream.configured() then return upstream.forward(call, { port_id = port_id }) end

  if ports.get(port_id) then return fault(1002) end

  ports.open(port_id, port_mode, categories)
  audit.record(call, { port_id = port_id, port_mode = port_mode, categories = categories })
  return {}
end
