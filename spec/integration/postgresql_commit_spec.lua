-- A turn whose COMMIT fails on PostgreSQL (docs/ha.md, "What happens when something fails").
-- The commit checks the groups the turn emptied (a deferred trigger): a lock it cannot get there
-- (past the 1 s lock timeout, or a deadlock's victim) makes the server refuse the commit. Then
-- nothing of the turn is stored, it is known: each call is answered 1934 and its audit record
-- says so. Only when the connection breaks during the COMMIT is the outcome unknown: no reply,
-- and the log says "outcome unknown". A second session (psql) holds the locks the commit needs,
-- so both happen every time. A real PostgreSQL 15 (spec/helpers/postgres.lua).
local gateway = require "helpers.gateway"
local postgres = require "helpers.postgres"
local socket = require "socket"

local OK, F = gateway.OK, gateway.fault

local function sql(query, name)
  local out, code = postgres.psql(query, name)
  assert.equal(0, code, out)
  return (out:gsub("%s+$", ""))
end

-- Starts a session of its own on database `name` that runs `locks` (SQL, in a transaction),
-- then `meanwhile` once a gateway's session waits for one of its locks, then holds them
-- `seconds` more and commits; a deadlock's victim is never this session. Returns a handle whose close() waits for it and returns its output.
local function hold(name, locks, meanwhile, seconds)
  local file = os.tmpname()
  local script = assert(io.open(file, "w"))
  script:write(string.format([[
SET application_name = 'spec_holder';
SET deadlock_timeout = '10s';
BEGIN;
%s
DO $$ BEGIN
  FOR i IN 1..1000 LOOP
    EXIT WHEN EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = 'taskgate' AND wait_event_type = 'Lock');
    PERFORM pg_sleep(0.01);
  END LOOP;
END $$;
%s
SELECT pg_sleep(%s);
COMMIT;
]], locks, meanwhile or "", seconds or 0))
  script:close()
  local handle = io.popen(string.format("psql -X -q -A -t 'postgresql:///%s?host=%s&user=taskgate' -f %s 2>&1",
    name, postgres.host(), file))
  -- the locks are held once its DO block runs
  for _ = 1, 500 do
    if sql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'spec_holder' AND query LIKE 'DO%'") == "1" then
      break
    end
    socket.sleep(0.01)
  end
  return {
    close = function()
      local out = handle:read("a")
      handle:close()
      os.remove(file)
      return out
    end,
  }
end

-- Holds what the commit of a cancel of task 101 needs (group 1's last other task, then the
-- group row), as hold() does.
local function hold_locks(name, meanwhile, seconds)
  return hold(name, "SELECT 1 FROM task WHERE task_id = 102 FOR UPDATE;\n"
    .. "SELECT 1 FROM taskgroup WHERE taskgroup_id = 1 FOR UPDATE;", meanwhile, seconds)
end

