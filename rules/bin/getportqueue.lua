-- getportqueue: the port's queue, front first: <bins><bin_id>..</bin_id>..</bins>.
return function(call)
  local port_id = params.port_id(call.params.port_id)
  if upstream.configured() then return upstream.forward(call) end

  return { bins = { bin_id = reply.list(bins.queue(port_id)) } }
end
