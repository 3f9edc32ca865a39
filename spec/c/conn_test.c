/* conn_test.c: a connection's state machine (src/conn.c, included, with its state assertions on
 * in every build) against a real socket on 127.0.0.1: a waiting call holds what follows it, its
 * reply goes out whole whether the socket takes it at once or not, a client that leaves early
 * still gets its answer, a failed commit answers nothing, a draining connection closes after its
 * reply. The task handler is a fake that only records the calls. */
#undef NDEBUG
#include "../../src/conn.c"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "unit.h"

static tg_http_t *waiting_http; /* the last call the fake handler took */
static int calls_taken, calls_abandoned;

static int take_call(void *ctx, tg_http_t *http, const char *body, size_t len) {
  waiting_http = http;
  calls_taken++;
  return 0;
}

static void abandon_call(void *ctx, tg_http_t *http) { calls_abandoned++; }

static uv_loop_t loop;
static tg_server_t server;
static tg_buf_t received; /* what the client has read */
static int client_fd = -1, client_closed;

static const char CALL[] = "POST /api/v2/task HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\n<call/>";

/* A server on 127.0.0.1 and a client connected to it, accepted. */
static void connect_client(void) {
  memset(&server, 0, sizeof server);
  server.routes = (tg_http_routes_t){.on_task = take_call, .on_abandon = abandon_call};
  CHECK_INT(tg_server_listen(&server, &loop, "127.0.0.1", 0), 0);
  client_fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)server.port)};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK_INT(connect(client_fd, (struct sockaddr *)&addr, sizeof addr), 0);
  fcntl(client_fd, F_SETFL, O_NONBLOCK);
  received.len = 0;
  client_closed = 0;
  calls_taken = calls_abandoned = 0;
  waiting_http = NULL;
  for (int i = 0; i < 200 && !server.conns; i++)
    uv_run(&loop, UV_RUN_NOWAIT), usleep(1000);
  CHECK(server.conns != NULL);
}

static void client_send(const char *bytes) { CHECK_INT(write(client_fd, bytes, strlen(bytes)), (long)strlen(bytes)); }

/* Reads what the client has been sent so far; notes the server's close. */
static void client_read(void) {
  char chunk[65536];
  ssize_t n;
  while ((n = read(client_fd, chunk, sizeof chunk)) > 0)
    tg_buf_append(&received, chunk, (size_t)n);
  if (n == 0 || (n < 0 && errno != EAGAIN))
    client_closed = 1;
}

/* Turns the loop (and reads as the client) until done() or about two seconds have passed. */
static int turn_until(int (*done)(void)) {
  for (int i = 0; i < 2000; i++) {
    uv_run(&loop, UV_RUN_NOWAIT);
    client_read();
    if (done())
      return 1;
    usleep(1000);
  }
  return 0;
}

static int call_taken(void) { return calls_taken > 0; }
static int client_has_reply(void) {
  return received.len > 3 && memcmp(received.data + received.len - 3, "abc", 3) == 0;
}
static int client_saw_close(void) { return client_closed; }
static int conn_gone(void) { return server.conns == NULL; }

static void end_client(void) {
  close(client_fd);
  tg_server_abort(&server);
  tg_server_close(&server);
  for (int i = 0; i < 100; i++)
    uv_run(&loop, UV_RUN_NOWAIT);
}

/* A connection whose client sent one call (and, with stop_sending, nothing more), now waiting. */
static tg_conn_t *call_waiting(int stop_sending) {
  connect_client();
  client_send(CALL);
  if (stop_sending)
    shutdown(client_fd, SHUT_WR);
  CHECK(turn_until(call_taken));
  return server.conns;
}

/* Answers the waiting call with "abc": the connection must close once the client has it. */
static void answer_then_close(tg_conn_t *conn) {
  waiting_http->deliver(waiting_http, "abc", 3);
  CHECK(conn->closing);
  CHECK(turn_until(client_saw_close));
  CHECK(client_has_reply());
}