describe("a turn whose commit fails on the PostgreSQL store", function()
  local why_not = postgres.unavailable()
  if why_not then
    it("is skipped: " .. why_not, function() pending(why_not) end)
    return
  end

  local name, uri, gw
  before_each(function()
    name, uri = postgres.database()
    gw = gateway.start({ store = uri })
    assert.equal(OK, gw:call("create_taskgroup", gateway.taskgroup_params(1, { { 101, 1 }, { 102, 2 } })))
  end)
  after_each(function()
    if gw then gw:stop() end
  end)

  it("answers 1934 when the database refuses the commit, stores nothing, and audits the call as faulted", function()
    local holder = hold_locks(name, nil, 2)
    -- the commit waits for group 1's row past the gateway's 1 s lock timeout: the server refuses it
    assert.equal(F(1934), gw:cancel(101))
    holder.close()
    assert.equal("101,102", sql("SELECT string_agg(task_id::text, ',' ORDER BY task_id) FROM task", name))
    assert.equal("cancel_task|1934|failed|101", sql("SELECT method || '|' || outcome || '|' || marked || '|' || "
      .. "(params::json->>'task_id') FROM audit WHERE method = 'cancel_task'", name))
    assert.matches("SQLSTATE 55P03", sql("SELECT reason FROM audit WHERE method = 'cancel_task'", name))
    local log = gw:log()
    assert.matches('commit_failed backend=postgresql sqlstate=55P03 [^\n]*action="rolled back', log)
    assert.matches("method=cancel_task outcome=1934 fault=STORE_UNAVAILABLE reason=commit refused", log)
    -- the gateway serves on: the retry is done
    assert.equal(OK, gw:cancel(101))
    assert.equal("102", sql("SELECT string_agg(task_id::text, ',') FROM task", name))
  end)

  it("answers each call of the turn 1934, whatever the rules had answered it", function()
    local holder = hold_locks(name, nil, 3)
    local function send(task_id)
      local conn = gw:connect()
      conn:settimeout(10)
      assert(conn:send(gateway.post_request(gateway.methodcall("cancel_task", "<task_id>" .. task_id .. "</task_id>"))))
      return conn
    end
    local function reply(conn)
      local _, _, body = gateway.read_response(conn)
      conn:close()
      return body
    end
    -- the first cancel's commit holds the gateway's loop for its 1 s lock wait: the two calls
    -- sent meanwhile run in the next turn together, whose commit waits for the same locks
    local first = send(101)
    socket.sleep(0.3)
    local missing, again = send(999), send(101)
    assert.equal(F(1934), reply(first))
    assert.equal(F(1934), reply(missing)) -- its 1017 went with the turn (and its journal entry): not said
    assert.equal(F(1934), reply(again))
    holder.close()
    assert.equal("101,102", sql("SELECT string_agg(task_id::text, ',' ORDER BY task_id) FROM task", name))
    assert.equal("101,101,999", sql("SELECT string_agg(params::json->>'task_id', ',' ORDER BY "
      .. "(params::json->>'task_id')::int) FROM audit WHERE method = 'cancel_task' AND outcome = '1934'", name))
  end)

  it("sends no reply and logs the outcome unknown when the connection breaks during the commit", function()
    -- the holder ends the gateway's session while its COMMIT waits for a lock
    local holder = hold_locks(name, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
      .. "WHERE application_name = 'taskgate' AND wait_event_type = 'Lock';", 0.5)
    local conn = gw:connect()
    conn:settimeout(10)
    assert(conn:send(gateway.post_request(gateway.methodcall("cancel_task", "<task_id>101</task_id>"))))
    local status, err = gateway.read_response(conn)
    conn:close()
    holder.close()
    assert.is_nil(status)
    assert.equal("closed", err)
    local log = gw:log()
    assert.matches('commit_failed backend=postgresql sqlstate=08006 [^\n]*action="outcome unknown', log)
    assert.matches("method=cancel_task outcome=dropped", log)
    -- the session comes back by itself; the task is there (the server ended the transaction)
    local reply
    for _ = 1, 50 do
      reply = gw:cancel(101)
      if reply == OK then break end
      socket.sleep(0.1)
    end
    assert.equal(OK, reply)
  end)
end)

describe("a call a deadlock chose as its victim on the PostgreSQL store", function()
  local why_not = postgres.unavailable()
  if why_not then
    it("is skipped: " .. why_not, function() pending(why_not) end)
    return
  end

  local gw
  after_each(function()
    if gw then gw:stop() end
  end)

  it("runs again in the next turn, once its turn's locks are gone, and is answered as if it had met none", function()
    local name, uri = postgres.database()
    sql(string.format("ALTER DATABASE %s SET deadlock_timeout = '20ms'", name)) -- the gateway's sessions find it first
    gw = gateway.start({ store = uri })
    assert.equal(OK, gw:call("create_taskgroup", gateway.taskgroup_params(1, { { 101, 1 }, { 102, 2 } })))
    -- The cancel of the group locks task 101, then waits for 102, which the other session holds
    -- and then wants 101: a deadlock, of which the gateway's statement is the victim.
    local holder = hold(name, "SELECT 1 FROM task WHERE task_id = 102 FOR UPDATE;",
      "SELECT 1 FROM task WHERE task_id = 101 FOR UPDATE;")
    assert.equal(OK, gw:call("cancel_taskgroup", "<taskgroup_id>1</taskgroup_id>"))
    holder.close()
    assert.equal("0|0", sql("SELECT (SELECT count(*) FROM task) || '|' || (SELECT count(*) FROM taskgroup)", name))
    local log = gw:log()
    assert.matches('store_statement_failed sqlstate=40P01 error="deadlock detected" statement="DELETE FROM task WHERE taskgroup_id = ?"', log, 1, true)
    assert.matches("call_runs_again [^\n]*method=cancel_taskgroup times=1", log)
    assert.matches("method=cancel_taskgroup outcome=ok", log)
    -- its audit record is the run that ended it, once
    assert.equal("ok", sql("SELECT string_agg(outcome, ',') FROM audit WHERE method = 'cancel_taskgroup'", name))
  end)
end)
