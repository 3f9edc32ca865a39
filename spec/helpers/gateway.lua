-- Starts the real taskgate binary on 127.0.0.1:<free port> with a temporary store and speaks
-- HTTP to it over real sockets.
local dkjson = require "dkjson"
local socket = require "socket"

local M = {}

local root = os.getenv("TASKGATE_ROOT") or "."
M.binary = os.getenv("TASKGATE_BIN") or (root .. "/build/taskgate")
M.rules = root .. "/rules"
M.python = os.getenv("TASKGATE_PYTHON") or "/usr/bin/python3" -- Debian's (scripts/deps), not a shim on PATH

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return text
end
M.read_file = read_file

--- Writes text to path.
function M.write_file(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

--- A new rules directory: copies of the shipped rules plus `extra` files (name -> source).
function M.rules_dir(extra)
  local dir = M.tmpdir()
  os.execute(string.format("cp -R %s/. %s/", M.rules, dir))
  for name, source in pairs(extra or {}) do M.write_file(dir .. "/" .. name .. ".lua", source) end
  return dir
end

--- Runs a shell command; returns its output (stdout and stderr) and its exit status.
function M.run(cmd)
  local p = io.popen(cmd .. " 2>&1; echo \"exit=$?\"")
  local out = p:read("a")
  p:close()
  local code = tonumber(out:match("exit=(%d+)\n$"))
  return out:gsub("exit=%d+\n$", ""), code
end

--- A port free on 127.0.0.1 a moment ago, for config files that must name their address.
function M.free_port()
  local probe = assert(socket.bind("127.0.0.1", 0))
  local _, port = probe:getsockname()
  probe:close()
  return tonumber(port)
end

function M.tmpdir()
  local p = io.popen("mktemp -d /tmp/taskgate-spec.XXXXXX")
  local dir = p:read("l")
  p:close()
  return dir
end

local Gateway = {}
Gateway.__index = Gateway

-- TASKGATE_DEFAULT_ARGS: flags every gateway gets unless its spec gives the same flag or a
-- config file (scripts/tsan: a Lua time limit that ThreadSanitizer's slowdown fits in).
local function default_args(args)
  local added = {}
  for flag, value in (os.getenv("TASKGATE_DEFAULT_ARGS") or ""):gmatch("(%-%-[%w-]+)%s+([^%s]+)") do
    if not args:find(flag, 1, true) then added[#added + 1] = flag .. " " .. value end
  end
  return table.concat(added, " ")
end

-- The command-line flags of a gateway started by M.start.
local function start_flags(self, opts)
  if opts.config then -- the config file says where the store, rules and admin address are
    return string.format("--config %s --listen 127.0.0.1:0 %s", opts.config, opts.args or "")
  end
  local args = opts.args or ""
  local admin = args:find("--admin-listen", 1, true) and "" or "--admin-listen 127.0.0.1:0 "
  return string.format("--listen 127.0.0.1:0 %s--store '%s' --rules %s %s %s", admin, self.store, self.rules, args,
    default_args(args))
end

--- Starts a gateway. opts: store (path), rules (dir), args (extra command-line text), config (a
--- config file that names the store, rules and admin address; only the task port is added),
--- binary (the command to run instead of the built taskgate; it must exec the gateway), prefix (a
--- command the gateway's command line is appended to, run by the shell: it must exec it).
--- Its admin address (/status, /metrics) is 127.0.0.1:<free port> unless args give --admin-listen.
function M.start(opts)
  opts = opts or {}
  local dir = opts.dir or M.tmpdir()
  local store = opts.store
  -- TASKGATE_STORE=postgresql (scripts/test's run of the core specs on PostgreSQL): a gateway
  -- given no store gets a fresh database of the run's cluster instead of a file.
  if not store and os.getenv("TASKGATE_STORE") == "postgresql" then
    store = select(2, require("helpers.postgres").database())
  end
  local self = setmetatable({
    dir = dir,
    store = store or (dir .. "/taskgate.db"),
    rules = opts.rules or M.rules,
    out = dir .. "/stdout",
    err = dir .. "/stderr",
  }, Gateway)
  os.remove(self.out) -- a previous gateway's "listening on" line must not be read as ours
  -- The gateway gets none of the shell's other descriptors (3-9): a gateway a failed spec leaves
  -- running must not keep, say, the landing lock (flock's descriptor) held.
  local cmd = string.format("%s %s %s >%s 2>>%s 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- & echo $!", opts.prefix or "",
    opts.binary or M.binary, start_flags(self, opts), self.out, self.err)
  local p = io.popen(cmd)
  self.pid = p:read("l")
  p:close()
  for _ = 1, 500 do
    local text = read_file(self.out) or ""
    local port = text:match("^listening on 127%.0%.0%.1:(%d+)")
    local admin_port = text:match("\nadmin listening on [^\n]-:(%d+)\n")
    if port and admin_port then
      self.port, self.admin_port = tonumber(port), tonumber(admin_port)
      return self
    end
    if not self:alive() then break end
    socket.sleep(0.01)
  end
  error("gateway did not start: " .. (read_file(self.err) or "(no stderr)"))
end

--- Starts the gateway from a config file holding `config` and no --listen of its own, so its
--- addresses are the file's. Returns its pid and the addresses its "listening on" line names
--- (nil when it printed none in 5 s); the caller kills it.
function M.start_from_config(config)
  local dir = M.tmpdir()
  M.write_file(dir .. "/taskgate.conf", config)
  local out = dir .. "/out"
  local p = io.popen(string.format("%s --config %s/taskgate.conf --admin-listen 127.0.0.1:0 --store %s/s.db --rules %s >%s 2>%s/err & echo $!",
    M.binary, dir, dir, M.rules, out, dir))
  local pid = p:read("l")
  p:close()
  for _ = 1, 500 do
    local addresses = (read_file(out) or ""):match("listening on ([^\n]*)\n")
    if addresses then return pid, addresses end
    socket.sleep(0.01)
  end
  return pid, nil
end

-- True while the process runs. An exited gateway is orphaned (its starting shell is gone) and
-- may linger as a zombie until init reaps it, so a zombie counts as gone -- once its other
-- threads are gone too: the main thread turns zombie first, and the sockets close only with
-- the last thread.
local function process_alive(pid)
  local stat = read_file("/proc/" .. pid .. "/stat")
  if stat == nil then return false end
  if not stat:match("^%d+ %b() Z") then return true end
  local p = io.popen("ls /proc/" .. pid .. "/task 2>/dev/null")
  local threads = select(2, p:read("a"):gsub("%d+", ""))
  p:close()
  return threads > 1
end

function Gateway:alive()
  return process_alive(self.pid)
end

function Gateway:log()
  return read_file(self.err) or ""
end

--- Sends a signal and waits for the process to end; returns true when it exited.
function Gateway:stop(signal)
  os.execute(string.format("kill -%s %s 2>/dev/null", signal or "TERM", self.pid))
  for _ = 1, 500 do
    if not self:alive() then return true end
    socket.sleep(0.01)
  end
  os.execute("kill -9 " .. self.pid .. " 2>/dev/null")
  return false
end

local FakeUpstream = {}
FakeUpstream.__index = FakeUpstream

--- Starts spec/helpers/fake_upstream.py in `mode` (see its header). opts: port (to come back
--- on a port used before), tls = {cert, key} (serve HTTPS), client_ca (with tls: require a
--- client certificate this CA signed), delay (seconds a receiver waits before each answer).
--- Returns it with .port and .url (the task path).
function M.fake_upstream(mode, opts)
  opts = opts or {}
  local dir = M.tmpdir()
  local self = setmetatable({ dir = dir, log_path = dir .. "/requests", out = dir .. "/stdout", mode = mode }, FakeUpstream)
  local extra = (opts.port and (" --port " .. opts.port) or "") ..
    (opts.tls and string.format(" --tls %s %s", opts.tls.cert, opts.tls.key) or "") ..
    (opts.client_ca and (" --client-ca " .. opts.client_ca) or "") ..
    (opts.delay and (" --delay " .. opts.delay) or "")
  local p = io.popen(string.format("%s %s/spec/helpers/fake_upstream.py %s %s%s >%s 2>%s/stderr & echo $!",
    M.python, root, mode, self.log_path, extra, self.out, dir))
  self.pid = p:read("l")
  p:close()
  for _ = 1, 500 do
    local port = (read_file(self.out) or ""):match("listening on (%d+)")
    if port then
      self.port = tonumber(port)
      self.url = string.format("%s://127.0.0.1:%d/api/v2/task", opts.tls and "https" or "http", self.port)
      return self
    end
    socket.sleep(0.01)
  end
  error("fake upstream did not start: " .. (read_file(dir .. "/stderr") or ""))
end

--- The requests it has read completely, in order: {conn, seq, method, path, task_id, headers,
--- body}; without the gateway's health probes (HEAD) unless `probes` is true.
function FakeUpstream:requests(probes)
  local list = {}
  for line in (read_file(self.log_path) or ""):gmatch("[^\n]+") do
    local request = dkjson.decode(line)
    if probes or request.method ~= "HEAD" then list[#list + 1] = request end
  end
  return list
end

--- How many requests carried task_id.
function FakeUpstream:count(task_id)
  local n = 0
  for _, request in ipairs(self:requests()) do
    if request.task_id == tostring(task_id) then n = n + 1 end
  end
  return n
end

--- Stops it (signal: default TERM; KILL to take it down at once) and waits until it is gone.
function FakeUpstream:stop(signal)
  os.execute(string.format("kill -%s %s 2>/dev/null", signal or "TERM", self.pid))
  for _ = 1, 500 do
    if not process_alive(self.pid) then return end
    socket.sleep(0.01)
  end
end

--- Opens a raw TCP connection to the gateway.
function Gateway:connect()
  local conn = assert(socket.connect("127.0.0.1", self.port))
  conn:settimeout(5)
  return conn
end

--- GET path on 127.0.0.1:port over a connection of its own; returns status, body, headers.
function M.get(port, path)
  local conn = assert(socket.connect("127.0.0.1", port))
  conn:settimeout(5)
  conn:send("GET " .. path .. " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
  local status, headers, body = M.read_response(conn)
  conn:close()
  return status, body, headers
end

--- Runs `taskgate ARGS` aimed at this gateway (its store and admin address); returns the output
--- and the exit status.
function Gateway:command(args)
  return M.run(string.format("%s %s --store '%s' --admin-listen 127.0.0.1:%d", M.binary, args, self.store, self.admin_port))
end

--- GET path on the gateway's admin address; returns status, body, headers.
function Gateway:admin(path)
  return M.get(self.admin_port, path)
end

--- /status, decoded (it must answer 200).
function Gateway:status()
  local status, body = self:admin("/status")
  assert(status == 200, "/status answered " .. tostring(status))
  return dkjson.decode(body)
end

--- Waits (up to `seconds`, default 5) until /status says upstream i is in `state`.
function Gateway:wait_for_upstream(i, state, seconds)
  for _ = 1, (seconds or 5) * 100 do
    if self:status().upstreams[i].state == state then return end
    socket.sleep(0.01)
  end
  error("upstream " .. i .. " never became " .. state)
end

--- The value of one series (name and labels exactly as exposed) in /metrics text, or nil.
function M.metric(text, series)
  local escaped = series:gsub("[%p]", "%%%0")
  return tonumber(text:match("\n" .. escaped .. " ([%d%.e%+]+)"))
end

-- Reads one HTTP response from conn; returns status, headers (lower-case keys), body.
function M.read_response(conn, head_only)
  local line, err = conn:receive("*l")
  if not line then return nil, err end
  local status = tonumber(line:match("^HTTP/1%.1 (%d+)"))
  local headers = {}
  while true do
    local header = assert(conn:receive("*l"))
    if header == "" then break end
    local name, value = header:match("^([^:]+):%s*(.*)$")
    headers[name:lower()] = value
  end
  local length = tonumber(headers["content-length"] or 0)
  local body = ""
  if length > 0 and not head_only then body = assert(conn:receive(length)) end
  return status, headers, body
end

--- Sends a raw request on a fresh connection and reads one response.
function Gateway:raw(bytes, head_only)
  local conn = self:connect()
  assert(conn:send(bytes))
  local status, headers, body = M.read_response(conn, head_only)
  conn:close()
  return status, headers, body
end

function M.post_request(xml, extra_headers, path)
  return string.format("POST %s HTTP/1.1\r\nHost: taskgate\r\nContent-Type: application/xml\r\n%sContent-Length: %d\r\n\r\n%s",
    path or "/api/v2/task", extra_headers or "", #xml, xml)
end

--- POSTs a methodcall document; returns status, headers, body.
function Gateway:post(xml)
  return self:raw(M.post_request(xml))
end

--- Builds a methodcall document from a method name and a parameter XML fragment.
function M.methodcall(name, params_xml)
  return string.format('<?xml version="1.0"?>\n<methodcall>\n  <name>%s</name>\n  <params>%s</params>\n</methodcall>',
    name, params_xml or "")
end

--- Calls a method; returns the reply body.
function Gateway:call(name, params_xml)
  local status, _, body = self:post(M.methodcall(name, params_xml))
  assert(status == 200, "HTTP status " .. tostring(status))
  return body
end

M.BIN_PATH = "/api/v2/bin" -- the bin interface's endpoint

--- Calls a method on the bin interface's endpoint; returns the reply body.
function Gateway:bin_call(name, params_xml)
  local status, _, body = self:raw(M.post_request(M.methodcall(name, params_xml), nil, M.BIN_PATH))
  assert(status == 200, "HTTP status " .. tostring(status))
  return body
end

--- cancel_task of one task id; returns the reply body.
function Gateway:cancel(task_id)
  return self:call("cancel_task", "<task_id>" .. task_id .. "</task_id>")
end

--- The reply fake_upstream.py gives a call naming task_id (passed back byte for byte by a bridge).
function M.upstream_echo(task_id)
  return string.format('<?xml version="1.0"?>\n<response>\n  <params>\n    <task_id>%s</task_id>\n  </params>\n</response>\n',
    task_id)
end

M.V1_PATH = "/ASInterfaceHttp/AutoStoreHttpInterface.aspx" -- where v1 clients POST
M.OK = '<?xml version="1.0"?>\n<response>\n  <params/>\n</response>\n'

--- The exact reply document of a fault.
function M.fault(code)
  return string.format('<?xml version="1.0"?>\n<response>\n  <fault>\n    <code>%d</code>\n  </fault>\n</response>\n', code)
end

--- XML for a create_taskgroup call's parameters. tasks: array of {task_id, bin_id}.
function M.taskgroup_params(id, tasks, extra)
  local parts = { string.format(
    "<taskgroup_id>%d</taskgroup_id><category>1</category><req_time>2024-05-01T08:00:00Z</req_time><priority>1</priority>%s<tasks>",
    id, extra or "") }
  for _, t in ipairs(tasks) do
    parts[#parts + 1] = string.format("<task><task_id>%d</task_id><bin_id>%d</bin_id></task>", t[1], t[2])
  end
  parts[#parts + 1] = "</tasks>"
  return table.concat(parts)
end

return M
