-- During the Sunday maintenance window (02:00-04:00 UTC) no change is accepted; queries still
-- work.
return {
  methods = {
    "cancel_task", "create_taskgroup", "add_task", "update_taskgroup", "cancel_taskgroup",
    "openport", "closeport", "openbin", "closebin",
  },
  run = function(call)
    local now = clock.parts()
    if now.weekday == 7 and now.hour >= 2 and now.hour < 4 then return fault(1921) end
  end,
}
