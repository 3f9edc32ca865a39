/* http_test.c: one connection's HTTP state machine (src/http.c, included): a task call holds
 * the requests behind it until its reply's head is written, keep-alive and Connection: close
 * decide what follows, and the phase a connection times goes idle, headers, body, idle. */
#include "../../src/http.c"

#include "log.h"
#include "unit.h"

static int tasks_taken;      /* calls the fake handler took */
static char task_body[256];  /* the last one's body */
static int refuse_next_task; /* the handler's answer to the next call: -1 (500) or -503 */

static int take_task(void *ctx, tg_http_t *h, const char *body, size_t len) {
  tasks_taken++;
  snprintf(task_body, sizeof task_body, "%.*s", (int)len, body);
  int refusal = refuse_next_task;
  refuse_next_task = 0;
  return refusal;
  return 0;
}

static int admin_view(void *ctx, const char *path, const char *authorization, tg_buf_t *body, const char **type) {
  if (strcmp(path, "/status") != 0)
    return 404;
  tg_buf_puts(body, "{}");
  return 200;
}

static const tg_http_routes_t routes = {.on_task = take_task, .on_admin = admin_view};

static const char CANCEL[] = "POST /api/v2/task HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\n<call/>\r\n";
static const char CANCEL_CLOSE[] =
    "POST /api/v2/task HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 9\r\n\r\n<call/>\r\n";
static const char CANCEL_HEADERS_EXPECTING[] =
    "POST /api/v2/task HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 9\r\n\r\n";
static const char STATUS[] = "GET /status HTTP/1.1\r\nHost: x\r\n\r\n";

/* A parser as a connection holds one, with nothing taken yet. */
static tg_http_t *new_http(void) {
  static tg_http_t http;
  tg_http_free(&http);
  tg_http_init(&http, &routes, "127.0.0.1");
  tasks_taken = 0;
  return &http;
}

static size_t used; /* how much of its text the last feed used */

/* Feeds all of text; returns the verdict. */
static int feed(tg_http_t *h, const char *text, tg_buf_t *out) {
  return tg_http_feed(h, text, strlen(text), out, &used);
}

/* A new parser fed request, a task call it must now wait on; out collects what is sent. */
static tg_http_t *waiting_on(const char *request, tg_buf_t *out) {
  tg_http_t *h = new_http();
  CHECK_INT(feed(h, request, out), TG_HTTP_WAIT);
  return h;
}

