-- taskgate.policies: the site's policies. Each file of rules/policies/ is one policy; they run
-- in name order before the method's rule, inside the call's transaction, in standalone and bridge
-- mode alike. A policy refuses a call (returns or raises a fault) or lets it through (returns
-- nothing); it never answers in the rule's place, so method rules stay the protocol and a policy
-- cannot break forwarding.
--
-- A policy file returns a function(call), which sees every method, or a table
--   { methods = { "cancel_task", ... }, run = function(call) ... end }
-- which sees only the methods named (case-insensitively, on either endpoint).

local M = {}

local all = {}       -- { name, file, run, methods = set or nil }, in the order they run
local for_name = {}  -- method name -> the policies that see it, made on first use

local function problem(file, text)
  return nil, string.format("%s: %s", file, text)
end

--- Makes a policy named `name` (its file's name, the default reason of its faults) out of what
--- `file` returned. Returns it, or nil and the problem.
function M.make(name, file, value)
  if type(value) == "function" then return { name = name, file = file, run = value } end
  if type(value) ~= "table" then
    return problem(file, "a policy returns a function(call) or { methods = {...}, run = function(call) }, not a "
      .. type(value))
  end
  for key in pairs(value) do
    if key ~= "methods" and key ~= "run" then return problem(file, "unknown field '" .. tostring(key) .. "' (methods, run)") end
  end
  if type(value.run) ~= "function" then return problem(file, "run must be a function(call)") end
  local methods
  if value.methods ~= nil then
    if type(value.methods) ~= "table" or value.methods[1] == nil then
      return problem(file, "methods must be a list of method names")
    end
    methods = {}
    for _, method in ipairs(value.methods) do
      if type(method) ~= "string" then return problem(file, "methods must be a list of method names") end
      methods[method:lower()] = true
    end
  end
  return { name = name, file = file, run = value.run, methods = methods }
end

--- Sets the policies, in the order they run (replacing any before).
function M.set(policies)
  all, for_name = policies, {}
end

--- The policies that see method `name`, in order (the same array every time).
function M.of(name)
  local list = for_name[name]
  if list then return list end
  list = {}
  for _, policy in ipairs(all) do
    if not policy.methods or policy.methods[name] then list[#list + 1] = policy end
  end
  for_name[name] = list -- names come from loaded rules only: the cache stays small
  return list
end

--- The loaded policies' names and files, in order (for `taskgate check` and /status).
function M.list()
  local names = {}
  for i, policy in ipairs(all) do names[i] = { name = policy.name, file = policy.file } end
  return names
end

return M
