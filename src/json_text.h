/* json_text.h: writing JSON values as text into a buffer: the console's views and stream, /status. */
#ifndef TG_JSON_TEXT_H
#define TG_JSON_TEXT_H

#include "buf.h"

/* Appends s as a JSON string: quote, backslash and control characters escaped. */
void tg_json_text_string(tg_buf_t *out, const char *s);
/* Appends n, or null for a missing key (a negative n). */
void tg_json_text_key(tg_buf_t *out, long long n);

#endif
