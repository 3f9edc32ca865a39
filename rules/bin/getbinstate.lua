-- getbinstate: the mode of one bin (bin_id) or of the bins in min_bin_id..max_bin_id, and the
-- port of each bin that is at one. Reply: <bins><bin>... (assumed element names: those the
-- public clients read).
local order = { "bin_id", "bin_mode", "port_id", "content" }

return function(call)
  local found, refused = params.bins_in_range(call.params)
  if refused then return fault(refused) end -- 1930 too many bins, 1932 too broad: narrow the range
  if upstream.configured() then return upstream.forward(call) end

  local listed = {}
  for i, bin in ipairs(found) do
    listed[i] = reply.record(order, { bin_id = bin.bin_id, bin_mode = bins.reply_mode(bin.bin_mode), port_id = bin.port_id,
      content = bin.content })
  end
  return { bins = { bin = reply.list(listed) } }
end
