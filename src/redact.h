/* redact.h: URLs as operators may see them. A URL's userinfo (user:password@) and its query's
 * values are credentials often enough (a controller's login, ?apikey=...): every place that
 * shows or logs a URL — /status, /metrics, the console, log lines, error messages, `taskgate
 * audit`, `taskgate try` — shows it through here, with those parts replaced by "***". */
#ifndef TG_REDACT_H
#define TG_REDACT_H

#include <stddef.h>

#include "buf.h"

/* Copies text into out (cap bytes, always NUL-terminated; cut when too long) with every URL in
 * it ("scheme://...") masked: its userinfo becomes "***" and each query parameter's value "***"
 * (http:// then ***@host/path?apikey=***). Text without "://" is copied as it is. Returns out. */
char *tg_redact(const char *text, char *out, size_t cap);
/* The same for text of any length: a new masked copy (free it), or NULL when text holds no URL
 * (show text itself) or memory runs out (then show nothing of it: the caller says so). */
char *tg_redact_copy(const char *text, int *failed);
/* Masks, in place, the URLs in buf's bytes from offset `from` on (text without NUL bytes).
 * Returns 0, or -1 when memory runs out (then those bytes are cut off). */
int tg_redact_buf(tg_buf_t *buf, size_t from);

#endif
