/* server.h: the listening socket and the set of open connections. */
#ifndef TG_SERVER_H
#define TG_SERVER_H

#include <uv.h>

#include "http.h"
#include "tls.h"

typedef struct tg_conn_s tg_conn_t;

/* Per-connection deadlines and the cap on open connections; 0 means the default. */
typedef struct tg_server_limits_s {
  unsigned header_timeout_ms; /* from a request's first byte to the end of its headers */
  unsigned body_timeout_ms;   /* from the end of the headers to the end of the body */
  unsigned idle_timeout_ms;   /* a keep-alive connection with no request in progress */
  int max_connections;        /* past this a new connection gets 503 and is closed */
} tg_server_limits_t;

typedef struct tg_server_s {
  uv_loop_t *loop;
  uv_tcp_t listener;
  tg_http_routes_t routes; /* how every connection answers */
  tg_server_limits_t limits;
  tg_conn_t *conns; /* open connections, for shutdown */
  int open_conns;
  int *gateway_open; /* open connections of all workers (atomic), for --max-connections */
  int reuse_port;    /* share the port with the other workers' listeners */
  tg_tls_context_t *tls; /* HTTPS: the address's certificate (shared by the workers), or NULL */
  int listening;
  char address[80]; /* the bound HOST:PORT, port 0 resolved */
  int port;         /* the bound port */
} tg_server_t;

/* Binds host:port and starts accepting. Returns 0 or a negative libuv error code. */
int tg_server_listen(tg_server_t *server, uv_loop_t *loop, const char *host, int port);
/* Stops accepting and closes every connection; the loop then runs out once writes finish. */
void tg_server_close(tg_server_t *server);
/* Stops accepting; each connection closes once the request it is in (if any) is answered. */
void tg_server_drain(tg_server_t *server);
/* Drops every connection now, answered or not (the drain deadline passed). */
void tg_server_abort(tg_server_t *server);

#endif
