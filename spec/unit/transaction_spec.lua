-- The call's transaction (src/txn.c, through taskgate.db) and failures as values
-- (src/failure_lua.c), on a real store through taskgate_native.so.
local runtime = require "helpers.runtime"

local native = runtime.native

local tmpdir = require("helpers.gateway").tmpdir

describe("the call's transaction", function()
  local db, dir
  before_each(function()
    dir = tmpdir()
    db = native.open_store(dir .. "/store.db")
    db.exec("INSERT INTO taskgroup (taskgroup_id, category, req_time, req_epoch, priority) VALUES (1, 1, 'x', 0, 1)")
  end)
  after_each(function()
    db.close()
    os.execute("rm -rf '" .. dir .. "'")
  end)

  local function groups() return #db.rows("SELECT taskgroup_id FROM taskgroup") end
  local function add(id)
    db.exec("INSERT INTO taskgroup (taskgroup_id, category, req_time, req_epoch, priority) VALUES (?, 1, 'x', 0, 1)", id)
  end
  -- A call that adds group id and commits.
  local function committed_call(id)
    assert.is_true(db.begin_call())
    add(id)
    assert.is_true(db.commit_call())
  end
  -- A call that adds group id and aborts.
  local function aborted_call(id)
    assert.is_true(db.begin_call())
    add(id)
    db.abort_call()
  end

  it("keeps a call's changes when it commits, and undoes them when it aborts", function()
    committed_call(2)
    aborted_call(3)
    assert.equal(2, groups())
  end)

  it("commits the calls of a turn together, and a call's abort undoes only that call", function()
    assert.is_true(db.begin_turn())
    committed_call(2)
    aborted_call(3)
    assert.is_true(db.commit_turn())
    assert.equal(2, groups())
  end)

  it("undoes every call of an aborted turn (a rule set's self-checks)", function()
    assert.is_true(db.begin_turn())
    for id = 2, 4 do committed_call(id) end
    db.abort_turn()
    assert.equal(1, groups())
  end)

  it("aborts a call still open when its turn commits: its changes never stay", function()
    assert.is_true(db.begin_turn())
    assert.is_true(db.begin_call())
    add(2)
    assert.is_true(db.commit_turn())
    assert.equal(1, groups())
  end)

  it("refuses a second call inside an open one, and an abort with no call open does nothing", function()
    db.abort_call()
    assert.is_true(db.begin_call())
    local ok, why = db.begin_call()
    assert.is_nil(ok)
    assert.is_string(why)
    db.abort_call()
    assert.is_true(db.begin_call())
    assert.is_true(db.commit_call())
  end)

  it("fails the commit of a turn the store rolled back by itself, and refuses calls in it meanwhile", function()
    assert.is_true(db.begin_turn())
    committed_call(2)
    db.exec("ROLLBACK") -- as SQLite does by itself after an I/O error or a full disk
    assert.is_nil((db.begin_call()))
    assert.is_nil((db.commit_turn()))
    assert.equal(1, groups())
    assert.is_true(db.begin_call()) -- the next turn starts clean
    assert.is_true(db.commit_call())
  end)
end)

describe("failures", function()
  local failure = native.failure

  it("carry their kind, message and traceback, and print as their message", function()
    local f = failure.new("timeout", "rules/x.lua:3: time limit of 50 ms exceeded", "stack traceback: ...")
    assert.equal("timeout", failure.kind(f))
    assert.equal("timeout", f.kind)
    assert.equal("stack traceback: ...", f.traceback)
    assert.equal("rules/x.lua:3: time limit of 50 ms exceeded", tostring(f))
  end)

  it("cannot be changed or forged", function()
    local f = failure.new("error", "boom")
    assert.has_error(function() f.kind = "timeout" end)
    assert.equal(false, getmetatable(f))
    assert.is_nil(failure.kind({ kind = "timeout" }))
    assert.is_nil(failure.kind("time limit of 50 ms exceeded"))
    assert.has_error(function() failure.new("fatal", "no such kind") end)
  end)
end)

describe("a reply that does not encode, in the runtime", function()
  local site
  before_each(function()
    local dir = tmpdir()
    os.execute(string.format("cp %s/rules/*.lua %s/", os.getenv("TASKGATE_ROOT") or ".", dir))
    local f = io.open(dir .. "/cancel_badly.lua", "w")
    f:write("return function(call)\n  store.cancel_task(5)\n  audit.record(call)\n  return { f = tostring }\nend\n")
    f:close()
    site = runtime.new(dir)
    site.call("create_taskgroup", { taskgroup_id = "1", category = "1", req_time = "2024-05-01T08:00:00Z",
      priority = "1", tasks = { task = { task_id = "5", bin_id = "5" } } })
  end)
  after_each(function() runtime.close(site) end)

  it("is fault 1999, and the change and its audit record are undone (a record of the failure stays)", function()
    local audited = #site.audit.recent(100)
    assert.same({ fault = { code = 1999 } }, site.call("cancel_badly", {}))
    assert.is_not_nil(site.store.task(5))
    assert.equal(audited + 1, #site.audit.recent(100))
    local record = site.audit.recent(1)[1]
    assert.same({ "cancel_badly", "1999", "failed", "error" }, { record.method, record.outcome, record.marked, record.reason })
  end)
end)

-- A call that waits on the network ends its step's transaction, aborted: it must not have changed
-- the store (outbound.send refuses after a change). Should a wait come after changes all the same,
-- the dispatcher fails the call: the reply may never be ok over a change rolled back.
describe("a wait yielded after store changes", function()
  local site, dispatch, outbound
  before_each(function()
    site = runtime.new()
    site.call("create_taskgroup", { taskgroup_id = "1", category = "1", req_time = "2024-05-01T08:00:00Z",
      priority = "1", tasks = { task = { task_id = "5", bin_id = "5" } } })
    dispatch, outbound = require "taskgate.dispatch", require "taskgate.outbound"
  end)
  after_each(function() runtime.close(site) end)

  it("fails the call with the change undone, and a wait before changes still works", function()
    local store = require "taskgate.store"
    dispatch.register("wait_after_change", function()
      store.cancel_task(5)
      coroutine.yield(outbound.WAIT, { method = "POST", url = "http://127.0.0.1:9/", body = "", content_type = "text/plain" })
      return {}
    end)
    dispatch.register("wait_before_change", function()
      local result = outbound.send({ method = "POST", url = "http://127.0.0.1:9/", body = "", content_type = "text/plain" })
      store.cancel_task(5)
      return { status = result.status }
    end)
    local sent = 0
    local function network() sent = sent + 1 return { status = 204, body = "" } end
    assert.same({ fault = { code = 1999 } }, dispatch.handle({ name = "wait_after_change", params = {}, client = "spec" }, network))
    assert.equal(0, sent)
    assert.is_not_nil(site.store.task(5))
    assert.same({ params = { status = 204 } }, dispatch.handle({ name = "wait_before_change", params = {}, client = "spec" }, network))
    assert.equal(1, sent)
    assert.is_nil(site.store.task(5))
  end)
end)
