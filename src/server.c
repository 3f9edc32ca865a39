/* server.c: binds the listener, accepts connections, closes them all on shutdown. */
#include "server.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "conn.h"
#include "log.h"

static void on_connection(uv_stream_t *listener, int status) {
  tg_server_t *server = listener->data;
  if (status < 0) {
    tg_log(TG_LOG_WARN, "accept_failed", "error=%s", uv_strerror(status));
    return;
  }
  int rc = tg_conn_accept(server);
  if (rc < 0)
    tg_log(TG_LOG_WARN, "accept_failed", "error=%s", uv_strerror(rc));
}

static int resolve(const char *host, int port, struct sockaddr_storage *addr) {
  if (strchr(host, ':'))
    return uv_ip6_addr(host, port, (struct sockaddr_in6 *)addr);
  return uv_ip4_addr(host, port, (struct sockaddr_in *)addr);
}

static void describe_bound(tg_server_t *server) {
  struct sockaddr_storage bound;
  int len = sizeof bound;
  char ip[64] = "?";
  int port = 0;
  if (uv_tcp_getsockname(&server->listener, (struct sockaddr *)&bound, &len) == 0) {
    if (bound.ss_family == AF_INET6) {
      uv_ip6_name((struct sockaddr_in6 *)&bound, ip, sizeof ip);
      port = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
    } else {
      uv_ip4_name((struct sockaddr_in *)&bound, ip, sizeof ip);
      port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
    }
  }
  snprintf(server->address, sizeof server->address, strchr(ip, ':') ? "[%s]:%d" : "%s:%d", ip, port);
  server->port = port;
}

/* With --workers every worker binds the same port; the kernel spreads new connections. */
static int share_port(tg_server_t *server) {
  uv_os_fd_t fd;
  int on = 1;
  if (!server->reuse_port)
    return 0;
  if (uv_fileno((uv_handle_t *)&server->listener, &fd) < 0 ||
      setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) < 0)
    return UV_EINVAL;
  return 0;
}

int tg_server_listen(tg_server_t *server, uv_loop_t *loop, const char *host, int port) {
  struct sockaddr_storage addr;
  int rc = resolve(host, port, &addr);
  if (rc < 0)
    return rc;
  server->loop = loop;
  if ((rc = uv_tcp_init_ex(loop, &server->listener, addr.ss_family)) < 0)
    return rc;
  server->listener.data = server;
  server->listening = 1;
  if ((rc = share_port(server)) < 0 || (rc = uv_tcp_bind(&server->listener, (struct sockaddr *)&addr, 0)) < 0 ||
      (rc = uv_listen((uv_stream_t *)&server->listener, 1024, on_connection)) < 0) {
    tg_server_close(server);
    return rc;
  }
  describe_bound(server);
  return 0;
}

static void stop_accepting(tg_server_t *server) {
  if (server->listening && !uv_is_closing((uv_handle_t *)&server->listener))
    uv_close((uv_handle_t *)&server->listener, NULL);
  server->listening = 0;
}

void tg_server_drain(tg_server_t *server) {
  stop_accepting(server);
  tg_conn_t *conn = server->conns;
  while (conn) {
    tg_conn_t *next = conn->next; /* draining may free an idle connection's list entry */
    tg_conn_drain(conn);
    conn = next;
  }
}

void tg_server_abort(tg_server_t *server) {
  stop_accepting(server);
  while (server->conns)
    tg_conn_abort(server->conns);
}

void tg_server_close(tg_server_t *server) {
  if (server->listening && !uv_is_closing((uv_handle_t *)&server->listener))
    uv_close((uv_handle_t *)&server->listener, NULL);
  server->listening = 0;
  for (tg_conn_t *conn = server->conns; conn; conn = conn->next)
    tg_conn_close(conn);
}
