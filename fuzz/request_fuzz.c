/* request_fuzz.c: libFuzzer target for the whole request path: body bytes -> XML or JSON decoder ->
 * the batch (as at the end of a loop turn) -> the shipped runtime and rules -> a real
 * (in-memory) SQLite store -> the reply bytes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handler.h"
#include "xml.h"

static tg_handler_t handler;
static tg_batch_t *batch;
static tg_buf_t reply;
static int answered;

/* The connection's side: takes the reply the batch hands out after its commit. */
static void deliver(tg_http_t *http, const char *bytes, size_t len) {
  if (!bytes)
    __builtin_trap(); /* an in-memory commit does not fail */
  reply.len = 0;
  tg_buf_append(&reply, bytes, len);
  answered = 1;
}

static void set_up(void) {
  char err[4096];
  tg_xml_init();
  tg_store_t *store = tg_store_open(":memory:", TG_SYNC_NORMAL, err, sizeof err);
  tg_script_config_t config = {.runtime_dir = TG_SOURCE_DIR "/lua",
                               .rules_dir = TG_SOURCE_DIR "/rules",
                               .store = store,
                               .memory_limit = 64u << 20,
                               .time_limit_ms = 50};
  tg_script_t *script = store ? tg_script_new(&config, err, sizeof err) : NULL;
  if (!script || tg_handler_init(&handler, script, store, NULL) < 0) {
    fprintf(stderr, "request_fuzz: cannot load the rules: %s\n", err);
    abort();
  }
  tg_script_release(script);
  batch = tg_batch_new(uv_default_loop(), store, tg_handler_runner(&handler)); /* the loop never runs */
  handler.batch = batch;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!handler.script)
    set_up();
  tg_http_t http = {.client = "127.0.0.1", .deliver = deliver};
  http.legacy = size > 0 && data[0] == ' '; /* a leading space (valid XML) tries the v1 path too */
  http.interface = size > 1 && data[1] == ' ' ? TG_HTTP_BIN : TG_HTTP_TASK; /* a second one the bin endpoint */
  answered = 0;
  tg_handler_task(&handler, &http, (const char *)data, size);
  tg_batch_flush(batch); /* what the end of the loop turn does: run, commit, deliver */
  if (!answered)
    __builtin_trap();
  static const char head[] = "<?xml version=\"1.0\"?>\n<response>\n";
  int xml = reply.len >= sizeof head - 1 && memcmp(reply.data, head, sizeof head - 1) == 0;
  int json = reply.len >= 11 && (memcmp(reply.data, "{\"params\":", 10) == 0 || memcmp(reply.data, "{\"fault\":", 9) == 0);
  if (!xml && !json)
    __builtin_trap(); /* every call gets a protocol reply, in one form or the other */
  return 0;
}
