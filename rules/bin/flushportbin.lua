-- flushportbin: a bin the port is done with (closed, or waiting there) goes back to the grid.
-- Flushing a bin that is already in the grid changes nothing and succeeds, so a client may flush
-- after every closebin (assumed); the bin still open at the port is refused.
return function(call)
  local p = call.params
  local port_id = params.port_id(p.port_id)
  local bin_id = params.bin_id(p.bin_id)
  if upstream.configured() then return upstream.forward(call, { port_id = port_id, bin_id = bin_id }) end

  local bin = bins.get(bin_id)
  if not bin then return fault(1011) end
  if bin.port_id and bin.port_id ~= port_id then return fault(1925) end
  if bin.port_id and bin.bin_mode == "OPEN" then return fault(1929) end

  if bin.port_id then bins.set(bin_id, "GRID", nil, nil) end
  audit.record(call, { port_id = port_id, bin_id = bin_id })
  return {}
end
