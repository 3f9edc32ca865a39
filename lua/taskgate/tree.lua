-- taskgate.tree: what each file of a rules directory is. The loader (taskgate.host) loads what
-- this finds; everything else is named in a warning, so that a file that will never run (a
-- misnamed _Before.lua, a policy in a directory of its own, notes.txt) is not silently ignored.
--
--   rules/<method>.lua          the rule answering <method> on the task endpoint
--   rules/bin/<method>.lua      the rule answering <method> on the bin endpoint
--   rules/policies/<name>.lua   a policy, run before the rules in name order (taskgate.policies)
--   rules/lib/<name>.lua        a site module, require "site.<name>" (taskgate.site)
--   rules/_selfcheck.lua        the rule set's self-checks
--   rules/_before.lua           the old form of one policy, run before those of policies/

local fault = require "taskgate.fault"
local sys = require "taskgate.sys"

local M = {}

M.SPECIAL = { _before = true, _selfcheck = true }
M.DIRECTORIES = { bin = true, policies = true, lib = true }

-- Editors' swap and backup files start with a dot and come and go: not worth a warning.
local function hidden(name)
  return name:sub(1, 1) == "."
end

local function lua_name(name)
  return name:match("^(.+)%.lua$")
end

-- The scan's result, filled by the functions below.
local function new_scan(dir)
  return { dir = dir, methods = {}, bin = {}, policies = {}, modules = {}, warnings = {} }
end

local function warn(scan, path, text)
  scan.warnings[#scan.warnings + 1] = string.format("%s: not loaded: %s", path, text)
end

-- A rule file of the top directory or of bin/ (list: scan.methods or scan.bin). Method names are
-- matched without case, so two files that differ only in case answer the same method: the one
-- later in name order would win, which nobody meant.
local function add_rule(scan, list, name, path, seen)
  local key = name:lower()
  if seen[key] then
    warn(scan, seen[key].path, "the same method as " .. path .. " (names are matched without case)")
    seen[key].skip = true
  end
  local rule = { name = name, path = path }
  seen[key] = rule
  list[#list + 1] = rule
end

local function scan_top(scan, entries)
  local seen = {}
  for _, entry in ipairs(entries) do
    local name, path = entry.name, scan.dir .. "/" .. entry.name
    local base = lua_name(name)
    if hidden(name) then -- nothing
    elseif entry.kind == "dir" then
      if not M.DIRECTORIES[name] then
        warn(scan, path .. "/", "not a directory of the rules tree (bin/, policies/, lib/)")
      end
    elseif entry.kind ~= "file" or not base then
      warn(scan, path, "rules, policies and modules are .lua files")
    elseif base:sub(1, 1) ~= "_" then
      add_rule(scan, scan.methods, base, path, seen)
    elseif M.SPECIAL[base] then
      scan[base:sub(2)] = path -- scan.before, scan.selfcheck
    elseif M.SPECIAL[base:lower()] then
      warn(scan, path, "special files are named in lower case (" .. base:lower() .. ".lua)")
    else
      warn(scan, path, "a name starting with _ is no method (the special files are _selfcheck.lua and _before.lua)")
    end
  end
end

-- bin/, policies/ or lib/: .lua files whose names `valid` accepts (else `why`), nothing else.
local function scan_sub(scan, sub, valid, why, add)
  local dir = scan.dir .. "/" .. sub
  local entries = sys.list_dir(dir)
  if not entries then return end
  for _, entry in ipairs(entries) do
    local name, path = entry.name, dir .. "/" .. entry.name
    local base = lua_name(name)
    if hidden(name) then -- nothing
    elseif entry.kind == "dir" then
      warn(scan, path .. "/", "directories inside " .. sub .. "/ are not read")
    elseif entry.kind ~= "file" or not base then
      warn(scan, path, "only .lua files are read")
    elseif not valid(base) then
      warn(scan, path, why)
    else
      add(base, path)
    end
  end
end

--- Scans a rules directory. Returns {dir, methods, bin, policies, modules = arrays of {name,
--- path, skip} in name order; before, selfcheck = paths or nil; warnings = texts}, or nil and
--- the reason when the directory cannot be read.
function M.scan(dir)
  local entries, why = sys.list_dir(dir)
  if not entries then return nil, why end
  local scan = new_scan(dir)
  scan_top(scan, entries)
  local seen_bin = {}
  scan_sub(scan, "bin", function(base) return base:sub(1, 1) ~= "_" end,
    "a name starting with _ is no method", function(base, path) add_rule(scan, scan.bin, base, path, seen_bin) end)
  scan_sub(scan, "policies", fault.valid_reason,
    "a policy's name is its refusals' reason: letters, digits, _ - . (up to " .. fault.REASON_MAX .. " bytes)",
    function(base, path) scan.policies[#scan.policies + 1] = { name = base, path = path } end)
  scan_sub(scan, "lib", function(base) return base:find("^[%w_]+$") ~= nil end,
    "a module's name (require \"site.<name>\") is letters, digits and _",
    function(base, path) scan.modules[#scan.modules + 1] = { name = base, path = path } end)
  return scan
end

return M
