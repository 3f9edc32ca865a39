-- Metrics for the floor and the box: ports, waiting work by category, the oldest waiting group,
-- the process, the build, the last reload, the store and WAL sizes, call times by method; and
-- the Grafana dashboard and Prometheus alert rules that read them.
local gateway = require "helpers.gateway"
local socket = require "socket"

local metric = gateway.metric
local root = os.getenv("TASKGATE_ROOT") or "."

local function metrics(gw)
  local status, text = gw:admin("/metrics")
  assert.equal(200, status)
  return text
end

-- A group of tasks (ids from first) in category, asked for at req_time.
local function group(id, category, req_time, first, count)
  local parts = { string.format("<taskgroup_id>%d</taskgroup_id><category>%d</category><req_time>%s</req_time>"
    .. "<priority>1</priority><tasks>", id, category, req_time) }
  for i = 0, count - 1 do
    parts[#parts + 1] = string.format("<task><task_id>%d</task_id><bin_id>%d</bin_id></task>", first + i, first + i)
  end
  parts[#parts + 1] = "</tasks>"
  return table.concat(parts)
end

describe("floor metrics", function()
  local gw
  setup(function() gw = gateway.start() end)
  teardown(function() gw:stop() end)

  it("count waiting tasks and groups by category as they come and go", function()
    assert.equal(gateway.OK, gw:call("create_taskgroup", group(1, 3, "2024-05-01T08:00:00Z", 100, 3)))
    assert.equal(gateway.OK, gw:call("create_taskgroup", group(2, 3, "2024-05-01T09:00:00Z", 200, 2)))
    assert.equal(gateway.OK, gw:call("create_taskgroup", group(3, 5, "2024-05-01T10:00:00Z", 300, 1)))
    local text = metrics(gw)
    assert.equal(5, metric(text, 'taskgate_tasks_waiting{category="3"}'))
    assert.equal(2, metric(text, 'taskgate_taskgroups_waiting{category="3"}'))
    assert.equal(1, metric(text, 'taskgate_tasks_waiting{category="5"}'))
    assert.equal(gateway.OK, gw:call("cancel_task", "<task_id>100</task_id>"))
    assert.equal(gateway.OK, gw:call("cancel_task", "<task_id>300</task_id>")) -- its group leaves with it
    text = metrics(gw)
    assert.equal(4, metric(text, 'taskgate_tasks_waiting{category="3"}'))
    assert.is_nil(metric(text, 'taskgate_tasks_waiting{category="5"}')) -- an empty category is not shown
    assert.equal(gateway.OK, gw:call("cancel_taskgroup", "<taskgroup_id>2</taskgroup_id>"))
    text = metrics(gw)
    assert.equal(2, metric(text, 'taskgate_tasks_waiting{category="3"}'))
    assert.equal(1, metric(text, 'taskgate_taskgroups_waiting{category="3"}'))
  end)

  it("age the oldest group a port may pick from its req_time", function()
    local age = metric(metrics(gw), "taskgate_oldest_waiting_task_age_seconds")
    local expected = os.time() - os.time({ year = 2024, month = 5, day = 1, hour = 8 }) -- group 1, local time
    assert.is_true(math.abs(age - expected) < 2 * 86400, "age " .. age) -- os.time reads local time
  end)

  it("show each open port, its mode, how long it has been open and whether a bin is open", function()
    assert.equal(gateway.OK, gw:call("openport", "<port_id>7</port_id><port_mode>PICK</port_mode><category>3</category>"))
    local text = metrics(gw)
    assert.equal(1, metric(text, 'taskgate_port_open{port_id="7",port_mode="OPEN"}'))
    assert.equal(0, metric(text, 'taskgate_port_bin_open{port_id="7"}'))
    local opened = metric(text, 'taskgate_port_open_seconds{port_id="7"}')
    assert.is_true(opened >= 0 and opened < 5)
    assert.matches("<task_id>101</task_id>", gw:call("openbin", "<port_id>7</port_id>"))
    text = metrics(gw)
    assert.equal(1, metric(text, 'taskgate_port_bin_open{port_id="7"}'))
    -- the task at the port is no longer waiting, nor is its group
    assert.equal(1, metric(text, 'taskgate_tasks_waiting{category="3"}'))
    assert.equal(0, metric(text, 'taskgate_taskgroups_waiting{category="3"}'))
    socket.sleep(1.1)
    assert.is_true(metric(metrics(gw), 'taskgate_port_open_seconds{port_id="7"}') >= 1)
  end)

  it("drop a port once closed", function()
    gw:call("closeport", "<port_id>7</port_id>")
    assert.is_nil(metric(metrics(gw), 'taskgate_port_open{port_id="7",port_mode="OPEN"}'))
  end)

  it("keep their counts across a restart", function()
    local before = metrics(gw)
    gw:stop()
    gw = gateway.start({ store = gw.store, dir = gw.dir })
    local after = metrics(gw)
    for _, series in ipairs({ 'taskgate_tasks_waiting{category="3"}', 'taskgate_taskgroups_waiting{category="3"}' }) do
      assert.equal(metric(before, series), metric(after, series))
    end
  end)
end)

describe("box metrics", function()
  it("show the process: CPU, memory, descriptors moving with connections, its start", function()
    local gw = gateway.start()
    local text = metrics(gw)
    assert.is_true(metric(text, "process_cpu_seconds_total") > 0)
    assert.is_true(metric(text, "process_resident_memory_bytes") > 1e6)
    assert.is_true(metric(text, "process_virtual_memory_bytes") > 1e6)
    assert.is_true(metric(text, "process_max_fds") > 0)
    local fds = metric(text, "process_open_fds")
    local conns = {}
    for i = 1, 20 do conns[i] = gw:connect() end
    socket.sleep(0.1)
    assert.is_true(metric(metrics(gw), "process_open_fds") >= fds + 20)
    for _, c in ipairs(conns) do c:close() end
    assert.is_true(math.abs(metric(text, "process_start_time_seconds") - os.time()) < 60)
    gw:stop()
  end)

  it("name the build and the libraries it runs on", function()
    local gw = gateway.start()
    assert.matches('\ntaskgate_build_info{version="%d+%.%d+%.%d+",lua="5%.4%.%d+",sqlite="3%.[%d.]+",libuv="1%.[%d.]+",libxml2="2%.[%d.]+"} 1\n',
      metrics(gw))
    gw:stop()
  end)

  it("say whether the last reload loaded, and when", function()
    local rules = gateway.rules_dir()
    local gw = gateway.start({ rules = rules })
    local text = metrics(gw)
    assert.equal(1, metric(text, "taskgate_reload_last_success"))
    local started = metric(text, "taskgate_reload_last_time_seconds")
    gateway.write_file(rules .. "/broken.lua", "return function(\n")
    assert.equal(1, select(2, gw:command("reload")))
    text = metrics(gw)
    assert.equal(0, metric(text, "taskgate_reload_last_success"))
    assert.is_true(metric(text, "taskgate_reload_last_time_seconds") >= started)
    os.remove(rules .. "/broken.lua")
    assert.equal(0, select(2, gw:command("reload")))
    assert.equal(1, metric(metrics(gw), "taskgate_reload_last_success"))
    gw:stop()
  end)

  it("show the store's and the WAL's size", function()
    local gw = gateway.start()
    assert.equal(gateway.OK, gw:call("create_taskgroup", group(1, 1, "2024-05-01T08:00:00Z", 1, 50)))
    local text = metrics(gw)
    assert.is_true(metric(text, "taskgate_store_size_bytes") > 0)
    assert.is_true(metric(text, "taskgate_store_wal_size_bytes") > 0)
    gw:stop()
  end)

  it("time calls by method; made-up method names share one series", function()
    local gw = gateway.start()
    gw:call("cancel_task", "<task_id>1</task_id>")
    gw:call("cancel_task", "<task_id>2</task_id>")
    for i = 1, 40 do gw:call("made_up_" .. i) end
    local text = metrics(gw)
    assert.equal(2, metric(text, 'taskgate_call_duration_seconds_count{method="cancel_task"}'))
    assert.equal(2, metric(text, 'taskgate_call_duration_seconds_bucket{method="cancel_task",le="+Inf"}'))
    assert.equal(40, metric(text, 'taskgate_call_duration_seconds_count{method="unknown"}'))
    local methods = 0
    for _ in text:gmatch('taskgate_call_duration_seconds_count{method="[^"]+"}') do methods = methods + 1 end
    assert.equal(2, methods)
    gw:stop()
  end)
end)

describe("the dashboard and the alert rules", function()
  -- Every metric name a PromQL expression in text uses (taskgate_* and process_*).
  local function metric_names(text)
    local names = {}
    for name in text:gmatch("[%a_]+") do
      if name:match("^taskgate_") or name:match("^process_") then
        names[name:gsub("_bucket$", ""):gsub("_count$", ""):gsub("_sum$", "")] = true
      end
    end
    return names
  end

  it("use only metrics the gateway exposes", function()
    local gw = gateway.start({ args = "--upstream http://127.0.0.1:1/api/v2/task" })
    gw:call("cancel_task", "<task_id>1</task_id>") -- an upstream call and a call time to show
    gw:call("openport", "<port_id>1</port_id><port_mode>PICK</port_mode><category>1</category>")
    local exposed = metrics(gw)
    gw:stop()
    for _, file in ipairs({ "taskgate-dashboard.json", "taskgate-alerts.yml" }) do
      local text = gateway.read_file(root .. "/packaging/monitoring/" .. file)
      for name in pairs(metric_names(text)) do
        assert.truthy(exposed:find("\n# TYPE " .. name .. " ", 1, true), file .. " uses " .. name .. ", which /metrics lacks")
      end
    end
  end)

  it("are a dashboard Grafana can import: JSON with panels", function()
    local out, code = gateway.run("python3 -c \"import json,sys; d=json.load(open(sys.argv[1])); "
      .. "assert d['panels'] and all('targets' in p or p['type']=='row' for p in d['panels']); print(len(d['panels']))\" "
      .. root .. "/packaging/monitoring/taskgate-dashboard.json")
    assert.equal(0, code, out)
  end)

  it("are alert rules promtool check rules accepts", function()
    local out, code = gateway.run("bash " .. root .. "/scripts/promtool check rules " .. root
      .. "/packaging/monitoring/taskgate-alerts.yml")
    assert.equal(0, code, out)
    assert.matches("SUCCESS: %d+ rules found", out)
  end)
end)
