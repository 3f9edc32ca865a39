-- taskgate.legacy: makes v1 requests (POSTed to /ASInterfaceHttp/AutoStoreHttpInterface.aspx)
-- look like v2 ones before any rule sees them, so v1 clients work against the embedded store and
-- a v2 upstream alike. What is translated (all assumed: the v1 format is not documented):
--   * a single wrapper element inside <params> that holds all the parameters — named after the
--     method or <parameters> — is unwrapped;
--   * times "YYYY-MM-DD hh:mm:ss", "YYYY-MM-DDThh:mm:ss" (no zone) and fractions of a second
--     ("...:ss.fffZ") become "YYYY-MM-DDThh:mm:ssZ" (v1 times are UTC);
--   * booleans "True"/"False" already pass (checks ignore case).

local M = {}

local TIME_FIELDS = { req_time = true, start_time = true }

local function normalise_time(text)
  if type(text) ~= "string" then return text end
  local date, clock = text:match("^%s*(%d%d%d%d%-%d%d%-%d%d)[T ](%d%d:%d%d:%d%d)[%.%d]*Z?%s*$")
  return date and (date .. "T" .. clock .. "Z") or text
end

-- Rewrites the times in params; returns whether any changed.
local function normalise_times(params)
  local changed = false
  for key, value in pairs(params) do
    if TIME_FIELDS[key] then
      local time = normalise_time(value)
      changed = changed or time ~= value
      params[key] = time
    elseif type(value) == "table" then
      changed = normalise_times(value) or changed
    end
  end
  return changed
end

--- Rewrites a prepared call {name, params} in place; returns whether anything changed (the call
--- is then no longer what its bytes say: bridge mode encodes it again).
function M.normalise(call)
  local params = call.params
  local only, count = nil, 0
  for key in pairs(params) do
    only, count = key, count + 1
  end
  local unwrapped = count == 1 and (only == call.name or only == "parameters") and type(params[only]) == "table"
  if unwrapped then call.params = params[only] end
  local changed = normalise_times(call.params)
  call.legacy = true
  return unwrapped or changed
end

return M
