-- taskgate.host: what the C core calls. Loads the rules tree (rules, policies, site modules) into
-- their sandboxes, runs the rule set's self-checks, and answers calls with reply documents.

local audit = require "taskgate.audit"
local clock = require "taskgate.clock"
local db = require "taskgate.db"
local dispatch = require "taskgate.dispatch"
local expect = require "taskgate.expect"
local json = require "taskgate.json"
local log = require "taskgate.log"
local owed = require "taskgate.owed"
local policies = require "taskgate.policies"
local sandbox = require "taskgate.sandbox"
local site = require "taskgate.site"
local spaces = require "taskgate.spaces"
local sys = require "taskgate.sys"
local tree = require "taskgate.tree"

local M = {}

M.files = {} -- every loaded file: { name, path, sha256 }, in name order

-- Loads one rule or policy file; returns what it returned and its hash, or nil and the problem.
-- A rule returns a function(call); a policy a function or a table (taskgate.policies checks it).
local function load_file(path, name)
  local chunk, sha256 = sys.load_rule(path, sandbox.env(name))
  if not chunk then return nil, sha256 end
  local ok, result = pcall(sys.run_rules, chunk)
  if not ok then return nil, tostring(result) end
  local policy = name:find("^policies/")
  if type(result) ~= "function" and not (policy and type(result) == "table") then
    return nil, string.format("%s: must return a function(call), returned %s", path, type(result))
  end
  return result, sha256
end

-- Self-checks see the clock stopped at this moment (Wednesday 2024-01-03 12:00 UTC), so that
-- a rule set checks the same whenever it loads: a policy that depends on the time (a Sunday
-- maintenance window) must not refuse a start or a reload at the wrong hour.
local SELF_CHECK_TIME = 1704283200

