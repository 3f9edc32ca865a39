-- insertbin: a new bin enters the system through a port opened for it (INSERT, or the default
-- OPEN: see taskgate.interfaces.insert_port_modes); it is stored in the grid with its content
-- code (default 0).
return function(call)
  local p = call.params
  local port_id = params.port_id(p.port_id)
  local bin_id = params.bin_id(p.bin_id)
  local content = params.content(p.content)
  if upstream.configured() then return upstream.forward(call, { port_id = port_id, bin_id = bin_id }) end

  local port = ports.get(port_id)
  if not port then return fault(1009) end
  if not bins.takes_insert(port.port_mode) then return fault(1927) end
  if bins.get(bin_id) then return fault(1926) end

  bins.insert(bin_id, content or 0)
  audit.record(call, { port_id = port_id, bin_id = bin_id, content = content or 0 })
  return {}
end