static void a_task_call_holds_the_requests_behind_it_until_its_reply(void) {
  tg_http_t *h = new_http();
  tg_buf_t out = {0};
  char both[256];
  snprintf(both, sizeof both, "%s%s", CANCEL, STATUS);
  CHECK_INT(feed(h, both, &out), TG_HTTP_WAIT);
  CHECK_INT(used, strlen(CANCEL)); /* the status request waits its turn */
  CHECK_INT(tasks_taken, 1);
  CHECK_BYTES(task_body, strlen(task_body), "<call/>\r\n");
  CHECK_INT(out.len, 0); /* nothing goes out before the call's reply */
  CHECK(h->waiting);
  CHECK_INT(tg_http_reply_head(h, 12, &out), TG_HTTP_MORE);
  CHECK_BYTES(out.data, out.len,
              "HTTP/1.1 200 OK\r\nContent-Type: application/xml; charset=utf-8\r\nContent-Length: 12\r\n\r\n");
  CHECK(!h->waiting);
  out.len = 0;
  CHECK_INT(feed(h, both + used, &out), TG_HTTP_MORE);
  CHECK(strstr(out.data, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\n\r\n{}") ==
        out.data);
  tg_buf_free(&out);
}

static void a_task_call_that_asks_to_close_gets_connection_close(void) {
  tg_buf_t out = {0};
  tg_http_t *h = waiting_on(CANCEL_CLOSE, &out);
  CHECK_INT(tg_http_reply_head(h, 3, &out), TG_HTTP_CLOSE);
  CHECK(strstr(out.data, "Content-Length: 3\r\nConnection: close\r\n\r\n") != NULL);
  tg_buf_free(&out);
}

static void a_json_call_gets_a_json_head(void) {
  tg_buf_t out = {0};
  tg_http_t *h = waiting_on(CANCEL, &out);
  h->reply_json = 1; /* what the task handler sets for a JSON methodcall */
  tg_http_reply_head(h, 2, &out);
  CHECK(strstr(out.data, "Content-Type: application/json; charset=utf-8\r\n") != NULL);
  tg_buf_free(&out);
}

static void a_call_the_handler_cannot_take_is_answered_500_or_503_and_the_connection_goes_on(void) {
  tg_http_t *h = new_http();
  tg_buf_t out = {0};
  refuse_next_task = -1;
  CHECK_INT(feed(h, CANCEL, &out), TG_HTTP_MORE);
  CHECK(!h->waiting);
  CHECK(strncmp(out.data, "HTTP/1.1 500 Internal Server Error\r\n", 36) == 0);
  out.len = 0;
  refuse_next_task = -503; /* the store cannot take calls */
  CHECK_INT(feed(h, CANCEL, &out), TG_HTTP_MORE);
  CHECK(strncmp(out.data, "HTTP/1.1 503 Service Unavailable\r\n", 34) == 0);
  out.len = 0;
  CHECK_INT(feed(h, CANCEL, &out), TG_HTTP_WAIT);
  CHECK_INT(tasks_taken, 3);
  tg_buf_free(&out);
}

static void expect_100_continue_is_answered_before_the_body(void) {
  tg_http_t *h = new_http();
  tg_buf_t out = {0};
  CHECK_INT(feed(h, CANCEL_HEADERS_EXPECTING, &out), TG_HTTP_MORE);
  CHECK_BYTES(out.data, out.len, "HTTP/1.1 100 Continue\r\n\r\n");
  CHECK_INT(tasks_taken, 0);
  CHECK_INT(feed(h, "<call/>\r\n", &out), TG_HTTP_WAIT);
  CHECK_INT(tasks_taken, 1);
  tg_buf_free(&out);
}

static void the_phase_goes_idle_headers_body_and_idle_again_after_the_reply(void) {
  tg_http_t *h = new_http();
  tg_buf_t out = {0};
  CHECK_INT(tg_http_phase(h), TG_HTTP_IDLE);
  feed(h, "POST /api/v2/task HTTP/1.1\r\n", &out);
  CHECK_INT(tg_http_phase(h), TG_HTTP_HEADERS);
  feed(h, "Content-Length: 9\r\n\r\n<ca", &out);
  CHECK_INT(tg_http_phase(h), TG_HTTP_BODY);
  CHECK_INT(feed(h, "ll/>\r\n", &out), TG_HTTP_WAIT);
  tg_http_reply_head(h, 1, &out);
  CHECK_INT(tg_http_phase(h), TG_HTTP_IDLE);
  tg_buf_free(&out);
}

static void a_bad_request_is_refused_and_closes(void) {
  tg_http_t *h = new_http();
  tg_buf_t out = {0};
  CHECK_INT(feed(h, "POST /api/v2/task HTTP/1.1\r\nHost : x\r\n\r\n", &out), TG_HTTP_CLOSE);
  CHECK(strncmp(out.data, "HTTP/1.1 400 Bad Request\r\n", 26) == 0);
  CHECK(strstr(out.data, "Connection: close\r\n") != NULL);
  CHECK_INT(tasks_taken, 0);
  tg_buf_free(&out);
}

int main(void) {
  tg_log_set_level(TG_LOG_OFF);
  TEST(a_task_call_holds_the_requests_behind_it_until_its_reply);
  TEST(a_task_call_that_asks_to_close_gets_connection_close);
  TEST(a_json_call_gets_a_json_head);
  TEST(a_call_the_handler_cannot_take_is_answered_500_or_503_and_the_connection_goes_on);
  TEST(expect_100_continue_is_answered_before_the_body);
  TEST(the_phase_goes_idle_headers_body_and_idle_again_after_the_reply);
  TEST(a_bad_request_is_refused_and_closes);
  tg_http_free(new_http());
  return unit_done();
}
