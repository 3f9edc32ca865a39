/* buf.c: a growable byte buffer. */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int reserve(tg_buf_t *buf, size_t extra) {
  if (buf->cap - buf->len >= extra)
    return 0;
  size_t cap = buf->cap ? buf->cap : 256;
  while (cap - buf->len < extra)
    cap *= 2;
  char *data = realloc(buf->data, cap);
  if (!data)
    return -1;
  buf->data = data;
  buf->cap = cap;
  return 0;
}

int tg_buf_append(tg_buf_t *buf, const void *bytes, size_t len) {
  if (reserve(buf, len + 1) < 0)
    return -1;
  if (len) /* bytes may be NULL when there are none: memcpy must not see it */
    memcpy(buf->data + buf->len, bytes, len);
  buf->len += len;
  buf->data[buf->len] = '\0'; /* keeps the contents usable as a C string */
  return 0;
}

int tg_buf_puts(tg_buf_t *buf, const char *s) { return tg_buf_append(buf, s, strlen(s)); }

int tg_buf_put_uint(tg_buf_t *buf, unsigned long long value) {
  char digits[24], *at = digits + sizeof digits;
  do {
    *--at = (char)('0' + value % 10);
    value /= 10;
  } while (value);
  return tg_buf_append(buf, at, (size_t)(digits + sizeof digits - at));
}

int tg_buf_printf(tg_buf_t *buf, const char *fmt, ...) {
  char small[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0)
    return -1;
  if ((size_t)n < sizeof small)
    return tg_buf_append(buf, small, (size_t)n);
  if (reserve(buf, (size_t)n + 1) < 0)
    return -1;
  va_start(ap, fmt);
  vsnprintf(buf->data + buf->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  buf->len += (size_t)n;
  return 0;
}

void tg_buf_free(tg_buf_t *buf) {
  free(buf->data);
  buf->data = NULL;
  buf->len = buf->cap = 0;
}
