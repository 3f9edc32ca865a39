-- A throwaway certificate authority for the TLS specs, made with the openssl command line: a CA,
-- and certificates it signs for servers and clients. Nothing outside the spec trusts it.
local gateway = require "helpers.gateway"

local M = {}

local function run(cmd)
  local out, code = gateway.run(cmd)
  assert(code == 0, cmd .. ": " .. out)
end

local KEY = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"

--- Makes a CA in a new directory; returns {dir, cert, key}.
function M.ca(name)
  local dir = gateway.tmpdir()
  local ca = { dir = dir, cert = dir .. "/ca.crt", key = dir .. "/ca.key" }
  run(string.format("openssl req -x509 %s -keyout %s -out %s -days 2 -subj '/CN=%s'", KEY, ca.key, ca.cert,
    name or "taskgate spec CA"))
  return ca
end

--- Issues a certificate signed by ca for name (a host name or IP address, written into the
--- subjectAltName) or a client; returns {cert, key}. days: how long it is valid (default 2; -1
--- makes one that expired before it began).
function M.issue(ca, name, usage, days)
  local base = ca.dir .. "/" .. name:gsub("[^%w]", "_") .. (days and ("_" .. tostring(days):gsub("-", "m")) or "")
  local ext = base .. ".ext"
  local san = name:match("^[%d%.]+$") and ("IP:" .. name) or ("DNS:" .. name)
  gateway.write_file(ext, string.format("subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=%s\n", san,
    usage or "serverAuth"))
  run(string.format("openssl req %s -keyout %s.key -out %s.csr -subj '/CN=%s'", KEY, base, base, name))
  run(string.format("openssl x509 -req -in %s.csr -CA %s -CAkey %s -CAcreateserial -out %s.crt -days %s -extfile %s",
    base, ca.cert, ca.key, base, tostring(days or 2), ext))
  return { cert = base .. ".crt", key = base .. ".key" }
end

--- POSTs body to host:port over HTTPS, trusting ca.cert, count times on one connection (opts:
--- count, method, path, headers = {"Name: value"}). Returns {cert_sha256, alpn, replies =
--- {{status, body}...}} or {error}.
local function post_command(port, ca, body, opts)
  opts = opts or {}
  local input = gateway.tmpdir() .. "/body"
  gateway.write_file(input, body or "")
  local args = { gateway.python, os.getenv("TASKGATE_ROOT") .. "/spec/helpers/https_client.py", opts.host or "127.0.0.1",
    tostring(port), ca.cert, "--count", tostring(opts.count or 1), "--method", opts.method or "POST", "--path",
    opts.path or "/api/v2/task" }
  for _, header in ipairs(opts.headers or {}) do
    args[#args + 1] = "--header"
    args[#args + 1] = header
  end
  for i, arg in ipairs(args) do args[i] = "'" .. arg:gsub("'", "'\\''") .. "'" end
  return table.concat(args, " ") .. " <" .. input, input
end

function M.post(port, ca, body, opts)
  local command, input = post_command(port, ca, body, opts)
  local out = gateway.run(command)
  os.remove(input)
  return assert(require("dkjson").decode(out), out)
end

--- M.post started in the background; returns a function that waits (up to 20 s) for its result.
function M.post_later(port, ca, body, opts)
  local command, input = post_command(port, ca, body, opts)
  local out = input .. ".out"
  os.execute(string.format("(%s >%s.part; mv %s.part %s) &", command, out, out, out))
  return function()
    for _ = 1, 2000 do
      local text = gateway.read_file(out)
      if text then return assert(require("dkjson").decode(text), text) end
      require("socket").sleep(0.01)
    end
    error("the HTTPS client never finished")
  end
end

return M
