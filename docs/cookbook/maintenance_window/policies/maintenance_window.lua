-- During the site's Sunday maintenance window, 02:00-04:00 local time in Berlin (summer time
-- included), no change is accepted; queries still work. Refusals are fault 1921 with this
-- policy's name as the reason.
local window = clock.window({ zone = "Europe/Berlin", days = { "sun" }, from = "02:00", to = "04:00" })

return {
  methods = {
    "cancel_task", "create_taskgroup", "add_task", "update_taskgroup", "cancel_taskgroup",
    "openport", "closeport", "openbin", "closebin",
  },
  run = function(call)
    if window:contains(clock.now()) then return fault(1921) end
  end,
}
