-- An HTTPS upstream the gateway cannot trust, or that refuses the gateway's client certificate,
-- with a throwaway CA made in the spec (helpers.tls): each failure has its own words in the log,
-- in /status (the upstream's last error) and in the reason of the call's fault 1922; nothing is
-- sent, and the call goes to the next upstream.
local gateway = require "helpers.gateway"
local tls = require "helpers.tls"

local F = gateway.fault
local echo = gateway.upstream_echo

-- Calls cancel_task on a gateway in front of fake alone (with the options args) and checks what
-- each place says: the call answered 1922 with nothing sent, the warning's reason (reason, or
-- its start when it ends in "("), /status's last error, and the reason of the fault in the
-- call's log line.
local function refused(fake, args, reason, fault_reason)
  local gw = gateway.start({ args = "--upstream " .. fake.url .. " --upstream-probe-interval 60 " .. args })
  assert.equal(F(1922), gw:cancel(101))
  assert.equal(0, #fake:requests(true)) -- not a request read, not even the probe
  local log = gw:log()
  assert.matches('msg="upstream unavailable"', log, 1, true)
  assert.matches('reason="' .. reason .. (reason:sub(-1) == "(" and "" or '"'), log, 1, true)
  assert.matches("outcome=1922 fault=UPSTREAM_UNAVAILABLE reason=" .. fault_reason .. " ", log, 1, true)
  assert.not_matches("connection failed", log, 1, true)
  local upstream = gw:status().upstreams[1]
  assert.equal("down", upstream.state)
  assert.equal(reason, reason:sub(-1) == "(" and upstream.last_error:sub(1, #reason) or upstream.last_error)
  gw:stop()
  return log
end

describe("an HTTPS upstream whose certificate does not verify", function()
  local ca, other_ca
  setup(function()
    ca = tls.ca()
    other_ca = tls.ca("another spec CA")
  end)

  it("says the certificate expired", function()
    local fake = gateway.fake_upstream("ok", { tls = tls.issue(ca, "127.0.0.1", nil, -1) })
    refused(fake, "--upstream-ca " .. ca.cert, "TLS: server certificate expired", "tls_server_certificate_expired")
    fake:stop()
  end)

  it("says the certificate names another host", function()
    local fake = gateway.fake_upstream("ok", { tls = tls.issue(ca, "other.example") })
    refused(fake, "--upstream-ca " .. ca.cert, "TLS: server certificate names another host",
      "tls_server_certificate_names_another_host")
    fake:stop()
  end)

  it("says the certificate comes from a CA it does not know, given another CA or the system's", function()
    local fake = gateway.fake_upstream("ok", { tls = tls.issue(ca, "127.0.0.1") })
    local reason = "TLS: server certificate from an unknown CA (--upstream-ca)"
    refused(fake, "--upstream-ca " .. other_ca.cert, reason, "tls_server_certificate_from_an_unknown_ca")
    refused(fake, "", reason, "tls_server_certificate_from_an_unknown_ca")
    fake:stop()
  end)

  it("says a self-signed certificate is self-signed", function()
    -- a CA's own certificate serves: self-signed, for the address (CN only: no name matches either)
    local self_signed = tls.ca("127.0.0.1")
    local fake = gateway.fake_upstream("ok", { tls = { cert = self_signed.cert, key = self_signed.key } })
    refused(fake, "--upstream-ca " .. ca.cert, "TLS: server certificate self-signed (add its CA: --upstream-ca)",
      "tls_server_certificate_self_signed")
    fake:stop()
  end)
end)

-- A server refusing the client certificate sends an alert and closes. Under TLS 1.3 the gateway
-- has finished its handshake by then, and the reset that follows can take the alert with it: the
-- reason then says "connection reset after the handshake" instead of the alert's name.
describe("an HTTPS upstream that asks for a client certificate", function()
  local ca, other_ca, server
  setup(function()
    ca = tls.ca()
    other_ca = tls.ca("another spec CA")
    server = tls.issue(ca, "127.0.0.1")
  end)

  it("says it refused the gateway's certificate, and that none was given", function()
    local fake = gateway.fake_upstream("ok", { tls = server, client_ca = ca.cert })
    local stranger = tls.issue(other_ca, "taskgate-client", "clientAuth")
    refused(fake, string.format("--upstream-ca %s --upstream-cert %s --upstream-key %s", ca.cert, stranger.cert,
      stranger.key), "TLS: client certificate refused (", "tls_client_certificate_refused")
    refused(fake, "--upstream-ca " .. ca.cert, "TLS: no client certificate (the upstream asks for one: --upstream-cert)",
      "tls_no_client_certificate")
    fake:stop()
  end)

  it("says it refused an expired client certificate", function()
    local fake = gateway.fake_upstream("ok", { tls = server, client_ca = ca.cert })
    local expired = tls.issue(ca, "taskgate-client", "clientAuth", -1)
    refused(fake, string.format("--upstream-ca %s --upstream-cert %s --upstream-key %s", ca.cert, expired.cert,
      expired.key), "TLS: client certificate refused (", "tls_client_certificate_refused")
    fake:stop()
  end)

  it("loses the call to the next upstream, which answers it, when it refuses the certificate", function()
    local primary = gateway.fake_upstream("ok", { tls = server, client_ca = ca.cert })
    -- probed down but answering calls: both are down, so the call tries the primary first
    local secondary = gateway.fake_upstream("head_503")
    local stranger = tls.issue(other_ca, "taskgate-client", "clientAuth")
    local gw = gateway.start({ args = string.format(
      "--upstream %s,%s --upstream-probe-interval 60 --upstream-ca %s --upstream-cert %s --upstream-key %s",
      primary.url, secondary.url, ca.cert, stranger.cert, stranger.key) })
    gw:wait_for_upstream(1, "down")
    gw:wait_for_upstream(2, "down")
    assert.equal(echo(101), gw:cancel(101))
    assert.equal(1, secondary:count(101))
    assert.equal(0, #primary:requests(true))
    assert.matches('event=upstream_failover from=' .. primary.url .. ' to=' .. secondary.url ..
      ' reason="TLS: client certificate refused (', gw:log(), 1, true)
    local upstreams = gw:status().upstreams
    assert.equal("down", upstreams[1].state)
    assert.equal("up", upstreams[2].state) -- its call answered
    assert.equal(echo(102), gw:cancel(102)) -- the next call goes to the secondary at once
    assert.equal(1, secondary:count(102))
    gw:stop(); primary:stop(); secondary:stop()
  end)

  it("loses the call to the next upstream when the primary's certificate has expired", function()
    local primary = gateway.fake_upstream("ok", { tls = tls.issue(ca, "127.0.0.1", nil, -1) })
    local secondary = gateway.fake_upstream("ok", { tls = server })
    local gw = gateway.start({ args = string.format("--upstream %s,%s --upstream-probe-interval 60 --upstream-ca %s",
      primary.url, secondary.url, ca.cert) })
    assert.equal(echo(101), gw:cancel(101))
    assert.equal(1, secondary:count(101))
    assert.matches('reason="TLS: server certificate expired"', gw:log(), 1, true)
    gw:stop(); primary:stop(); secondary:stop()
  end)
end)

describe("a client certificate the gateway cannot use", function()
  local ca, server, client
  setup(function()
    ca = tls.ca()
    server = tls.issue(ca, "127.0.0.1")
    client = tls.issue(ca, "taskgate-client", "clientAuth")
  end)

  it("is named as such, whether the file is not a certificate or the key is not its key", function()
    local fake = gateway.fake_upstream("ok", { tls = server, client_ca = ca.cert })
    local garbage = gateway.tmpdir() .. "/garbage.pem"
    gateway.write_file(garbage, "not a certificate\n")
    local reason = "TLS: cannot use the client certificate"
    refused(fake, string.format("--upstream-ca %s --upstream-cert %s --upstream-key %s", ca.cert, garbage, client.key),
      reason, "tls_cannot_use_the_client_certificate")
    refused(fake, string.format("--upstream-ca %s --upstream-cert %s --upstream-key %s", ca.cert, client.cert, server.key),
      reason, "tls_cannot_use_the_client_certificate")
    fake:stop()
  end)
end)
