-- Runs before every method: during the Sunday maintenance window (02:00-04:00 UTC) no change
-- is accepted; queries still work.
local changes = {
  cancel_task = true, create_taskgroup = true, add_task = true, update_taskgroup = true,
  cancel_taskgroup = true, openport = true, closeport = true, openbin = true, closebin = true,
}

return function(call)
  local now = clock.parts()
  local in_window = now.weekday == 7 and now.hour >= 2 and now.hour < 4
  if in_window and changes[call.name] then return fault(1921) end
end
