/* conn.h: one client connection: read, parse, answer in order, write, close. */
#ifndef TG_CONN_H
#define TG_CONN_H

#include <uv.h>

#include "http.h"
#include "server.h"
#include "tls.h"

struct tg_conn_s {
  uv_tcp_t tcp;
  uv_timer_t deadline; /* the current phase's deadline, then the linger after our close */
  uv_write_t write_req;
  uv_shutdown_t shutdown_req;
  tg_server_t *server;
  tg_conn_t *prev, *next;
  tg_http_t http;
  tg_buf_t out;     /* responses not yet handed to libuv */
  tg_buf_t sending; /* the bytes of the write in flight */
  tg_buf_t backlog; /* bytes read while a call waits; parsed once it is answered */
  tg_tls_t *tls;    /* on a TLS listener: the session between the socket and the parser */
  tg_buf_t wire;    /* TLS records not yet handed to libuv (out, once sealed, and handshakes) */
  /* The state. Legal combinations, asserted wherever an event may change them (check_state in
   * conn.c): writing exactly while sending holds bytes; reading never once destroyed (the tcp
   * handle closing); no deadline while a call waits (phase -1); peer_done only until the call
   * and the backlog are answered (then closing), with reading off meanwhile; draining only
   * while a request is in progress (then closing); handles 2 until destroyed. closing,
   * draining and peer_done never go back to 0. */
  int tls_notified;        /* our close_notify is out (TLS only) */
  int writing;             /* a uv_write is in flight, with its bytes in sending */
  int closing;             /* no more requests: finish writing, then shut down */
  int peer_done;           /* the client sent EOF while a call ran: answer what it sent, then close */
  int handles;             /* libuv handles still to be closed before the memory goes */
  int reading;             /* uv_read_start is on */
  int phase;               /* the tg_http_phase the deadline was armed for, or -1 */
  unsigned armed_answered; /* the http.answered count the deadline was armed at */
  int deadline_deferred;   /* the deadline found unread bytes waiting and gave them a turn */
  int draining;            /* close as soon as no request is in progress */
  int stream_tuned;         /* a console stream's socket buffer has been made small */
  char client[64];
  int client_port; /* the peer's port, 0 when unknown */
};

/* Accepts a pending connection from server's listener and starts reading it. Past the
 * server's connection cap the client gets 503 and the connection is closed. Returns 0 or a
 * negative libuv error; on error nothing is left allocated. */
int tg_conn_accept(tg_server_t *server);
/* Ends a connection: pending replies are still written, then it is shut down and freed. */
void tg_conn_close(tg_conn_t *conn);
/* Closes the connection once the request it is in (if any) has its reply. */
void tg_conn_drain(tg_conn_t *conn);
/* Drops the connection now. */
void tg_conn_abort(tg_conn_t *conn);

#endif
