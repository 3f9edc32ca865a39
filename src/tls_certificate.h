/* tls_certificate.h: what an operator needs to know of a certificate we present (a listener's,
 * the upstream client certificate): who it names, who signed it, and when it expires, for
 * /status and for the expiry gauge alerts are written on. */
#ifndef TG_TLS_CERTIFICATE_H
#define TG_TLS_CERTIFICATE_H

#include <time.h>

#include "buf.h"

typedef struct tg_tls_certificate_s {
  int known;               /* 0: nothing loaded (the fields are empty) */
  char subject[256], issuer[256]; /* RFC 2253 form, cut to fit */
  char serial[84];         /* hexadecimal */
  char sha256[96];         /* the DER's SHA-256 fingerprint, AA:BB:... */
  time_t not_before, not_after; /* Unix time */
} tg_tls_certificate_t;

/* Fills out from an X509 (the leaf); out->known is 0 when x509 is NULL or its times unreadable. */
void tg_tls_certificate_describe(const void *x509, tg_tls_certificate_t *out);
/* Reads the first certificate of a PEM file into out. Returns 0, or -1 (out->known is then 0). */
int tg_tls_certificate_read_file(const char *path, tg_tls_certificate_t *out);
/* Appends {"subject":...,"not_after":"2026-...Z","expires_in_seconds":N,...} (null when unknown). */
void tg_tls_certificate_json(const tg_tls_certificate_t *cert, double now, tg_buf_t *body);

#endif
