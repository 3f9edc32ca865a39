-- appendportqueue: bins go to the back of the port's queue (<bins><bin_id>..</bin_id>..</bins>),
-- in order; openbin on the bin endpoint opens the front one. A port's queue may be built before
-- it opens; any bin_id is taken, as openbin takes any bin by number (the grid may hold bins the
-- store has not seen).
return function(call)
  local p = call.params
  local port_id = params.port_id(p.port_id)
  local bin_ids = params.bin_list(p.bins)
  if #bin_ids > params.MAX_BINS_LISTED then return fault(1930) end
  if upstream.configured() then return upstream.forward(call, { port_id = port_id }) end

  bins.append_queue(port_id, bin_ids)
  audit.record(call, { port_id = port_id, bins = bin_ids })
  return {}
end
