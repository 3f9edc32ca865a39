-- taskcount: a site's own method. Answers how many groups and tasks wait, optionally for one
-- category: <methodcall><name>taskcount</name><params><category>3</category></params></methodcall>
return function(call)
  local category = check.int(call.params.category, { optional = true, min = 1, max = 10000000, invalid = 1007 })

  local found = store.taskgroups({ category = category })
  if not found then return fault(1931) end -- more than a call may list
  local groups, tasks = 0, 0
  for _, group in ipairs(found) do
    groups = groups + 1
    tasks = tasks + #group.tasks
  end
  return reply.record({ "taskgroups", "tasks" }, { taskgroups = groups, tasks = tasks })
end
