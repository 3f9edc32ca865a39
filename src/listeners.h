/* listeners.h: the addresses a gateway (or one of its workers) serves on, one tg_server_t each,
 * all answering through the same routes. */
#ifndef TG_LISTENERS_H
#define TG_LISTENERS_H

#include "cli.h"
#include "server.h"

typedef struct tg_listeners_s {
  tg_server_t server[TG_MAX_LISTEN];
  int count;
} tg_listeners_t;

/* Listens on each of the count addresses, every server a copy of like (routes, limits,
 * gateway_open, reuse_port). ports, when not NULL, gives the port for each address instead
 * (workers bind the ports the main thread resolved); tls, when not NULL, the certificate of
 * each address that serves HTTPS (NULL for plain HTTP). Returns 0, or a libuv error with the
 * address in err; then nothing stays open. */
int tg_listeners_open(tg_listeners_t *listeners, uv_loop_t *loop, const tg_server_t *like,
                      const tg_address_t *addresses, const int *ports, tg_tls_context_t *const *tls, int count,
                      char *err, size_t errcap);
/* The bound port of each listener, in order (for the workers). */
void tg_listeners_ports(const tg_listeners_t *listeners, int *ports);
/* Every bound address, separated by sep, into out (cut to cap). */
void tg_listeners_describe(const tg_listeners_t *listeners, const char *sep, char *out, size_t cap);
/* Open connections of all listeners. */
int tg_listeners_open_conns(const tg_listeners_t *listeners);
/* tg_server_drain, tg_server_abort and tg_server_close for each listener. */
void tg_listeners_drain(tg_listeners_t *listeners);
void tg_listeners_abort(tg_listeners_t *listeners);
void tg_listeners_close(tg_listeners_t *listeners);

#endif
