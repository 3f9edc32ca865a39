/* host_allow.h: which Host header values the admin and console addresses answer. A web page the
 * operator opens elsewhere can rebind its own name to this machine's address (DNS rebinding) and
 * read these views as its own origin; its requests then carry its name as Host. So only an IP
 * address, localhost or a name the operator lists (--admin-host) is answered. */
#ifndef TG_HOST_ALLOW_H
#define TG_HOST_ALLOW_H

#include <stddef.h>

enum { TG_HOST_NAMES_MAX = 16, TG_HOST_NAME_BYTES = 254 };

typedef struct tg_host_allow_s {
  char names[TG_HOST_NAMES_MAX][TG_HOST_NAME_BYTES]; /* lower case, without a trailing dot */
  int count;
} tg_host_allow_t;

/* Adds a name (a DNS name: letters, digits, '-' and '.'); returns 0, or -1 for a bad name or a
 * full list. */
int tg_host_allow_add(tg_host_allow_t *allow, const char *name);
/* Whether a request with this Host value (len bytes, with or without ":port") is answered: an
 * IPv4 address, an [IPv6] address, localhost, or a listed name. */
int tg_host_allowed(const tg_host_allow_t *allow, const char *host, size_t len);

#endif
