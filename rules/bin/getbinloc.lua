-- getbinloc: where one bin, or each bin in min_bin_id..max_bin_id, is: at a port (port_id), or
-- in the grid. The emulator keeps no grid positions: xpos, ypos and depth are 0 (assumed).
local order = { "bin_id", "xpos", "ypos", "depth", "port_id" }

return function(call)
  local found, refused = params.bins_in_range(call.params)
  if refused then return fault(refused) end -- 1930 too many bins, 1932 too broad: narrow the range
  if upstream.configured() then return upstream.forward(call) end

  local listed = {}
  for i, bin in ipairs(found) do
    listed[i] = reply.record(order, { bin_id = bin.bin_id, xpos = 0, ypos = 0, depth = 0, port_id = bin.port_id })
  end
  return { bins = { bin = reply.list(listed) } }
end
