-- HTTPS with a throwaway CA made in the spec (spec/helpers/tls.lua): the upstream and rules'
-- requests over HTTPS with the certificate verified; HTTPS on the listeners.
local gateway = require "helpers.gateway"
local socket = require "socket"
local tls = require "helpers.tls"

local F = gateway.fault
local echo = gateway.upstream_echo

describe("an HTTPS upstream", function()
  local ca, server
  setup(function()
    ca = tls.ca()
    server = tls.issue(ca, "127.0.0.1")
  end)

  it("is reached with its certificate verified against --upstream-ca", function()
    local fake = gateway.fake_upstream("ok", { tls = server })
    local gw = gateway.start({ args = "--upstream " .. fake.url .. " --upstream-ca " .. ca.cert })
    assert.equal(echo(101), gw:cancel(101))
    assert.equal(echo(102), gw:cancel(102))
    gw:stop()
    fake:stop()
  end)

  it("is refused, with nothing sent, when its certificate is not one the gateway trusts", function()
    local fake = gateway.fake_upstream("ok", { tls = server })
    local gw = gateway.start({ args = "--upstream " .. fake.url }) -- the system's CAs only
    assert.equal(F(1922), gw:cancel(101))
    assert.equal(0, #fake:requests())
    assert.matches('msg="upstream unavailable"', gw:log(), 1, true)
    assert.matches('reason="TLS: server certificate from an unknown CA (--upstream-ca)"', gw:log(), 1, true)
    gw:stop()
    fake:stop()
  end)

  it("is refused when its certificate names another host", function()
    local other = tls.issue(ca, "other.example")
    local fake = gateway.fake_upstream("ok", { tls = other })
    local gw = gateway.start({ args = "--upstream " .. fake.url .. " --upstream-ca " .. ca.cert })
    assert.equal(F(1922), gw:cancel(101))
    assert.equal(0, #fake:requests())
    assert.matches('reason="TLS: server certificate names another host"', gw:log(), 1, true)
    gw:stop()
    fake:stop()
  end)

  it("gets the client certificate when it asks for one", function()
    local client = tls.issue(ca, "taskgate-client", "clientAuth")
    local fake = gateway.fake_upstream("ok", { tls = server, client_ca = ca.cert })
    local without = gateway.start({ args = "--upstream " .. fake.url .. " --upstream-ca " .. ca.cert })
    assert.equal(F(1922), without:cancel(101))
    without:stop()
    assert.equal(0, #fake:requests())
    local with = gateway.start({ args = string.format("--upstream %s --upstream-ca %s --upstream-cert %s --upstream-key %s",
      fake.url, ca.cert, client.cert, client.key) })
    assert.equal(echo(102), with:cancel(102))
    with:stop()
    fake:stop()
  end)

  it("is reached by a rule's http.request to an https:// URL", function()
    local fake = gateway.fake_upstream("ok", { tls = server })
    local notify = [[
return function(call)
  local answer, why = http.request{ url = call.params.url, body = "<task_id>7</task_id>" }
  if not answer then return { error = why } end
  return { status = answer.status, got = answer.body:match("<task_id>(%d+)</task_id>") }
end
]]
    local gw = gateway.start({ rules = gateway.rules_dir({ notify = notify }), args = "--upstream-ca " .. ca.cert })
    local reply = gw:call("notify", "<url>" .. fake.url .. "</url>")
    assert.matches("<got>7</got>", reply)
    assert.matches("<status>200</status>", reply)
    gw:stop()
    fake:stop()
  end)

  it("refuses to start with a CA file it cannot read", function()
    local out, code = gateway.run(gateway.binary .. " --upstream https://127.0.0.1:1/api/v2/task --upstream-ca /nonexistent/ca.pem")
    assert.equal(2, code)
    assert.matches("invalid value '/nonexistent/ca.pem' for --upstream-ca", out, 1, true)
  end)
end)

describe("a TLS listener", function()
  local ca, server
  setup(function()
    ca = tls.ca()
    server = tls.issue(ca, "127.0.0.1")
  end)

  local function tls_args(cert)
    cert = cert or server
    return string.format("--tls-cert %s --tls-key %s", cert.cert, cert.key)
  end

  local cancel_body = gateway.methodcall("cancel_task", "<task_id>5</task_id>")

  it("serves the task interface over HTTPS on the --listen the certificate follows", function()
    local gw = gateway.start({ args = tls_args() }) -- after the helper's --listen 127.0.0.1:0
    local result = tls.post(gw.port, ca, cancel_body, { count = 3 })
    assert.is_nil(result.error)
    assert.equal(3, #result.replies)
    for _, reply in ipairs(result.replies) do
      assert.equal(200, reply.status)
      assert.equal(F(1017), reply.body)
    end
    assert.equal("http/1.1", result.alpn) -- the client offered h2 first
    gw:stop()
  end)

  it("answers pipelined requests in order and large replies whole", function()
    local gw = gateway.start({ args = tls_args() })
    local groups = {}
    for i = 1, 300 do groups[i] = { 1000 + i, 1 } end
    assert.is_nil(tls.post(gw.port, ca, gateway.methodcall("create_taskgroup", gateway.taskgroup_params(1, groups))).error)
    local result = tls.post(gw.port, ca, gateway.methodcall("gettaskinfo", ""), { count = 2 })
    assert.equal(200, result.replies[2].status)
    assert.matches("<task_id>1300</task_id>", result.replies[2].body)
    assert.is_true(#result.replies[2].body > 20000)
    gw:stop()
  end)

  it("serves plain HTTP on another --listen beside it", function()
    local gw = gateway.start({ args = tls_args() .. " --listen 127.0.0.1:0" })
    local ports = {}
    for port in gateway.read_file(gw.out):match("listening on ([^\n]+)"):gmatch(":(%d+)") do ports[#ports + 1] = tonumber(port) end
    assert.equal(2, #ports)
    assert.equal(F(1017), tls.post(ports[1], ca, cancel_body).replies[1].body)
    local status, body = gateway.get(ports[2], "/healthz")
    assert.equal(200, status)
    assert.equal("ok\n", body)
    gw:stop()
  end)

  it("closes a connection that speaks plain HTTP to it, and keeps serving", function()
    local gw = gateway.start({ args = tls_args() })
    local conn = gw:connect()
    conn:send(gateway.post_request(cancel_body))
    local data = conn:receive("*a") -- a TLS alert at most, then the close
    assert.is_nil((data or ""):find("HTTP/1.1", 1, true))
    conn:close()
    assert.equal(F(1017), tls.post(gw.port, ca, cancel_body).replies[1].body)
    gw:stop()
  end)

  it("is refused by a client that does not trust its certificate", function()
    local gw = gateway.start({ args = tls_args() })
    local other_ca = tls.ca("another CA")
    assert.matches("CERTIFICATE_VERIFY_FAILED", tls.post(gw.port, other_ca, cancel_body).error)
    gw:stop()
  end)

  it("takes a renewed certificate on SIGHUP, and keeps the old one when the new one does not load", function()
    local dir = gateway.tmpdir()
    local live = { cert = dir .. "/live.crt", key = dir .. "/live.key" }
    gateway.write_file(live.cert, gateway.read_file(server.cert))
    gateway.write_file(live.key, gateway.read_file(server.key))
    local gw = gateway.start({ args = tls_args(live) })
    local before = tls.post(gw.port, ca, cancel_body).cert_sha256
    local renewed = tls.issue(ca, "127.0.0.1")
    gateway.write_file(live.cert, gateway.read_file(renewed.cert))
    gateway.write_file(live.key, gateway.read_file(renewed.key))
    os.execute("kill -HUP " .. gw.pid)
    local after
    for _ = 1, 200 do
      after = tls.post(gw.port, ca, cancel_body).cert_sha256
      if after ~= before then break end
      socket.sleep(0.02)
    end
    assert.are_not.equal(before, after)
    assert.matches("event=tls_reloaded", gw:log(), 1, true)
    gateway.write_file(live.cert, "not a certificate\n")
    os.execute("kill -HUP " .. gw.pid)
    for _ = 1, 200 do
      if gw:log():find("tls_reload_failed", 1, true) then break end
      socket.sleep(0.02)
    end
    assert.matches("event=tls_reload_failed", gw:log(), 1, true)
    assert.equal(after, tls.post(gw.port, ca, cancel_body).cert_sha256) -- the renewed one still serves
    gw:stop()
  end)

  it("tells a certificate reload that failed in the reload's outcome, /status and /metrics", function()
    local dkjson = require "dkjson"
    local dir = gateway.tmpdir()
    local live = { cert = dir .. "/live.crt", key = dir .. "/live.key" }
    gateway.write_file(live.cert, gateway.read_file(server.cert))
    gateway.write_file(live.key, gateway.read_file(server.key))
    local gw = gateway.start({ args = tls_args(live) })
    local function tls_state()
      local _, body = gw:admin("/status")
      return dkjson.decode(body).tls_reload
    end
    assert.equal(0, tls_state().failures) -- no reload yet: ok is null
    assert.is_nil(tls_state().ok)
    gateway.write_file(live.cert, "not a certificate\n")
    local out, code = gw:command("reload")
    assert.are_not.equal(0, code)
    assert.matches("a TLS certificate did not load (the old one keeps serving)", out, 1, true)
    local state = tls_state()
    assert.is_false(state.ok)
    assert.equal(1, state.failures)
    assert.is_truthy(state.error)
    local _, metrics = gw:admin("/metrics")
    assert.equal(0, gateway.metric(metrics, "taskgate_tls_reload_last_success"))
    assert.equal(1, gateway.metric(metrics, "taskgate_tls_reload_failures_total"))
    gateway.write_file(live.cert, gateway.read_file(server.cert))
    out, code = gw:command("reload")
    assert.equal(0, code, out)
    assert.is_true(tls_state().ok)
    _, metrics = gw:admin("/metrics")
    assert.equal(1, gateway.metric(metrics, "taskgate_tls_reload_last_success"))
    gw:stop()
  end)

  -- What the openssl command line reads from a certificate file, as /status shows it.
  local function openssl_facts(file)
    local function field(option, pattern)
      local out, code = gateway.run(string.format("openssl x509 -in %s -noout -nameopt RFC2253 %s", file, option))
      assert(code == 0, out)
      return assert(out:match(pattern), out)
    end
    local not_after = field("-enddate", "notAfter=([^\n]+)")
    local unix = gateway.run(string.format("date -u -d '%s' +%%s", not_after))
    return { subject = field("-subject", "subject=([^\n]+)"), issuer = field("-issuer", "issuer=([^\n]+)"),
      serial = field("-serial", "serial=(%x+)"), sha256 = field("-fingerprint -sha256", "Fingerprint=([%x:]+)"),
      not_after_unix = assert(tonumber(unix:match("%d+")), unix),
      not_before = gateway.run(string.format("date -u -d '%s' +%%Y-%%m-%%dT%%H:%%M:%%SZ",
        field("-startdate", "notBefore=([^\n]+)"))):match("[^\n]+") }
  end

  local function assert_shows(facts, shown)
    assert.equal(facts.subject, shown.subject)
    assert.equal(facts.issuer, shown.issuer)
    assert.equal(facts.serial:upper():gsub("^0+", ""), shown.serial:gsub("^0+", ""))
    assert.equal(facts.sha256, shown.sha256)
    assert.equal(facts.not_before, shown.not_before)
    assert.equal(facts.not_after_unix, shown.not_after_unix)
    assert.equal(os.date("!%Y-%m-%dT%H:%M:%SZ", facts.not_after_unix), shown.not_after)
    local left = facts.not_after_unix - os.time()
    assert.is_true(math.abs(shown.expires_in_seconds - left) <= 5, tostring(shown.expires_in_seconds))
  end

  it("shows each listener's certificate and its expiry in /status and /metrics, renewed on SIGHUP", function()
    local dkjson = require "dkjson"
    local dir = gateway.tmpdir()
    local live = { cert = dir .. "/live.crt", key = dir .. "/live.key" }
    gateway.write_file(live.cert, gateway.read_file(server.cert))
    gateway.write_file(live.key, gateway.read_file(server.key))
    local gw = gateway.start({ args = tls_args(live) .. " --listen 127.0.0.1:0" })
    local function shown()
      local _, body = gw:admin("/status")
      local status = dkjson.decode(body)
      local _, metrics = gw:admin("/metrics")
      return status.tls_certificates, metrics, status
    end
    local certs, metrics, status = shown()
    assert.equal(1, #certs) -- the plain HTTP listener has none
    assert.equal(status.listeners[1], certs[1].listen)
    assert_shows(openssl_facts(server.cert), certs[1].certificate)
    assert.is_true(certs[1].certificate.expires_in_seconds > 86400) -- two days
    local series = 'taskgate_tls_certificate_expiry_timestamp_seconds{listen="' .. certs[1].listen .. '"}'
    assert.equal(openssl_facts(server.cert).not_after_unix, gateway.metric(metrics, series))
    assert.is_nil(status.upstream_client_certificate)

    local renewed = tls.issue(ca, "127.0.0.1", nil, 30)
    gateway.write_file(live.cert, gateway.read_file(renewed.cert))
    gateway.write_file(live.key, gateway.read_file(renewed.key))
    local out, code = gw:command("reload")
    assert.equal(0, code, out)
    certs, metrics = shown()
    local facts = openssl_facts(renewed.cert)
    assert_shows(facts, certs[1].certificate)
    assert.is_true(certs[1].certificate.expires_in_seconds > 29 * 86400)
    assert.equal(facts.not_after_unix, gateway.metric(metrics, series))
    assert.equal(facts.sha256:gsub(":", ""):lower(), tls.post(gw.port, ca, cancel_body).cert_sha256:lower())

    gateway.write_file(live.cert, "not a certificate\n") -- a failed reload: the renewed one still serves
    out, code = gw:command("reload")
    assert.are_not.equal(0, code)
    certs, metrics = shown()
    assert_shows(facts, certs[1].certificate)
    assert.equal(facts.not_after_unix, gateway.metric(metrics, series))
    gw:stop()
  end)

  it("shows an expired certificate it serves with a negative time left", function()
    local expired = tls.issue(ca, "127.0.0.1", nil, -1)
    local gw = gateway.start({ args = tls_args(expired) })
    local _, body = gw:admin("/status")
    local shown = require("dkjson").decode(body).tls_certificates[1].certificate
    assert_shows(openssl_facts(expired.cert), shown)
    assert.is_true(shown.expires_in_seconds < 0)
    local _, metrics = gw:admin("/metrics")
    local series = 'taskgate_tls_certificate_expiry_timestamp_seconds{listen="127.0.0.1:' .. gw.port .. '"}'
    assert.equal(openssl_facts(expired.cert).not_after_unix, gateway.metric(metrics, series))
    assert.is_true(gateway.metric(metrics, series) < os.time())
    gw:stop()
  end)

  it("shows the upstream client certificate's expiry, read again on SIGHUP", function()
    local dkjson = require "dkjson"
    local dir = gateway.tmpdir()
    local first = tls.issue(ca, "taskgate-client", "clientAuth")
    local live = { cert = dir .. "/client.crt", key = dir .. "/client.key" }
    gateway.write_file(live.cert, gateway.read_file(first.cert))
    gateway.write_file(live.key, gateway.read_file(first.key))
    local gw = gateway.start({ args = string.format(
      "--upstream https://127.0.0.1:%d --upstream-ca %s --upstream-cert %s --upstream-key %s",
      gateway.free_port(), ca.cert, live.cert, live.key) })
    local function shown()
      local _, body = gw:admin("/status")
      local _, metrics = gw:admin("/metrics")
      return dkjson.decode(body), metrics
    end
    local series = 'taskgate_tls_certificate_expiry_timestamp_seconds{certificate="upstream_client"}'
    local status, metrics = shown()
    assert.same({}, status.tls_certificates)
    assert_shows(openssl_facts(first.cert), status.upstream_client_certificate)
    assert.equal(openssl_facts(first.cert).not_after_unix, gateway.metric(metrics, series))
    local renewed = tls.issue(ca, "taskgate-client", "clientAuth", 30)
    gateway.write_file(live.cert, gateway.read_file(renewed.cert))
    gateway.write_file(live.key, gateway.read_file(renewed.key))
    local out, code = gw:command("reload")
    assert.equal(0, code, out)
    status, metrics = shown()
    assert_shows(openssl_facts(renewed.cert), status.upstream_client_certificate)
    assert.equal(openssl_facts(renewed.cert).not_after_unix, gateway.metric(metrics, series))
    gw:stop()
  end)

  it("serves HTTPS from every worker", function()
    local gw = gateway.start({ args = tls_args() .. " --workers 3" })
    for _ = 1, 6 do
      assert.equal(F(1017), tls.post(gw.port, ca, cancel_body).replies[1].body)
    end
    gw:stop()
  end)

  it("bridges HTTPS to HTTPS: a WMS to gateway A to gateway B, certificates verified both ways", function()
    local b = gateway.start({ args = tls_args() })
    local a = gateway.start({ args = string.format("%s --upstream https://127.0.0.1:%d/api/v2/task --upstream-ca %s",
      tls_args(), b.port, ca.cert) })
    local result = tls.post(a.port, ca, gateway.methodcall("create_taskgroup", gateway.taskgroup_params(9, { { 90, 1 } })))
    assert.equal(gateway.OK, result.replies[1].body)
    assert.matches("<task_id>90</task_id>", tls.post(b.port, ca, gateway.methodcall("gettaskinfo", "")).replies[1].body)
    a:stop()
    b:stop()
  end)

  it("takes its certificate from the config file, for the listen line before it", function()
    local pid, line = gateway.start_from_config(string.format(
      "listen = 127.0.0.1:0\nlisten = 127.0.0.1:0\ntls-cert = %s\ntls-key = %s\n", server.cert, server.key))
    local plain, secure = line:match(":(%d+) 127%.0%.0%.1:(%d+)$")
    local ok, err = pcall(function()
      assert.equal(200, (gateway.get(tonumber(plain), "/healthz"))) -- the first address: plain HTTP
      assert.equal(F(1017), tls.post(tonumber(secure), ca, cancel_body).replies[1].body)
    end)
    os.execute("kill " .. pid)
    assert(ok, err)
  end)

  it("refuses a second --tls-cert for one address", function()
    local out, code = gateway.run(string.format("%s --listen 127.0.0.1:0 --tls-cert %s --tls-cert %s", gateway.binary,
      server.cert, server.cert))
    assert.equal(2, code)
    assert.matches("--tls-cert belongs after the --listen it secures, once", out, 1, true)
  end)

  it("refuses --tls-cert with no --listen before it, and a certificate that does not load", function()
    local out, code = gateway.run(gateway.binary .. " --tls-cert " .. server.cert .. " --listen 127.0.0.1:0")
    assert.equal(2, code)
    assert.matches("--tls-cert belongs after the --listen it secures", out, 1, true)
    local bad = gateway.tmpdir() .. "/bad.pem"
    gateway.write_file(bad, "garbage\n")
    local dir = gateway.tmpdir()
    out, code = gateway.run(string.format("%s --listen 127.0.0.1:0 --tls-cert %s --store %s/s.db --admin-listen 127.0.0.1:0",
      gateway.binary, bad, dir))
    assert.equal(1, code)
    assert.matches("tls for 127.0.0.1:0: cannot load the certificate", out, 1, true)
  end)
end)
