-- getbininfo: what the store knows of one bin (bin_id), or of each bin in
-- min_bin_id..max_bin_id: its content code, mode and port.
local columns = { "bin_id", "content", "bin_mode", "port_id" }

return function(call)
  local range = params.bins_in_range(call.params)
  if upstream.configured() then return upstream.forward(call) end

  return { bins = bins.list(columns, range, call.form) } -- 1930: too many bins; 1932: too broad, narrow the range
end
