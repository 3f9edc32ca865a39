/* listeners.c: the gateway's listening addresses (--listen, repeatable), opened and closed as one. */
#include "listeners.h"

#include <stdio.h>
#include <string.h>

int tg_listeners_open(tg_listeners_t *listeners, uv_loop_t *loop, const tg_server_t *like,
                      const tg_address_t *addresses, const int *ports, tg_tls_context_t *const *tls, int count,
                      char *err, size_t errcap) {
  listeners->count = 0;
  for (int i = 0; i < count; i++) {
    tg_server_t *server = &listeners->server[i];
    *server = (tg_server_t){.routes = like->routes,
                            .limits = like->limits,
                            .gateway_open = like->gateway_open,
                            .reuse_port = like->reuse_port,
                            .tls = tls ? tls[i] : NULL};
    int port = ports ? ports[i] : addresses[i].port;
    int rc = tg_server_listen(server, loop, addresses[i].host, port);
    if (rc < 0) {
      snprintf(err, errcap, "cannot listen on %s:%d: %s", addresses[i].host, port, uv_strerror(rc));
      tg_listeners_close(listeners);
      return rc;
    }
    listeners->count++;
  }
  return 0;
}

void tg_listeners_ports(const tg_listeners_t *listeners, int *ports) {
  for (int i = 0; i < listeners->count; i++)
    ports[i] = listeners->server[i].port;
}

void tg_listeners_describe(const tg_listeners_t *listeners, const char *sep, char *out, size_t cap) {
  size_t used = 0;
  out[0] = '\0';
  for (int i = 0; i < listeners->count && used < cap; i++) {
    int n = snprintf(out + used, cap - used, "%s%s", i ? sep : "", listeners->server[i].address);
    used += n > 0 ? (size_t)n : 0;
  }
}

int tg_listeners_open_conns(const tg_listeners_t *listeners) {
  int open = 0;
  for (int i = 0; i < listeners->count; i++)
    open += __atomic_load_n(&listeners->server[i].open_conns, __ATOMIC_RELAXED);
  return open;
}

void tg_listeners_drain(tg_listeners_t *listeners) {
  for (int i = 0; i < listeners->count; i++)
    tg_server_drain(&listeners->server[i]);
}

void tg_listeners_abort(tg_listeners_t *listeners) {
  for (int i = 0; i < listeners->count; i++)
    tg_server_abort(&listeners->server[i]);
}

void tg_listeners_close(tg_listeners_t *listeners) {
  for (int i = 0; i < listeners->count; i++)
    tg_server_close(&listeners->server[i]);
}
