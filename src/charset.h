/* charset.h: the two encodings the task interface documents, by any of their usual names. */
#ifndef TG_CHARSET_H
#define TG_CHARSET_H

#include <stddef.h>

/* The charset a Content-Type or an XML declaration names. */
enum { TG_CHARSET_NONE, TG_CHARSET_UTF8, TG_CHARSET_LATIN1, TG_CHARSET_OTHER };

/* TG_CHARSET_UTF8 for UTF-8 (or US-ASCII, its subset), TG_CHARSET_LATIN1 for ISO-8859-1, by
 * their common aliases and without regard to case; TG_CHARSET_OTHER for any other name. */
int tg_charset_named(const char *name, size_t len);

#endif
