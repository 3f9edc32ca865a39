/* request_fuzz.c: libFuzzer target for the whole request path: body bytes -> XML decoder ->
 * the shipped runtime and rules -> a real (in-memory) SQLite store -> the reply bytes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handler.h"
#include "xml.h"

static tg_handler_t handler;

static void set_up(void) {
  char err[4096];
  tg_xml_init();
  tg_store_t *store = tg_store_open(":memory:", TG_SYNC_NORMAL, err, sizeof err);
  tg_script_config_t config = {.runtime_dir = TG_SOURCE_DIR "/lua", .rules_dir = TG_SOURCE_DIR "/rules",
                               .store = store, .memory_limit = 64u << 20, .time_limit_ms = 50};
  tg_script_t *script = store ? tg_script_new(&config, err, sizeof err) : NULL;
  if (!script || tg_handler_init(&handler, script, store, NULL) < 0) {
    fprintf(stderr, "request_fuzz: cannot load the rules: %s\n", err);
    abort();
  }
  tg_script_release(script);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!handler.script)
    set_up();
  tg_buf_t reply = {0};
  tg_http_t http = {.client = "127.0.0.1"}; /* only the client address and the path flag are read */
  http.legacy = size > 0 && data[0] == ' '; /* a leading space (valid XML) tries the v1 path too */
  tg_handler_task(&handler, &http, (const char *)data, size, &reply);
  static const char head[] = "<?xml version=\"1.0\"?>\n<response>\n";
  if (reply.len < sizeof head - 1 || memcmp(reply.data, head, sizeof head - 1) != 0)
    __builtin_trap(); /* every call gets a protocol reply */
  tg_buf_free(&reply);
  return 0;
}
