-- getbininfo: what the store knows of one bin (bin_id), or of each bin in
-- min_bin_id..max_bin_id: its content code, mode and port.
local columns = { "bin_id", "content", "bin_mode", "port_id" }

return function(call)
  local range = params.bins_in_range(call.params)
  if upstream.configured() then return upstream.forward(call) end

  local listed, why = bins.listing(columns, range.min, range.max, range.ids, params.MAX_BINS_LISTED, call.form)
  if not listed then return fault(why == "too many" and 1930 or 1932) end -- 1932: too broad, narrow the range
  return { bins = listed }
end
