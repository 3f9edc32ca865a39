-- taskcount: a site's own method. Answers how many groups and tasks wait, optionally for one
-- category: <methodcall><name>taskcount</name><params><category>3</category></params></methodcall>
-- Standalone it counts this gateway's store; in bridge mode the controller holds the tasks, so it
-- counts what the controller's gettaskinfo lists (the controller has no taskcount of its own).

-- An element that may be repeated, as a list: absent or empty is none, one is a list of one.
local function all(value)
  if type(value) ~= "table" then return {} end
  return value[1] ~= nil and value or { value }
end

-- The groups waiting, each with its tasks: {tasks = {...}}; or nil and the fault to answer.
local function waiting_groups(category)
  if not upstream.configured() then
    local found = store.taskgroups({ category = category })
    if not found then return nil, 1931 end -- more than a call may list
    return found
  end
  local listed = upstream.call("gettaskinfo", { category = category and tostring(category) })
  if not listed then return nil, 1922 end -- the controller cannot be reached
  if listed.fault then return nil, listed.fault.code end -- the controller's own fault, passed on
  local groups = {}
  for i, group in ipairs(all(type(listed.params) == "table" and listed.params.taskgroups and listed.params.taskgroups.taskgroup)) do
    groups[i] = { tasks = all(type(group.tasks) == "table" and group.tasks.task) }
  end
  return groups
end

return function(call)
  local category = check.int(call.params.category, { optional = true, min = 1, max = 10000000, invalid = 1007 })

  local groups, code = waiting_groups(category)
  if not groups then return fault(code) end
  local tasks = 0
  for _, group in ipairs(groups) do tasks = tasks + #group.tasks end
  return reply.record({ "taskgroups", "tasks" }, { taskgroups = #groups, tasks = tasks })
end
