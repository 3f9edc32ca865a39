-- taskgate.interfaces: which rule answers a method on each endpoint. The task endpoint
-- (/api/v2/task and its v1 path) is answered by rules/<method>.lua; the bin endpoint
-- (/api/v2/bin and its v1 path) by rules/bin/<method>.lua. Some methods belong to both, as the
-- interface documentation says; this table is where a site changes that.

local M = {}

--- Methods of rules/ that the bin endpoint answers too (the port methods).
M.shared_with_bin = {
  openport = true, closeport = true, openbin = true, closebin = true, getportstatus = true,
}

--- Whether the task endpoint also answers the methods of rules/bin/ (getbinstate, portbinmode...:
--- the documentation places several of them on both, and v1 clients send them all to the task
--- path). Assumed; a site that wants the endpoints apart sets it to false.
M.task_answers_bin_methods = true

--- The rule for `name` on `interface` ("task" or "bin") among `rules` (name -> rule, bin rules
--- under "bin/<name>"), or nil: an unknown method there.
function M.find(rules, name, interface)
  if interface == "bin" then
    return rules["bin/" .. name] or (M.shared_with_bin[name] and rules[name]) or nil
  end
  return rules[name] or (M.task_answers_bin_methods and rules["bin/" .. name]) or nil
end

return M
