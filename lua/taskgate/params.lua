-- taskgate.params: parameter contracts that several methods share, so each is written once.

local check = require "taskgate.check"
local fault = require "taskgate.fault"

local M = {}

local ID_MAX = 2147483647 -- ids, priorities and times: the interface's 32-bit signed integers

-- The integer parameters' contracts, each written once, as data (as Kong declares a plugin's
-- schema): the range, and the fault when the parameter is missing or invalid. A contract
-- without `missing` is an optional parameter.
local contracts = {
  port_id = { min = 1, max = 2000, missing = 1003, invalid = 1004 },
  taskgroup_id = { min = 1, max = ID_MAX, missing = 1904, invalid = 1013 },
  task_id = { min = 1, max = ID_MAX, missing = 1040, invalid = 1012 },
  bin_id = { min = 1, max = 4000000, missing = 1911, invalid = 1010 },
  category = { min = 1, max = 10000000, missing = 1905, invalid = 1007 },
  priority = { min = 1, max = ID_MAX, missing = 1907, invalid = 1908 },
  shipment = { optional = true, min = 1, max = ID_MAX, invalid = 1014 },
  content = { optional = true, min = 0, max = 10000000, invalid = 1006 },
  estpicktime = { optional = true, min = 0, max = ID_MAX, invalid = 1916 },
  -- closebin's and removebin's task_id: 0, like none, is an ad-hoc bin's (openbin by bin_id)
  bin_task_id = { optional = true, min = 0, max = ID_MAX, invalid = 1012 },
}

--- params.<name>(value): the parameter checked against its contract, e.g. params.task_id(v)
--- (1040 missing, 1012 invalid, 1..2147483647). params.optional.<name>(value): the same where a
--- method takes it as optional (a filter): absent gives nil, range and invalid fault the same.
M.optional = {}
for name, contract in pairs(contracts) do
  local optional = { optional = true, min = contract.min, max = contract.max, invalid = contract.invalid }
  M[name] = function(value) return check.int(value, contract) end
  M.optional[name] = function(value) return check.int(value, optional) end
end

-- The contracts of a <task>'s fields, looked up once: a bulk call checks tens of thousands.
local TASK_ID, BIN_ID, ESTPICKTIME = contracts.task_id, contracts.bin_id, contracts.estpicktime
local ITEM = { optional = true, invalid = 1914 }
local ORDER = { optional = true, invalid = 1915 }

--- One <task> of create_taskgroup or add_task, checked field by field. (The optional fields
--- are checked only when present: a bulk call checks tens of thousands of tasks.)
function M.task(task)
  local checked = { task_id = check.int(task.task_id, TASK_ID), bin_id = check.int(task.bin_id, BIN_ID) }
  if task.item ~= nil then checked.item = check.text(task.item, ITEM) end
  if task.order ~= nil then checked.order = check.text(task.order, ORDER) end
  if task.estpicktime ~= nil then checked.estpicktime = check.int(task.estpicktime, ESTPICKTIME) end
  return checked
end

-- A call creates, adds or lists at most this many tasks; more is fault 1931. The bound that
-- keeps one call's work within its time limits (docs/rules.md, "What the time limit counts").
M.MAX_TASKS_PER_CALL = 10000

--- The checked tasks of a <tasks> wrapper (or of `container` itself for the v2 add_task form);
--- 1931 past MAX_TASKS_PER_CALL.
function M.tasks(container)
  local list = check.list(container, "task", { missing = 1909, invalid = 1910 })
  if #list > M.MAX_TASKS_PER_CALL then fault.raise(1931) end
  local tasks = {}
  for i, task in ipairs(list) do
    tasks[i] = M.task(task)
  end
  return tasks
end

--- The ids of `tasks`, in order: what a create's audit record names, so that
--- `taskgate audit --task ID` finds the call that created a task.
function M.task_ids(tasks)
  local ids = {}
  for i, task in ipairs(tasks) do ids[i] = task.task_id end
  return ids
end

--- Returns the first task id of `tasks` that repeats within them or already exists, else nil.
function M.duplicate_task(tasks, store)
  local seen = {}
  for _, task in ipairs(tasks) do
    if seen[task.task_id] or store.task(task.task_id) then return task.task_id end
    seen[task.task_id] = true
  end
  return nil
