-- Each client may make at most 20 calls a second (bursts of up to 20). The buckets live in the
-- gateway's shared space: every worker draws from the same ones, and a reload keeps them.
-- Refusals are fault 1921 with the reason "rate_limit" (in the log line, the metrics and the
-- audit trail; the client sees the code only).
local per_client = ratelimit.new("per_client", { rate = 20, burst = 20 })

return function(call)
  if not per_client:take(call.client) then return fault(1921, "rate_limit") end
end
