-- getbinloc: where one bin, or each bin in min_bin_id..max_bin_id, is: at a port (port_id), or
-- in the grid. The emulator keeps no grid positions: xpos, ypos and depth are 0 (assumed).
local columns = { "bin_id", "0 AS xpos", "0 AS ypos", "0 AS depth", "port_id" }

return function(call)
  local range = params.bins_in_range(call.params)
  if upstream.configured() then return upstream.forward(call) end

  return { bins = bins.list(columns, range, call.form) } -- 1930: too many bins; 1932: too broad, narrow the range
end
