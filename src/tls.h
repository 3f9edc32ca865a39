/* tls.h: HTTPS on a listener (OpenSSL over memory buffers): the connection's bytes go through
 * here between the socket and the HTTP parser; the certificate of each TLS listener can be
 * reloaded while connections run. */
#ifndef TG_TLS_H
#define TG_TLS_H

#include <stddef.h>
#include <sys/types.h>

#include "buf.h"
#include "tls_certificate.h"

/* A listener's certificate and key, shared by every worker's listener on that address. */
typedef struct tg_tls_context_s tg_tls_context_t;
/* One connection's TLS session. */
typedef struct tg_tls_s tg_tls_t;

/* Loads cert_file (PEM, the chain) and key_file (PEM; NULL: the key is in cert_file). Returns
 * the context, or NULL with the reason in err. */
tg_tls_context_t *tg_tls_context_new(const char *cert_file, const char *key_file, char *err, size_t errcap);
/* Loads the files again; new connections get the new certificate, running ones keep theirs.
 * Returns 0, or -1 with the reason in err (the old certificate then stays). Thread-safe. */
int tg_tls_context_reload(tg_tls_context_t *context, char *err, size_t errcap);
/* The certificate new connections get now (the last one that loaded). Thread-safe. */
void tg_tls_context_certificate(tg_tls_context_t *context, tg_tls_certificate_t *out);
void tg_tls_context_free(tg_tls_context_t *context);

/* A session for an accepted connection, on the context's current certificate; NULL when out of
 * memory. */
tg_tls_t *tg_tls_accept(tg_tls_context_t *context);
void tg_tls_free(tg_tls_t *tls);

enum { TG_TLS_MORE = 0, TG_TLS_CLOSED = -1, TG_TLS_FAILED = -2 };
/* Takes bytes read from the socket. Returns 0, or TG_TLS_FAILED when out of memory. */
int tg_tls_feed(tg_tls_t *tls, const char *data, size_t len);
/* Decrypts what has been fed into plain (up to cap bytes), and appends to wire what must go to
 * the socket (the handshake's messages, alerts). Returns the number of plain bytes, or
 * TG_TLS_MORE (0: needs more input), TG_TLS_CLOSED (the client's close_notify) or
 * TG_TLS_FAILED (a failed handshake, a bad record: close the connection once wire is sent). */
ssize_t tg_tls_read(tg_tls_t *tls, char *plain, size_t cap, tg_buf_t *wire);
/* Encrypts plain bytes, appending the records to wire. Returns 0 or TG_TLS_FAILED. */
int tg_tls_write(tg_tls_t *tls, const char *plain, size_t len, tg_buf_t *wire);
/* Appends the close_notify alert to wire (before our side closes). */
void tg_tls_close(tg_tls_t *tls, tg_buf_t *wire);

#endif
