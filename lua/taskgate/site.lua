-- taskgate.site: the site's own modules, rules/lib/<name>.lua, which rules, policies and other
-- modules load with `require "site.<name>"`. They are compiled with the rest of the rule set, in
-- the same sandbox, and run once per generation: a change to a module reloads everything with
-- it. What a module returns is shared by every file that requires it.

local M = {}

local modules = {} -- name -> { chunk, path, state = nil | "running" | "done", value }

--- Sets the compiled modules of a generation: name -> { chunk = function, path = file }.
function M.set(compiled)
  modules = {}
  for name, module in pairs(compiled) do modules[name] = { chunk = module.chunk, path = module.path } end
end

local function run(name, module)
  module.state = "running"
  local ok, value = pcall(module.chunk)
  if not ok then
    module.state = nil
    error(value, 0)
  end
  if value == nil then value = true end -- as Lua's require: a module that returns nothing
  module.state, module.value = "done", value
  return value
end

--- What rules/lib/<name>.lua returned, running it on first use.
function M.require(name)
  local module = modules[name]
  if not module then error(string.format("no site module '%s' (rules/lib/%s.lua)", name, name), 3) end
  if module.state == "done" then return module.value end
  if module.state == "running" then
    error(string.format("site.%s requires itself (through the modules it requires)", name), 3)
  end
  return run(name, module)
end

--- Runs every module not yet run, in name order; returns nil, or the first problem.
function M.run_all(names)
  for _, name in ipairs(names) do
    local ok, err = pcall(M.require, name)
    if not ok then return tostring(err) end
  end
end

return M