static void a_waiting_call_holds_the_next_request_until_its_reply_is_sent(void) {
  connect_client();
  char two[256];
  snprintf(two, sizeof two, "%s%s", CALL, CALL);
  client_send(two);
  CHECK(turn_until(call_taken));
  tg_conn_t *conn = server.conns;
  CHECK_INT(calls_taken, 1);
  CHECK(conn->http.waiting);
  CHECK_INT(conn->phase, -1);                    /* no deadline while the call waits */
  CHECK_INT(conn->backlog.len, strlen(CALL));    /* the second request waits its turn */
  waiting_http->deliver(waiting_http, "abc", 3); /* what the handler does after the commit */
  CHECK_INT(calls_taken, 2);                     /* then the second is parsed at once */
  CHECK(turn_until(client_has_reply));
  CHECK_BYTES(received.data, received.len,
              "HTTP/1.1 200 OK\r\nContent-Type: application/xml; charset=utf-8\r\nContent-Length: 3\r\n\r\nabc");
  end_client();
}

static int client_has_big_reply(void) { return received.len >= (4u << 20) + 80; }

static void a_reply_the_socket_cannot_take_at_once_is_finished_by_a_write_request(void) {
  tg_conn_t *conn = call_waiting(0);
  size_t size = 4u << 20;
  char *reply = malloc(size);
  memset(reply, 'x', size);
  waiting_http->deliver(waiting_http, reply, size);
  free(reply); /* the connection keeps what it still has to send */
  CHECK(conn->writing);
  CHECK(conn->sending.len > 0 && conn->sending.len < size);
  CHECK(turn_until(client_has_big_reply));
  CHECK(!conn->writing);
  const char *body = strstr(received.data, "\r\n\r\n");
  CHECK(body && received.len - (size_t)(body + 4 - received.data) == size);
  CHECK(body && body[4] == 'x' && received.data[received.len - 1] == 'x');
  end_client();
}

static void a_client_that_stops_sending_while_its_call_waits_still_gets_the_reply(void) {
  tg_conn_t *conn = call_waiting(1);
  for (int i = 0; i < 50 && !conn->peer_done; i++)
    uv_run(&loop, UV_RUN_NOWAIT), usleep(1000);
  CHECK(conn->peer_done);
  CHECK(!conn->closing);
  CHECK(!conn->reading);
  answer_then_close(conn);
  end_client();
}

static void a_failed_commit_drops_the_connection_unanswered(void) {
  call_waiting(0);
  waiting_http->deliver(waiting_http, NULL, 0);
  CHECK(turn_until(client_saw_close));
  CHECK_INT(received.len, 0);
  CHECK(turn_until(conn_gone));
  end_client();
}

static void a_draining_connection_closes_once_its_call_is_answered(void) {
  tg_conn_t *conn = call_waiting(0);
  tg_conn_drain(conn);
  CHECK(!conn->closing); /* the call in progress gets its reply first */
  answer_then_close(conn);
  end_client();
}

static void a_connection_dropped_while_its_call_waits_tells_the_handler(void) {
  tg_conn_abort(call_waiting(0));
  CHECK_INT(calls_abandoned, 1);
  CHECK(turn_until(client_saw_close));
  end_client();
}

int main(void) {
  tg_log_set_level(TG_LOG_OFF);
  uv_loop_init(&loop);
  TEST(a_waiting_call_holds_the_next_request_until_its_reply_is_sent);
  TEST(a_reply_the_socket_cannot_take_at_once_is_finished_by_a_write_request);
  TEST(a_client_that_stops_sending_while_its_call_waits_still_gets_the_reply);
  TEST(a_failed_commit_drops_the_connection_unanswered);
  TEST(a_draining_connection_closes_once_its_call_is_answered);
  TEST(a_connection_dropped_while_its_call_waits_tells_the_handler);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  tg_buf_free(&received);
  return unit_done();
}
