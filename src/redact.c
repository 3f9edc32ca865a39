/* redact.c: masks the credentials of URLs inside any text (see redact.h). */
#define _GNU_SOURCE /* memmem */
#include "redact.h"

#include <stdlib.h>
#include <string.h>

/* Where a URL ends inside free text: at a space, a control byte, a quote or an angle bracket
 * (and a backslash: log values escape their quotes with one). */
static int ends_url(char c) {
  return (unsigned char)c <= ' ' || c == '"' || c == '\'' || c == '<' || c == '>' || c == '\\' || c == 0x7f;
}

/* Whether s starts a list's next URL (",scheme://"): a list of URLs, not one value, goes on. */
static int next_url(const char *s) {
  if (*s != ',')
    return 0;
  s++;
  if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
    return 0;
  while ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '+' ||
         *s == '.' || *s == '-')
    s++;
  return strncmp(s, "://", 3) == 0;
}

typedef struct out_s {
  char *data;
  size_t cap, len;
} out_t;

static void put(out_t *o, const char *s, size_t n) {
  if (o->len + 1 >= o->cap)
    return;
  if (n > o->cap - 1 - o->len)
    n = o->cap - 1 - o->len;
  memcpy(o->data + o->len, s, n);
  o->len += n;
}

/* Writes the URL's rest after "://" (authority, path, query, fragment) masked; returns how many
 * bytes of text it took: up to the URL's end, or to the next URL of a comma-separated list. */
static size_t put_url_rest(out_t *o, const char *s) {
  size_t len = 0;
  while (s[len] && !ends_url(s[len]) && !next_url(s + len))
    len++;
  size_t authority = 0, at = 0;
  int has_at = 0;
  while (authority < len && s[authority] != '/' && s[authority] != '?' && s[authority] != '#') {
    if (s[authority] == '@')
      at = authority, has_at = 1; /* the last '@': a password may hold one unescaped */
    authority++;
  }
  size_t i = 0;
  if (has_at) {
    put(o, "***@", 4);
    i = at + 1;
  }
  /* host, port and path as they are */
  size_t start = i;
  while (i < len && s[i] != '?' && s[i] != '#')
    i++;
  put(o, s + start, i - start);
  if (i < len && s[i] == '?') {
    /* every value masked: which keys hold secrets is the upstream's business, not ours */
    put(o, "?", 1);
    i++;
    while (i < len && s[i] != '#') {
      size_t key = i;
      while (i < len && s[i] != '=' && s[i] != '&' && s[i] != '#')
        i++;
      put(o, s + key, i - key);
      if (i < len && s[i] == '=') {
        put(o, "=***", 4);
        while (i < len && s[i] != '&' && s[i] != '#')
          i++;
      }
      if (i < len && s[i] == '&')
        put(o, "&", 1), i++;
    }
  }
  if (i < len && s[i] == '#') /* a fragment can carry a token too (OAuth's implicit flow does) */
    put(o, "#***", 4);
  return len;
}

char *tg_redact(const char *text, char *out, size_t cap) {
  if (!cap)
    return out;
  out_t o = {out, cap, 0};
  const char *s = text ? text : "";
  const char *scheme;
  while ((scheme = strstr(s, "://")) != NULL) {
    put(&o, s, (size_t)(scheme - s) + 3);
    s = scheme + 3;
    s += put_url_rest(&o, s);
  }
  put(&o, s, strlen(s));
  out[o.len] = '\0';
  return out;
}

/* A URL's masked form grows by at most 3 bytes per byte of it ("=" becomes "=***"). */
static size_t masked_cap(size_t len) { return 4 * len + 64; }

char *tg_redact_copy(const char *text, int *failed) {
  *failed = 0;
  if (!text || !strstr(text, "://"))
    return NULL;
  char *out = malloc(masked_cap(strlen(text)));
  if (!out) {
    *failed = 1;
    return NULL;
  }
  return tg_redact(text, out, masked_cap(strlen(text)));
}

int tg_redact_buf(tg_buf_t *buf, size_t from) {
  if (from >= buf->len || !memmem(buf->data + from, buf->len - from, "://", 3))
    return 0;
  size_t len = buf->len - from;
  char *text = malloc(len + 1);
  char *out = text ? malloc(masked_cap(len)) : NULL;
  int rc = -1;
  buf->len = from;
  if (out) {
    memcpy(text, buf->data + from, len);
    text[len] = '\0';
    tg_redact(text, out, masked_cap(len));
    rc = tg_buf_append(buf, out, strlen(out));
  }
  free(text);
  free(out);
  return rc;
}
