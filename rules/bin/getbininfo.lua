-- getbininfo: what the store knows of one bin (bin_id), or of each bin in
-- min_bin_id..max_bin_id: its content code, mode and port.
local order = { "bin_id", "content", "bin_mode", "port_id" }

return function(call)
  local bins, too_many = params.bins_in_range(call.params)
  if too_many then return fault(1930) end
  if upstream.configured() then return upstream.forward(call) end

  local listed = {}
  for i, bin in ipairs(bins) do
    listed[i] = reply.record(order, { bin_id = bin.bin_id, content = bin.content, bin_mode = bin.bin_mode,
      port_id = bin.port_id })
  end
  return { bins = { bin = reply.list(listed) } }
end
