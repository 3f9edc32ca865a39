-- The store's schema rules, on a real temporary SQLite file.
local runtime = require "helpers.runtime"

local SCHEMA_VERSION = 18 -- the number of migrations in src/store.c

local function temp_store()
  local path = os.tmpname()
  os.remove(path)
  return path
end

local function remove_store(path)
  for _, suffix in ipairs({ "", "-wal", "-shm" }) do os.remove(path .. suffix) end
end

local function add_group(db, taskgroup_id, task_ids)
  db.exec("INSERT INTO taskgroup (taskgroup_id, category, req_time, req_epoch, priority) VALUES (?, 1, 'x', 1, 1)",
    taskgroup_id)
  for _, task_id in ipairs(task_ids) do
    db.exec("INSERT INTO task (task_id, taskgroup_id, bin_id) VALUES (?, ?, ?)", task_id, taskgroup_id, task_id)
  end
end

local function group_exists(db, taskgroup_id)
  return db.row("SELECT 1 AS yes FROM taskgroup WHERE taskgroup_id = ?", taskgroup_id) ~= nil
end

describe("the store schema", function()
  local path, db
  before_each(function()
    path = temp_store()
    db = runtime.native.open_store(path)
  end)
  after_each(function()
    db.close()
    remove_store(path)
  end)

  it("finishes a group when its last task leaves, however it is removed", function()
    add_group(db, 1, { 10, 11 })
    db.exec("DELETE FROM task WHERE task_id = 10")
    assert.is_true(group_exists(db, 1))
    db.exec("DELETE FROM task WHERE task_id = 11")
    assert.is_false(group_exists(db, 1))
  end)

  it("finishes every group one statement empties, and writes nothing for their passage", function()
    add_group(db, 1, { 10, 11 })
    add_group(db, 2, { 20 })
    add_group(db, 3, { 30 })
    assert.equal(3, db.exec("DELETE FROM task WHERE task_id IN (10, 11, 20)"))
    assert.is_false(group_exists(db, 1))
    assert.is_false(group_exists(db, 2))
    assert.is_true(group_exists(db, 3))
    assert.is_nil(db.row("SELECT name FROM sqlite_schema WHERE name = 'taskgroup_emptied' AND type = 'table'"))
    assert.equal(1, db.row("SELECT sum(taskgroups) AS n FROM category_counts").n)
  end)

  it("leaves other groups alone", function()
    add_group(db, 1, { 10 })
    add_group(db, 2, { 20 })
    db.exec("DELETE FROM task WHERE task_id = 10")
    assert.is_false(group_exists(db, 1))
    assert.is_true(group_exists(db, 2))
  end)

  it("keeps a group that has no tasks yet", function()
    add_group(db, 3, {})
    assert.is_true(group_exists(db, 3))
  end)

  it("undoes the finished group with the task when the transaction rolls back", function()
    add_group(db, 1, { 10 })
    assert.is_true(db.begin_call())
    db.exec("DELETE FROM task WHERE task_id = 10")
    db.abort_call()
    assert.is_true(group_exists(db, 1))
    assert.is_not_nil(db.row("SELECT task_id FROM task WHERE task_id = 10"))
  end)

  it("refuses a task for a group that does not exist, and changes nothing", function()
    add_group(db, 1, { 10 })
    local ok, why = db.exec("INSERT INTO task (task_id, taskgroup_id, bin_id) VALUES (20, 2, 20)")
    assert.is_nil(ok)
    assert.matches("^constraint: FOREIGN KEY constraint failed", why)
    assert.is_nil(db.row("SELECT task_id FROM task WHERE task_id = 20"))
    ok = db.exec("UPDATE task SET taskgroup_id = 2 WHERE task_id = 10")
    assert.is_nil(ok)
    assert.equal(1, db.row("SELECT taskgroup_id FROM task WHERE task_id = 10").taskgroup_id)
  end)

  it("refuses to renumber a group that still has tasks", function()
    add_group(db, 1, { 10 })
    local ok, why = db.exec("UPDATE taskgroup SET taskgroup_id = 5 WHERE taskgroup_id = 1")
    assert.is_nil(ok)
    assert.matches("FOREIGN KEY constraint failed", why)
    assert.is_true(group_exists(db, 1))
    add_group(db, 2, {})
    assert.equal(1, db.exec("UPDATE taskgroup SET taskgroup_id = 3 WHERE taskgroup_id = 2"))
  end)

  -- Undoes migrations 18 and 17 (a finished group leaves through taskgroup_emptied).
  local function before_version_17()
    db.exec("DROP TRIGGER taskgroup_finished")
    db.exec("DROP VIEW taskgroup_emptied")
    db.exec("CREATE TRIGGER taskgroup_finished AFTER DELETE ON task"
      .. "  WHEN NOT EXISTS (SELECT 1 FROM task WHERE taskgroup_id = OLD.taskgroup_id)"
      .. "  BEGIN DELETE FROM taskgroup WHERE taskgroup_id = OLD.taskgroup_id; END")
  end

  -- Undoes migration 15 (the call journal; client ports, rules versions and marks in the audit).
  local function before_version_15()
    before_version_17()
    db.exec("DROP TABLE journal")
    db.exec("DROP INDEX audit_marked")
    for _, column in ipairs({ "client_port", "rules", "marked" }) do db.exec("ALTER TABLE audit DROP COLUMN " .. column) end
    db.exec("CREATE INDEX audit_refusals ON audit(audit_id) WHERE reason IS NOT NULL")
  end

  -- Undoes migrations 15 and 14 (refusal reasons in the audit trail).
  local function before_version_14()
    before_version_15()
    db.exec("DROP INDEX audit_refusals")
    db.exec("ALTER TABLE audit DROP COLUMN reason")
  end

  -- Undoes migrations 14, 11 (the table /healthz writes its probe into) and 10 (the port's
  -- content select, req_time limit and queue).
  local function before_version_10()
    before_version_14()
    db.exec("DROP TABLE write_probe")
    for _, name in ipairs({ "bin_by_content", "taskgroup_shipment_turn" }) do db.exec("DROP INDEX " .. name) end
    db.exec("DROP TABLE port_content")
    db.exec("DROP TABLE port_queue")
    db.exec("ALTER TABLE port DROP COLUMN req_epoch")
  end

  -- Turns a new store back into one of schema version 7 (before the counts per category, the
  -- outbox and the port's content select).
  local function as_version_7()
    before_version_10()
    db.exec("DROP TABLE outbox")
    for _, name in ipairs({ "taskgroup_counted_by_category", "taskgroup_uncounted_by_category",
      "taskgroup_recategorized", "task_counted_by_category", "task_uncounted_by_category", "task_regrouped",
      "port_opened" }) do
      db.exec("DROP TRIGGER " .. name)
    end
    db.exec("DROP TABLE category_counts")
    db.exec("ALTER TABLE port DROP COLUMN opened_epoch")
    db.exec("PRAGMA user_version = 7")
  end

  -- Turns a new store back into one of schema version 5 (before the selection indexes).
  local function as_version_5()
    as_version_7()
    db.exec("ALTER TABLE audit DROP COLUMN request_id")
    db.exec("DROP TRIGGER taskgroup_selected")
    for _, name in ipairs({ "task_selected", "taskgroup_ready", "taskgroup_ready_any", "taskgroup_waiting",
      "taskgroup_by_category", "taskgroup_by_suspended", "taskgroup_by_shipment" }) do
      db.exec("DROP INDEX " .. name)
    end
    db.exec("ALTER TABLE taskgroup DROP COLUMN selected_by")
    db.exec("ALTER TABLE taskgroup DROP COLUMN waits")
    db.exec("CREATE INDEX taskgroup_by_turn ON taskgroup(req_epoch, priority, taskgroup_id)")
    db.exec("PRAGMA user_version = 5")
  end

  it("upgrades a store of an older schema version in place, keeping its data", function()
    add_group(db, 1, { 10 })
    as_version_5()
    for _, name in ipairs({ "taskgroup_finished", "task_needs_group", "task_stays_in_a_group",
      "taskgroup_keeps_its_id" }) do
      db.exec("DROP TRIGGER " .. name)
    end
    db.exec("DROP TABLE bin")
    db.exec("PRAGMA user_version = 2")
    db.close()
    db = runtime.native.open_store(path)
    assert.equal(SCHEMA_VERSION, db.row("PRAGMA user_version").user_version)
    assert.equal(17, db.row("SELECT count(*) AS n FROM sqlite_schema WHERE type = 'trigger'").n)
    db.exec("DELETE FROM task WHERE task_id = 10")
    assert.is_false(group_exists(db, 1))
  end)

  it("upgrades a store of version 5 with the selected port and the waiting state of each group", function()
    add_group(db, 1, { 10, 11 })
    add_group(db, 2, { 20 })
    add_group(db, 3, { 30 })
    as_version_5()
    db.exec("UPDATE task SET port_id = 7 WHERE task_id = 11")
    db.exec("UPDATE taskgroup SET start_epoch = 2000000000 WHERE taskgroup_id = 2") -- 2033: ahead
    db.exec("UPDATE taskgroup SET start_epoch = 1000000000 WHERE taskgroup_id = 3") -- 2001: past
    db.close()
    db = runtime.native.open_store(path)
    local groups = db.rows("SELECT taskgroup_id, selected_by, waits FROM taskgroup ORDER BY taskgroup_id")
    assert.same({ { taskgroup_id = 1, selected_by = 7, waits = 0 }, { taskgroup_id = 2, waits = 1 },
      { taskgroup_id = 3, waits = 0 } }, groups)
    assert.is_nil(db.row("SELECT name FROM sqlite_schema WHERE name = 'taskgroup_by_turn'"))
  end)

  it("upgrades a store of version 6 with a request id for each audit record, old records keeping none", function()
    db.exec("INSERT INTO audit (time, client, method, params, outcome) VALUES ('t', 'c', 'cancel_task', '{}', 'ok')")
    as_version_7()
    db.exec("ALTER TABLE audit DROP COLUMN request_id")
    db.exec("PRAGMA user_version = 6")
    db.close()
    db = runtime.native.open_store(path)
    assert.equal(SCHEMA_VERSION, db.row("PRAGMA user_version").user_version)
    assert.same({ { method = "cancel_task" } }, db.rows("SELECT method, request_id FROM audit"))
  end)

  local function counts()
    return db.rows("SELECT category, taskgroups, tasks FROM category_counts WHERE taskgroups > 0 OR tasks > 0 "
      .. "ORDER BY category")
  end

  it("upgrades a store of version 7 with its groups and tasks counted per category", function()
    add_group(db, 1, { 10, 11 })
    add_group(db, 2, { 20 })
    db.exec("UPDATE taskgroup SET category = 4 WHERE taskgroup_id = 2")
    as_version_7()
    db.close()
    db = runtime.native.open_store(path)
    assert.equal(SCHEMA_VERSION, db.row("PRAGMA user_version").user_version)
    assert.same({ { category = 1, taskgroups = 1, tasks = 2 }, { category = 4, taskgroups = 1, tasks = 1 } }, counts())
  end)

  it("upgrades a store of version 8 with an empty outbox", function()
    before_version_10()
    db.exec("DROP TABLE outbox")
    db.exec("PRAGMA user_version = 8")
    db.close()
    db = runtime.native.open_store(path)
    assert.equal(SCHEMA_VERSION, db.row("PRAGMA user_version").user_version)
    assert.same({ { n = 0 } }, db.rows("SELECT count(*) AS n FROM outbox"))
  end)

  it("upgrades a store of version 13 with refusal reasons in the audit trail, old records keeping none", function()
    db.exec("INSERT INTO audit (time, client, method, params, outcome) VALUES ('t', 'c', 'cancel_task', '{}', 'ok')")
    before_version_14()
    db.exec("PRAGMA user_version = 13")
    db.close()
    db = runtime.native.open_store(path)
    assert.equal(SCHEMA_VERSION, db.row("PRAGMA user_version").user_version)
    assert.same({ { method = "cancel_task" } }, db.rows("SELECT method, reason FROM audit"))
  end)

  it("upgrades a store of version 14 with a journal and marks its refusals' records", function()
    db.exec("INSERT INTO audit (time, client, method, params, outcome, reason) VALUES ('t', 'c', 'cancel_task', '{}', '1921', 'closed')")
    db.exec("INSERT INTO audit (time, client, method, params, outcome) VALUES ('t', 'c', 'cancel_task', '{}', 'ok')")
    before_version_15()
    db.exec("PRAGMA user_version = 14")
    db.close()
    db = runtime.native.open_store(path)
    assert.equal(SCHEMA_VERSION, db.row("PRAGMA user_version").user_version)
    assert.same({ { outcome = "1921", marked = "refused" }, { outcome = "ok" } },
      db.rows("SELECT outcome, marked, client_port, rules FROM audit ORDER BY audit_id"))
    assert.same({ { n = 0 } }, db.rows("SELECT count(*) AS n FROM journal"))
  end)

  it("keeps the counts per category through every change of a group or a task", function()
    add_group(db, 1, { 10, 11 })
    add_group(db, 2, { 20 })
    assert.same({ { category = 1, taskgroups = 2, tasks = 3 } }, counts())
    db.exec("UPDATE taskgroup SET category = 4 WHERE taskgroup_id = 2") -- the group takes its task along
    assert.same({ { category = 1, taskgroups = 1, tasks = 2 }, { category = 4, taskgroups = 1, tasks = 1 } }, counts())
    db.exec("UPDATE task SET taskgroup_id = 2 WHERE task_id = 11") -- a task moves to another category
    assert.same({ { category = 1, taskgroups = 1, tasks = 1 }, { category = 4, taskgroups = 1, tasks = 2 } }, counts())
    db.exec("DELETE FROM task WHERE task_id = 10") -- the last task: its group leaves with it
    assert.same({ { category = 4, taskgroups = 1, tasks = 2 } }, counts())
    assert.is_true(db.begin_call())
    db.exec("DELETE FROM task WHERE taskgroup_id = 2")
    assert.same({}, counts())
    db.abort_call() -- counts roll back with the change
    assert.same({ { category = 4, taskgroups = 1, tasks = 2 } }, counts())
  end)
end)

describe("the store's selection state", function()
  local path, db
  before_each(function()
    path = temp_store()
    db = runtime.native.open_store(path)
    add_group(db, 1, { 10, 11 })
    add_group(db, 2, { 20 })
  end)
  after_each(function()
    db.close()
    remove_store(path)
  end)

  local function selected_by(taskgroup_id)
    return db.row("SELECT selected_by FROM taskgroup WHERE taskgroup_id = ?", taskgroup_id).selected_by
  end

  it("records the port of a group whose task is selected, and forgets it when the task is released", function()
    db.exec("UPDATE task SET port_id = 4 WHERE task_id = 11")
    assert.equal(4, selected_by(1))
    assert.is_nil(selected_by(2))
    db.exec("UPDATE task SET port_id = NULL WHERE port_id = 4")
    assert.is_nil(selected_by(1))
  end)

  it("keeps the port while another task of the group stays selected", function()
    db.exec("UPDATE task SET port_id = 4 WHERE task_id = 10")
    db.exec("UPDATE task SET port_id = 5 WHERE task_id = 11")
    db.exec("UPDATE task SET port_id = NULL WHERE task_id = 10")
    assert.equal(5, selected_by(1))
    db.exec("UPDATE task SET port_id = NULL WHERE task_id = 11")
    assert.is_nil(selected_by(1))
  end)

  it("follows a selected task moved into another group", function()
    db.exec("UPDATE task SET port_id = 4 WHERE task_id = 11")
    db.exec("UPDATE task SET taskgroup_id = 2 WHERE task_id = 11")
    assert.is_nil(selected_by(1))
    assert.equal(4, selected_by(2))
  end)

  it("undoes the selected port with the task's change when the transaction rolls back", function()
    assert.is_true(db.begin_call())
    db.exec("UPDATE task SET port_id = 4 WHERE task_id = 20")
    assert.equal(4, selected_by(2))
    db.abort_call()
    assert.is_nil(selected_by(2))
  end)
end)
