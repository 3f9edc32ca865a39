-- preparebin: bins are to be made ready for a port (<bins><bin_id>..</bin_id>..</bins>). The
-- emulator has no robots to dig with: a bin in the grid is PREPARED at once (getbinstate "T");
-- a bin at a port or outside keeps its mode. Any bin_id is taken, as by appendportqueue.
return function(call)
  local bin_ids = params.bin_list(call.params.bins)
  if #bin_ids > params.MAX_BINS_LISTED then return fault(1930) end
  if upstream.configured() then return upstream.forward(call) end

  for _, bin_id in ipairs(bin_ids) do
    local bin = bins.get(bin_id)
    if not bin or bin.bin_mode == "GRID" then bins.set(bin_id, "PREPARED", nil, nil) end
  end
  audit.record(call, { bins = bin_ids })
  return {}
end
