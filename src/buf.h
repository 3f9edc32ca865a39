/* buf.h: a growable byte buffer for replies and other bytes we assemble. */
#ifndef TG_BUF_H
#define TG_BUF_H

#include <stddef.h>

typedef struct tg_buf_s {
  char *data;
  size_t len;
  size_t cap;
} tg_buf_t;

/* Appends len bytes; returns 0, or -1 when memory runs out (the buffer is unchanged). */
int tg_buf_append(tg_buf_t *buf, const void *bytes, size_t len);
/* Appends a NUL-terminated string; same result as tg_buf_append. */
int tg_buf_puts(tg_buf_t *buf, const char *s);
/* Appends value in decimal; returns 0 or -1. */
int tg_buf_put_uint(tg_buf_t *buf, unsigned long long value);
/* Appends printf-formatted text; returns 0 or -1. */
int tg_buf_printf(tg_buf_t *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Frees the memory; the buffer may be reused afterwards. */
void tg_buf_free(tg_buf_t *buf);

#endif
