/* redact.h: URLs as operators may see them. A URL's userinfo (user:password@) and its query's
 * values are credentials often enough (a controller's login, ?apikey=...): every place that
 * shows or logs a URL — /status, /metrics, the console, log lines, error messages — shows it
 * through here, with those parts replaced by "***". */
#ifndef TG_REDACT_H
#define TG_REDACT_H

#include <stddef.h>

/* Copies text into out (cap bytes, always NUL-terminated; cut when too long) with every URL in
 * it ("scheme://...") masked: its userinfo becomes "***" and each query parameter's value "***"
 * (http:// then ***@host/path?apikey=***). Text without "://" is copied as it is. Returns out. */
char *tg_redact(const char *text, char *out, size_t cap);

#endif
