/* charset.h: the two encodings the task interface documents, by any of their usual names. */
#ifndef TG_CHARSET_H
#define TG_CHARSET_H

#include <stddef.h>

/* The charset a Content-Type or an XML declaration names. */
enum { TG_CHARSET_NONE, TG_CHARSET_UTF8, TG_CHARSET_LATIN1, TG_CHARSET_OTHER };

/* TG_CHARSET_UTF8 for UTF-8 (or US-ASCII, its subset), TG_CHARSET_LATIN1 for ISO-8859-1, by
 * their common aliases and without regard to case; TG_CHARSET_OTHER for any other name. */
int tg_charset_named(const char *name, size_t len);

/* The charset an XML document's bytes are in, as its Content-Type (which decides, RFC 7303) or
 * else its XML declaration names it, into out (a token of at most cap - 1 bytes); "" for UTF-8,
 * when neither names one (XML's default) or the name is no token. content_type may be NULL. */
void tg_charset_of_document(const char *content_type, const char *bytes, size_t len, char *out, size_t cap);

#endif
