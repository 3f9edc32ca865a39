/* read_only.h: which calls run on a read connection. The rules declare read-only methods per
 * endpoint (taskgate.interfaces.read_only); the gateway runs their calls on a worker's reader,
 * and `taskgate try` and `taskgate replay` run them the same way. */
#ifndef TG_READ_ONLY_H
#define TG_READ_ONLY_H

#include <stddef.h>

/* Whether the method named text (len bytes, as the client sent it: trimmed and in lower case
 * here, as the dispatcher reads it) is in list (list_len bytes), host.read_only_methods' text
 * for a generation ("\ttask:gettaskinfo\tbin:getbinstate\t..."), on the bin endpoint (bin != 0)
 * or the task one. */
int tg_read_only_named(const char *list, size_t list_len, int bin, const char *text, size_t len);

#endif
