/* json_text.c: JSON values as text (see json_text.h). */
#include "json_text.h"

#include <stdio.h>

void tg_json_text_string(tg_buf_t *out, const char *s) {
  tg_buf_puts(out, "\"");
  const char *run = s; /* bytes that need no escape are appended a run at a time */
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
      continue;
    tg_buf_append(out, run, (size_t)(s - run));
    if (c == '"' || c == '\\')
      tg_buf_printf(out, "\\%c", c);
    else
      tg_buf_printf(out, "\\u%04x", c);
    run = s + 1;
  }
  tg_buf_append(out, run, (size_t)(s - run));
  tg_buf_puts(out, "\"");
}

void tg_json_text_key(tg_buf_t *out, long long n) {
  if (n < 0)
    tg_buf_puts(out, "null");
  else
    tg_buf_printf(out, "%lld", n);
}
