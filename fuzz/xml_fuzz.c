/* xml_fuzz.c: libFuzzer target for the methodcall decoder alone, and the reply escaper over
 * whatever text it decoded. */
#include <stdint.h>

#include "xml.h"

static void walk(const tg_xml_node_t *node, tg_buf_t *out, int depth) {
  if (node && depth > TG_XML_MAX_DEPTH)
    __builtin_trap(); /* the decoder promised a depth limit (the root is at depth 1) */
  for (; node; node = node->next) {
    tg_xml_escape(out, node->text, node->text_len);
    walk(node->first_child, out, depth + 1);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int ready;
  if (!ready) {
    tg_xml_init();
    ready = 1;
  }
  tg_arena_t arena = {.limit = 8u << 20};
  tg_buf_t out = {0};
  const char *why = NULL;
  tg_xml_node_t *root = tg_xml_decode(&arena, (const char *)data, size, &why);
  if (!root && !why)
    __builtin_trap(); /* a refusal always says why */
  if (root)
    walk(root, &out, 1);
  tg_buf_free(&out);
  tg_arena_free(&arena);
  return 0;
}
