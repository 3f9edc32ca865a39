/* host_allow.c: the Host values the admin and console addresses answer (see host_allow.h). */
#include "host_allow.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int tg_host_allow_add(tg_host_allow_t *allow, const char *name) {
  size_t len = strlen(name);
  if (len && name[len - 1] == '.')
    len--;
  if (len == 0 || len >= TG_HOST_NAME_BYTES || allow->count == TG_HOST_NAMES_MAX)
    return -1;
  for (size_t i = 0; i < len; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
      return -1;
  }
  char *kept = allow->names[allow->count++];
  for (size_t i = 0; i < len; i++)
    kept[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
  kept[len] = '\0';
  return 0;
}

/* Whether text (len bytes) is a port: digits only, none at all for "host:". */
static int port_text(const char *text, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (text[i] < '0' || text[i] > '9')
      return 0;
  return len <= 5;
}

static int ip_literal(const char *host, size_t len) {
  char text[64];
  unsigned char address[16];
  if (len >= sizeof text)
    return 0;
  memcpy(text, host, len);
  text[len] = '\0';
  if (len > 2 && text[0] == '[' && text[len - 1] == ']') {
    text[len - 1] = '\0';
    return inet_pton(AF_INET6, text + 1, address) == 1;
  }
  return inet_pton(AF_INET, text, address) == 1;
}

int tg_host_allowed(const tg_host_allow_t *allow, const char *host, size_t len) {
  while (len && (*host == ' ' || *host == '\t'))
    host++, len--;
  while (len && (host[len - 1] == ' ' || host[len - 1] == '\t'))
    len--;
  /* the port goes: after the ']' of an IPv6 address, else after the one colon */
  const char *colon = NULL;
  if (len && host[0] == '[') {
    const char *close = memchr(host, ']', len);
    if (!close)
      return 0;
    colon = (size_t)(close - host) + 1 < len ? close + 1 : NULL;
    if (colon && *colon != ':')
      return 0;
  } else {
    colon = memchr(host, ':', len);
  }
  if (colon) {
    if (!port_text(colon + 1, len - (size_t)(colon + 1 - host)))
      return 0;
    len = (size_t)(colon - host);
  }
  if (len && host[len - 1] == '.' && !ip_literal(host, len))
    len--; /* "localhost." is localhost */
  if (len == 0)
    return 0;
  if (ip_literal(host, len))
    return 1;
  if (len == 9 && strncasecmp(host, "localhost", 9) == 0)
    return 1;
  for (int i = 0; allow && i < allow->count; i++)
    if (strlen(allow->names[i]) == len && strncasecmp(allow->names[i], host, len) == 0)
      return 1;
  return 0;
}
