-- A real PostgreSQL 15 for the specs (scripts/postgres): one cluster per run, a fresh database
-- per gateway that wants one. scripts/test starts the cluster for the whole run and passes its
-- socket directory in TASKGATE_PG_HOST; a busted run without it starts one of its own on first
-- use and stops it when busted exits.
local gateway = require "helpers.gateway"

local M = {}

local root = os.getenv("TASKGATE_ROOT") or "."
local script = root .. "/scripts/postgres"
local host = os.getenv("TASKGATE_PG_HOST")
-- Busted loads this module afresh for each spec file: a cluster this file started is stopped
-- (by its __gc) once the file is done with it.
local own_cluster

--- nil when PostgreSQL can be used here; otherwise why not (for pending()).
function M.unavailable()
  if host then return nil end
  local out, code = gateway.run(script .. " check")
  if code ~= 0 then return "PostgreSQL specs skipped: " .. out:gsub("%s+$", "") end
  return nil
end

--- The socket directory of the run's cluster, started on first use.
function M.host()
  if host then return host end
  local dir = gateway.tmpdir()
  local out, code = gateway.run(script .. " start " .. dir)
  assert(code == 0, "cannot start PostgreSQL: " .. out)
  host = dir
  own_cluster = setmetatable({}, { __gc = function() os.execute(script .. " stop " .. dir .. " >/dev/null 2>&1") end })
  return host
end

--- Runs SQL on the database `name` (default: postgres) with psql; returns its output and status.
function M.psql(sql, name)
  return gateway.run(string.format("psql -X -q -A -t 'postgresql:///%s?host=%s&user=taskgate' -c %q",
    name or "postgres", M.host(), sql))
end

--- A new, empty database; returns its name and its connection URI.
function M.database()
  local uuid = io.open("/proc/sys/kernel/random/uuid"):read("l")
  local name = "spec_" .. uuid:gsub("-", "")
  local out, code = M.psql("CREATE DATABASE " .. name)
  assert(code == 0, "cannot create a database: " .. out)
  return name, string.format("postgresql:///%s?host=%s&user=taskgate", name, M.host())
end

--- Stops the cluster's server at once (a database that went away); start_server brings it back.
function M.stop_server()
  return gateway.run(script .. " down " .. M.host())
end

function M.start_server()
  return gateway.run(script .. " up " .. M.host())
end

return M
