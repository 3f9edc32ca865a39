-- getbinstate: the mode of one bin (bin_id) or of the bins in min_bin_id..max_bin_id, and the
-- port of each bin that is at one. Reply: <bins><bin>... (assumed element names: those the
-- public clients read).
local columns = { "bin_id", "bin_mode", "port_id", "content" }

return function(call)
  local range = params.bins_in_range(call.params)
  if upstream.configured() then return upstream.forward(call) end

  return { bins = bins.list(columns, range, call.form) } -- 1930: too many bins; 1932: too broad, narrow the range
end