-- Runs the rule set's self-checks (rules/_selfcheck.lua) inside a transaction that is rolled
-- back, so they can call any method on the live store without changing it.
local function self_check(check, path)
  local began, why = db.begin_turn()
  if not began then return string.format("%s: cannot open a transaction: %s", path, why) end
  local calls = 0
  -- A local client, as an operator testing by hand; interface "bin" calls the bin endpoint. The
  -- method's rule answers without the site's policies (self-checks check the protocol; a policy
  -- that closes a method must not make the rule set unloadable) unless options.policies is set;
  -- options.client calls as another address.
  local function call(name, params, interface, options)
    calls = calls + 1
    options = options or {}
    return dispatch.handle({ name = name, params = params or {}, client = options.client or "127.0.0.1",
      interface = interface }, nil, not options.policies)
  end
  local source = clock.source
  clock.source = function() return SELF_CHECK_TIME end
  -- What they count in the shared space (a rate limit's tokens) stays in a scratch one.
  local ok, err = sys.run_rules(spaces.with_scratch, check, call, expect)
  clock.source = source
  db.abort_turn()
  if not ok then return string.format("self-check failed: %s", tostring(err)) end
  M.self_check_report = { present = true, ok = true, calls = calls, path = path, time = sys.now() }
end

-- Compiles every file of `list` ({name, path} in order, those marked skip left out) and runs
-- it; keeps what each returned in `loaded` (name -> {value, path}) and its hash in `files`, or
-- its problem in `problems`. Names get `prefix` ("bin/", "policy ").
local function load_files(list, prefix, loaded, files, problems)
  for _, file in ipairs(list) do
    if not file.skip then
      local value, sha256 = load_file(file.path, prefix .. file.name)
      if value ~= nil then
        loaded[#loaded + 1] = { name = file.name, value = value, path = file.path }
        files[#files + 1] = { name = prefix .. file.name, path = file.path, sha256 = sha256 }
      else
        problems[#problems + 1] = sha256
      end
    end
  end
end

-- Compiles the site modules (rules/lib/) and runs them all, in name order, each once (a module
-- that requires another runs it first). Returns the problems.
local function load_modules(scan, files, problems)
  local compiled, names = {}, {}
  for _, module in ipairs(scan.modules) do
    local chunk, sha256 = sys.load_rule(module.path, sandbox.env("lib/" .. module.name))
    if chunk then
      compiled[module.name] = { chunk = chunk, path = module.path }
      names[#names + 1] = module.name
      files[#files + 1] = { name = "lib/" .. module.name, path = module.path, sha256 = sha256 }
    else
      problems[#problems + 1] = sha256
    end
  end
  site.set(compiled)
  if #problems == 0 then problems[#problems + 1] = sys.run_rules(site.run_all, names) end
end

-- The policies in the order they run: _before.lua (the old form) first, then policies/.
local function make_policies(before, loaded, problems)
  local list = {}
  for _, file in ipairs(before) do list[#list + 1] = policies.make("_before", file.path, file.value) end
  for _, file in ipairs(loaded) do
    local policy, problem = policies.make(file.name, file.path, file.value)
    list[#list + 1] = policy
    problems[#problems + 1] = problem
  end
  return list
end

--- Loads a rules directory (taskgate.tree says what each file is): the site modules of lib/,
--- the rules answering methods (the file name, less .lua, is the method), the policies of
--- policies/ and the self-checks; runs the self-checks. The rules' own code (top-level code and
--- self-checks) runs through sys.run_rules: on a live gateway it all shares one budget. Files that will not load are named in
--- M.warnings. Returns true, or nil and every problem found, one per line.
function M.load(rules_dir)
  local scan, why = tree.scan(rules_dir)
  if not scan then return nil, why end
  local files, problems = {}, {}
  load_modules(scan, files, problems)
  local methods, bin, policy_files, before, selfcheck = {}, {}, {}, {}, {}
  load_files(scan.methods, "", methods, files, problems)
  load_files(scan.bin, "bin/", bin, files, problems)
  load_files(scan.before and { { name = "_before", path = scan.before } } or {}, "", before, files, problems)
  load_files(scan.policies, "policies/", policy_files, files, problems)
  load_files(scan.selfcheck and { { name = "_selfcheck", path = scan.selfcheck } } or {}, "", selfcheck, files, problems)
  local list = make_policies(before, policy_files, problems)
  if #problems > 0 then return nil, table.concat(problems, "\n") end
  dispatch.clear()
  for _, rule in ipairs(methods) do dispatch.register(rule.name, rule.value, rule.path) end
  for _, rule in ipairs(bin) do dispatch.register("bin/" .. rule.name, rule.value, rule.path) end
  policies.set(list)
  if selfcheck[1] then
    local failed = self_check(selfcheck[1].value, selfcheck[1].path)
    if failed then return nil, failed end
  end
  M.files, M.warnings = files, scan.warnings
  audit.rules_version = M.version()
  sys.set_fault_names(require "taskgate.faults") -- names in the calls' log lines and metrics
  return true
end

--- A console view of the store as JSON text (taskgate.console): "ports", "queue", "search",
--- "audit" or "self_check"; query is the request's query string.
function M.console(view, query)
  return require("taskgate.console").view(view, query)
end

M.warnings = {}

--- The loaded rule set's version: the first 12 hex digits of a SHA-256 over every loaded file's
--- name and hash. The same files give the same version on every gateway and every restart; the
--- audit trail names it, and `taskgate check` prints it.
function M.version()
  local lines = {}
  for i, file in ipairs(M.files) do lines[i] = file.name .. " " .. file.sha256 end
  table.sort(lines)
  return sys.sha256(table.concat(lines, "\n")):sub(1, 12)
end

--- The warnings of the last load (files it did not load), one per line.
function M.warnings_text()
  return table.concat(M.warnings, "\n")
end

-- The replay and try commands (src/replay.c, taskgate.replay), loaded only when they run.
local function replay(name)
  return function(...) return require("taskgate.replay")[name](...) end
end
M.replay_load, M.replay_step, M.replay_results = replay("load"), replay("step"), replay("results")
M.replay_report, M.try_prepare, M.try_call = replay("report"), replay("try_prepare"), replay("try_call")
M.replay_call_of, M.try_report = replay("call_of"), replay("try_report")

--- The loaded files as JSON: [{"name":..,"path":..,"sha256":..}, ...].
function M.describe()
  return json.encode(M.files)
end

-- The reply's bytes (encoded by the dispatcher, inside the call's transaction), or nil, the
-- outbound request the call waits on and its token.
local function answer(reply, bytes_or_request, token)
  if reply then return bytes_or_request end
  return nil, bytes_or_request, token
end

--- Answers a decoded call (call.form "json" for a JSON methodcall, answered in JSON): the reply
--- document, or nil, request {method, url, body, content_type} and a token when the call waits
--- on the network. With `again_ok`, nil and "again" when it is to run again (dispatch.AGAIN).
function M.handle(call, again_ok)
  dispatch.allow_again(again_ok)
  local reply, bytes_or_request, token = dispatch.start(call)
  dispatch.allow_again(false) -- unused when the call ended before its rule ran
  return answer(reply, bytes_or_request, token)
end

--- Resumes the call waiting under token with {status, body} or {error = reason}.
function M.resume(token, result)
  dispatch.allow_again(false)
  return answer(dispatch.resume(token, result))
end

--- Writes the traces the worker's read-only calls owe (taskgate.owed); the store's turn is open.
function M.write_owed(next_row)
  owed.write(next_row)
end

--- The methods whose calls only read, by endpoint: "\ttask:gettaskinfo\tbin:getbinstate\t...".
function M.read_only_methods()
  return dispatch.read_only_methods()
end

--- "1" in bridge mode (--upstream), else "": the C core then keeps each XML request's bytes,
--- for forwarding a call as received (taskgate.received).
function M.bridge_mode()
  return sys.upstream() and "1" or ""
end

--- The reply the C core sends when Lua itself failed (time or memory limit).
function M.internal_error_reply()
  return dispatch.internal_error("xml")
end

--- The same, to a JSON methodcall.
function M.internal_error_reply_json()
  return dispatch.internal_error("json")
end

--- The reply the C core sends instead when Lua failed after the call may have reached the
--- upstream (fault 1922: its outcome is unknown, never "nothing changed").
function M.outcome_unknown_reply()
  return dispatch.fault_bytes("xml", 1922)
end

function M.outcome_unknown_reply_json()
  return dispatch.fault_bytes("json", 1922)
end

--- After the database refused to commit a turn (src/batch.c): nothing its calls wrote is
--- stored. Records each call of `calls` ({name, client, client_port, request_id, params, form,
--- upstream_reached}) as answered a fault, saying `why` (taskgate.audit), and returns each one's
--- reply: 1934 (nothing changed), or 1922 when the upstream may have executed it.
function M.turn_rolled_back(calls, why)
  local replies = {}
  for i, call in ipairs(calls) do
    call.outcome = call.upstream_reached and 1922 or 1934
    replies[i] = dispatch.fault_bytes(call.form, call.outcome)
  end
  local ok, err = audit.turn_rolled_back(calls, "turn rolled back by the database: " .. why)
  if not ok then log.warn("calls of a rolled-back turn not audited", { error = tostring(err) }) end
  return replies
end

--- After a step of the call waiting under token failed (a limit struck) when the upstream may
--- have executed it: logs and audits its outcome as unknown.
function M.outcome_unknown(token, why)
  dispatch.outcome_unknown(token, why)
end

return M
