/* tls.c: a listener's TLS (see tls.h). Each connection's SSL object reads from and writes to
 * memory BIOs: the connection moves the bytes with libuv as it does for plain HTTP, and OpenSSL
 * never touches a socket. */
#include "tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tls_certificate.h"

struct tg_tls_context_s {
  pthread_mutex_t lock; /* guards ctx: a reload swaps it while workers accept */
  SSL_CTX *ctx;         /* each connection's SSL holds a reference of its own */
  tg_tls_certificate_t served; /* ctx's certificate, for /status and /metrics (under lock) */
  char *cert_file, *key_file;
};

struct tg_tls_s {
  SSL *ssl;
  BIO *in, *out; /* ciphertext from the socket, ciphertext for the socket */
};

/* The first error OpenSSL queued, as text; the queue is emptied. */
static void take_error(const char *what, const char *file, char *err, size_t errcap) {
  char reason[256];
  ERR_error_string_n(ERR_get_error(), reason, sizeof reason);
  ERR_clear_error();
  snprintf(err, errcap, "%s %s: %s", what, file, reason);
}

/* Offers only http/1.1 in ALPN: a client that asks for h2 alone gets no protocol and HTTP/1.1. */
static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg) {
  static const unsigned char http11[] = "\x08http/1.1";
  unsigned char *selected;
  if (SSL_select_next_proto(&selected, outlen, http11, sizeof http11 - 1, in, inlen) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *load(const char *cert_file, const char *key_file, char *err, size_t errcap) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) {
    take_error("cannot make a TLS context for", cert_file, err, errcap);
    return NULL;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  /* No renegotiation (a client could make us redo handshakes at will); buffers go back to the
   * allocator while a connection is idle. */
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);
  const char *key = key_file ? key_file : cert_file;
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
    take_error("cannot load the certificate", cert_file, err, errcap);
  } else if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
    take_error("cannot load the key", key, err, errcap);
  } else if (SSL_CTX_check_private_key(ctx) != 1) {
    take_error("the key does not match the certificate", cert_file, err, errcap);
  } else {
    return ctx;
  }
  SSL_CTX_free(ctx);
  return NULL;
}

tg_tls_context_t *tg_tls_context_new(const char *cert_file, const char *key_file, char *err, size_t errcap) {
  SSL_CTX *ctx = load(cert_file, key_file, err, errcap);
  if (!ctx)
    return NULL;
  tg_tls_context_t *context = calloc(1, sizeof *context);
  if (!context || !(context->cert_file = strdup(cert_file)) || (key_file && !(context->key_file = strdup(key_file)))) {
    SSL_CTX_free(ctx);
    if (context)
      free(context->cert_file);
    free(context);
    snprintf(err, errcap, "out of memory");
    return NULL;
  }
  pthread_mutex_init(&context->lock, NULL);
  context->ctx = ctx;
  tg_tls_certificate_describe(SSL_CTX_get0_certificate(ctx), &context->served);
  return context;
}

int tg_tls_context_reload(tg_tls_context_t *context, char *err, size_t errcap) {
  SSL_CTX *fresh = load(context->cert_file, context->key_file, err, errcap);
  if (!fresh)
    return -1;
  tg_tls_certificate_t served;
  tg_tls_certificate_describe(SSL_CTX_get0_certificate(fresh), &served);
  pthread_mutex_lock(&context->lock);
  SSL_CTX *old = context->ctx;
  context->ctx = fresh;
  context->served = served;
  pthread_mutex_unlock(&context->lock);
  SSL_CTX_free(old); /* connections on it hold references of their own */
  return 0;
}

void tg_tls_context_certificate(tg_tls_context_t *context, tg_tls_certificate_t *out) {
  pthread_mutex_lock(&context->lock);
  *out = context->served;
  pthread_mutex_unlock(&context->lock);
}

void tg_tls_context_free(tg_tls_context_t *context) {
  if (!context)
    return;
  SSL_CTX_free(context->ctx);
  pthread_mutex_destroy(&context->lock);
  free(context->cert_file);
  free(context->key_file);
  free(context);
}

tg_tls_t *tg_tls_accept(tg_tls_context_t *context) {
  tg_tls_t *tls = calloc(1, sizeof *tls);
  if (!tls)
    return NULL;
  pthread_mutex_lock(&context->lock);
  tls->ssl = SSL_new(context->ctx);
  pthread_mutex_unlock(&context->lock);
  tls->in = BIO_new(BIO_s_mem());
  tls->out = BIO_new(BIO_s_mem());
  if (!tls->ssl || !tls->in || !tls->out) {
    SSL_free(tls->ssl);
    BIO_free(tls->in);
    BIO_free(tls->out);
    free(tls);
    return NULL;
  }
  BIO_set_mem_eof_return(tls->in, -1); /* an empty input BIO means "more to come", not EOF */
  SSL_set_bio(tls->ssl, tls->in, tls->out); /* the SSL owns both from here */
  SSL_set_accept_state(tls->ssl);
  return tls;
}

void tg_tls_free(tg_tls_t *tls) {
  if (!tls)
    return;
  SSL_free(tls->ssl);
  free(tls);
}

int tg_tls_feed(tg_tls_t *tls, const char *data, size_t len) {
  return BIO_write(tls->in, data, (int)len) == (int)len ? 0 : TG_TLS_FAILED;
}

/* Moves what OpenSSL wrote for the socket into wire. */
static int drain(tg_tls_t *tls, tg_buf_t *wire) {
  char *bytes;
  long pending = BIO_get_mem_data(tls->out, &bytes);
  if (pending <= 0)
    return 0;
  int rc = tg_buf_append(wire, bytes, (size_t)pending);
  (void)BIO_reset(tls->out);
  return rc < 0 ? TG_TLS_FAILED : 0;
}

ssize_t tg_tls_read(tg_tls_t *tls, char *plain, size_t cap, tg_buf_t *wire) {
  int n = SSL_read(tls->ssl, plain, (int)cap);
  int error = n > 0 ? SSL_ERROR_NONE : SSL_get_error(tls->ssl, n);
  ERR_clear_error(); /* a failed handshake leaves its reasons queued on this thread */
  if (drain(tls, wire) < 0)
    return TG_TLS_FAILED;
  if (n > 0)
    return n;
  if (error == SSL_ERROR_WANT_READ)
    return TG_TLS_MORE;
  return error == SSL_ERROR_ZERO_RETURN ? TG_TLS_CLOSED : TG_TLS_FAILED;
}

int tg_tls_write(tg_tls_t *tls, const char *plain, size_t len, tg_buf_t *wire) {
  /* Memory BIOs take everything at once: one SSL_write writes all of it, or fails. */
  int ok = len == 0 || SSL_write(tls->ssl, plain, (int)len) == (int)len;
  ERR_clear_error();
  return drain(tls, wire) < 0 || !ok ? TG_TLS_FAILED : 0;
}

void tg_tls_close(tg_tls_t *tls, tg_buf_t *wire) {
  if (SSL_is_init_finished(tls->ssl))
    SSL_shutdown(tls->ssl);
  ERR_clear_error();
  drain(tls, wire);
}
