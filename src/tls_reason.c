/* tls_reason.c: the reasons of failed outbound TLS connections (see tls_reason.h). */
#include "tls_reason.h"

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <stdio.h>
#include <string.h>

void tg_tls_seen_reset(tg_tls_seen_t *seen) { *seen = (tg_tls_seen_t){.certificate_requested = 0, .alert = -1}; }

static void on_message(int write_p, int version, int content_type, const void *buf, size_t len, SSL *ssl, void *arg) {
  (void)version, (void)ssl;
  tg_tls_seen_t *seen = arg;
  const unsigned char *bytes = buf;
  if (write_p || len < 2)
    return;
  if (content_type == SSL3_RT_HANDSHAKE && bytes[0] == SSL3_MT_CERTIFICATE_REQUEST)
    seen->certificate_requested = 1;
  else if (content_type == SSL3_RT_ALERT)
    seen->alert = bytes[1];
}

void tg_tls_watch(void *ssl_ctx, tg_tls_seen_t *seen) {
  SSL_CTX_set_msg_callback(ssl_ctx, on_message);
  SSL_CTX_set_msg_callback_arg(ssl_ctx, seen);
}

const char *tg_tls_untrusted_server(long verify_result, const char *errors) {
  /* libcurl checks the name itself once the chain verified, and says so in its own words */
  if (strstr(errors, "target host name"))
    return "TLS: server certificate names another host";
  switch (verify_result) {
  case X509_V_ERR_CERT_HAS_EXPIRED: return "TLS: server certificate expired";
  case X509_V_ERR_CERT_NOT_YET_VALID: return "TLS: server certificate not yet valid";
  case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
  case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN: return "TLS: server certificate self-signed (add its CA: --upstream-ca)";
  case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
  case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
  case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE: return "TLS: server certificate from an unknown CA (--upstream-ca)";
  case X509_V_ERR_CERT_REVOKED: return "TLS: server certificate revoked";
  case X509_V_ERR_INVALID_PURPOSE: return "TLS: server certificate not for a server";
  default: return "TLS: server certificate not trusted";
  }
}

/* The alerts a server sends about a client's certificate (RFC 8446 6.2), by description. */
static const char *certificate_alert(int alert) {
  switch (alert) {
  case SSL3_AD_BAD_CERTIFICATE: return "bad certificate";
  case SSL3_AD_UNSUPPORTED_CERTIFICATE: return "unsupported certificate";
  case SSL3_AD_CERTIFICATE_REVOKED: return "certificate revoked";
  case SSL3_AD_CERTIFICATE_EXPIRED: return "certificate expired";
  case SSL3_AD_CERTIFICATE_UNKNOWN: return "certificate unknown";
  case TLS1_AD_UNKNOWN_CA: return "unknown ca";
  case TLS1_AD_ACCESS_DENIED: return "access denied";
  case TLS13_AD_CERTIFICATE_REQUIRED: return "certificate required";
  default: return NULL;
  }
}

int tg_tls_refused_client(const tg_tls_seen_t *seen, int write_failed, int cert_given, char *out, size_t cap) {
  const char *alert = certificate_alert(seen->alert);
  if (!alert && !(seen->certificate_requested && write_failed))
    return 0;
  if (!cert_given)
    snprintf(out, cap, "TLS: no client certificate (the upstream asks for one: --upstream-cert)");
  else if (alert)
    snprintf(out, cap, "TLS: client certificate refused (alert: %s)", alert);
  else
    snprintf(out, cap, "TLS: client certificate refused (connection reset after the handshake)");
  return 1;
}
