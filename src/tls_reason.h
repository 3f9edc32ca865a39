/* tls_reason.h: why an outbound TLS connection failed, in words an operator can act on. The
 * same words go to the log, /status (an upstream's last error) and, made a name, to the reason
 * of the call's fault 1922 (taskgate.upstream). */
#ifndef TG_TLS_REASON_H
#define TG_TLS_REASON_H

#include <stddef.h>

/* What the server said during a connection's TLS handshake and after it, as OpenSSL read it. */
typedef struct tg_tls_seen_s {
  int certificate_requested; /* it asked for a client certificate */
  int alert;                 /* the description of the last alert it sent, or -1 */
} tg_tls_seen_t;

/* Starts a connection's record (called before each connection). */
void tg_tls_seen_reset(tg_tls_seen_t *seen);
/* Has OpenSSL note in seen what the server of every connection made with ssl_ctx (an SSL_CTX)
 * says; seen must outlive them. */
void tg_tls_watch(void *ssl_ctx, tg_tls_seen_t *seen);

/* The server's certificate did not verify: verify_result is OpenSSL's verification result for it
 * (libcurl checks the host name after it), errors libcurl's error text. Returns "TLS: server
 * certificate expired", "... names another host", "... from an unknown CA", ... (static). */
const char *tg_tls_untrusted_server(long verify_result, const char *errors);

/* Returns 1, with the reason in out, when the server refused our client certificate: it sent an
 * alert about it (none given, unknown CA, expired, ...), or it asked for one and reset the
 * connection before the request could be written (write_failed: TLS 1.3 lets the client finish
 * its handshake first; the alert is then lost with the reset). Either way the server ended the
 * connection before reading any request on it. cert_given: a client certificate is configured
 * (--upstream-cert). Returns 0 otherwise. */
int tg_tls_refused_client(const tg_tls_seen_t *seen, int write_failed, int cert_given, char *out, size_t cap);

#endif
