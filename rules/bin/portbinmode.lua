-- portbinmode: sets the mode (OPEN, CLOSED or OUTSIDE, as words or their one-letter codes) and
-- optionally the content code of a bin at the port. OUTSIDE only from TOGRID, as documented.
local MODES = { OPEN = true, CLOSED = true, OUTSIDE = true }

return function(call)
  local p = call.params
  local port_id = params.port_id(p.port_id)
  local bin_id = params.bin_id(p.bin_id)
  if p.bin_mode == nil then return fault(1923) end
  local mode = bins.mode_of(check.token(p.bin_mode, { invalid = 1924 }))
  if not MODES[mode] then return fault(1924) end
  local content = params.content(p.content)
  if upstream.configured() then return upstream.forward(call, { port_id = port_id, bin_id = bin_id }) end

  local bin = bins.get(bin_id)
  if not bin then return fault(1011) end
  if bin.port_id ~= port_id then return fault(bin.port_id and 1925 or 1011) end
  if mode == "OUTSIDE" and bin.bin_mode ~= "TOGRID" then return fault(1928) end

  bins.set(bin_id, mode, port_id, content)
  audit.record(call, { port_id = port_id, bin_id = bin_id, bin_mode = mode, content = content })
  return {}
end