end

local BIN_IN_LIST = { min = 1, max = 4000000, invalid = 1010, bare = true }

--- The bin_ids of a <bins> wrapper (<bins><bin_id>6111</bin_id>...</bins>, or a JSON array of
--- them), in order: 1911 when there are none, 1010 for a bad one.
function M.bin_list(container)
  local list = check.values(container, "bin_id", check.int, BIN_IN_LIST)
  if #list == 0 then fault.raise(1911) end
  return list
end

M.MAX_SELECT = 32 -- documented: a port selects at most 32 categories or content codes

--- openport's <select>: categories (<category>, 1..10000000, 1007) or bin content codes
--- (<content>, 0..10000000, 1006), at most MAX_SELECT of them; both kinds at once is 1917.
--- In the JSON form a plain array is categories ("select": [1, 2], docs/interface.md): it comes
--- as repeated <select> values, so one category alone is a plain value (form: call.form).
--- Returns {categories = {...}, contents = {...}} (empty: any).
function M.port_select(select, form)
  if form == "json" and (type(select) == "string" and select ~= "") then select = { select } end
  local bare = type(select) == "table" and select[1] ~= nil -- categories only: no content codes
  local categories = check.values(select, "category", check.int, { min = 1, max = 10000000, invalid = 1007, others = "content", bare = true })
  local contents = bare and {} or
    check.values(select, "content", check.int, { min = 0, max = 10000000, invalid = 1006, others = "category" })
  if #categories > 0 and #contents > 0 then fault.raise(1917) end
  if #categories > M.MAX_SELECT then fault.raise(1007) end
  if #contents > M.MAX_SELECT then fault.raise(1006) end
  return { categories = categories, contents = contents }
end

--- port_mode: a documented mode (taskgate.interfaces.port_modes) or an alias of one, any case;
--- absent is the documented default OPEN. 1918 otherwise.
function M.port_mode(value)
  local interfaces = require "taskgate.interfaces"
  local mode = check.token(value, { optional = true, default = interfaces.default_port_mode, invalid = 1918 })
  mode = interfaces.port_mode_aliases[mode] or mode
  if not interfaces.port_modes[mode] then fault.raise(1918) end
  return mode
end

M.MAX_BINS_LISTED = 100000 -- a bin query answers at most this many bins (a large grid; measured in docs/performance.md); more is 1930

-- The parameters a bin query knows. Any other would be a filter it cannot apply: answering
-- without it would widen the answer, so it is refused (1933, assumed).
local BIN_FILTERS = { bin_id = true, min_bin_id = true, max_bin_id = true, bins = true }

--- The bins a bin query names: bin_id alone, the range min_bin_id..max_bin_id (each bound
--- optional, 1..4000000, 1010 invalid), or a <bins> list of bin_ids; nothing is every bin.
--- Returns {min, max, ids} (ids: the listed bin_ids, or nil) for bins.list. Raises 1933
--- for a parameter that is none of these, 1930 for a list longer than MAX_BINS_LISTED.
function M.bins_in_range(p)
  for name in pairs(p) do
    if not BIN_FILTERS[name] then fault.raise(1933) end
  end
  local bin_id = check.int(p.bin_id, { optional = true, min = 1, max = 4000000, invalid = 1010 })
  local min = check.int(p.min_bin_id, { optional = true, min = 1, max = 4000000, invalid = 1010 })
  local max = check.int(p.max_bin_id, { optional = true, min = 1, max = 4000000, invalid = 1010 })
  local ids
  if p.bins ~= nil then
    ids = M.bin_list(p.bins)
    if #ids > M.MAX_BINS_LISTED then fault.raise(1930) end
    if bin_id then ids[#ids + 1] = bin_id end
    local lowest, highest = ids[1], ids[1]
    for _, id in ipairs(ids) do lowest, highest = math.min(lowest, id), math.max(highest, id) end
    min, max = math.max(min or 1, lowest), math.min(max or 4000000, highest)
  elseif bin_id then
    min, max = math.max(bin_id, min or 1), math.min(bin_id, max or 4000000)
  end
  return { min = min or 1, max = max or 4000000, ids = ids }
end

return M
