/* framing.c: the framing rules llhttp 8.1.0 lets through (see framing.h). Each refusal closes
 * the connection, because a client and a proxy in front of us may have read these bytes as a
 * different sequence of requests (request smuggling). */
#include "framing.h"

#include <limits.h>
#include <string.h>
#include <strings.h>

enum {
  MAX_CHUNK_LINE = 1024, /* a chunk-size line with its extensions */
};

enum {
  CHUNK_SIZE_FIRST,
  CHUNK_SIZE,
  CHUNK_EXT,
  CHUNK_SIZE_LF,
  CHUNK_DATA,
  CHUNK_DATA_CR,
  CHUNK_DATA_LF,
  CHUNK_END_CR,
  CHUNK_END_LF,
  CHUNK_DONE
};

void tg_framing_reset(tg_framing_t *f) {
  memset(f, 0, sizeof *f);
  f->part_empty = 1;
}

/* RFC 9110 5.6.2: the bytes of a token. */
static int tchar(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int hex_value(unsigned char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

int tg_framing_request_line(tg_framing_t *f, const char *s, size_t n) {
  const char *end = s + n;
  while (s < end) {
    const char *space = memchr(s, ' ', (size_t)(end - s));
    if (!space) {
      f->part_empty = 0;
      return 0;
    }
    if (space > s)
      f->part_empty = 0;
    if (f->part_empty || f->request_line_spaces == 2)
      return 400; /* an SP before the method, two in a row, or a fourth part */
    f->request_line_spaces++;
    f->part_empty = 1;
    s = space + 1;
  }
  return 0;
}

int tg_framing_request_line_end(const tg_framing_t *f) {
  /* METHOD SP target SP HTTP-version: a line without its version is HTTP/0.9's, refused. */
  return f->request_line_spaces == 2 && !f->part_empty ? 0 : 400;
}

static void trim(const char **value, size_t *len) {
  while (*len > 0 && (**value == ' ' || **value == '\t'))
    (*value)++, (*len)--;
  while (*len > 0 && ((*value)[*len - 1] == ' ' || (*value)[*len - 1] == '\t'))
    (*len)--;
}

/* RFC 9110 7.2 and RFC 3986 3.2.2: a registered name, IPv4 or [IPv6] address, and a port. */
static int host_ok(const char *value, size_t len) {
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)value[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          strchr("-._~%!$&'()*+,;=:[]", c)))
      return 0;
  }
  return 1;
}

void tg_framing_field(tg_framing_t *f, const char *name, size_t name_len, const char *value, size_t value_len,
                      int cut) {
  trim(&value, &value_len);
  if (name_len == 4 && strncasecmp(name, "host", 4) == 0) {
    f->hosts++;
    f->bad_host |= cut || !host_ok(value, value_len);
  } else if (name_len == 17 && strncasecmp(name, "transfer-encoding", 17) == 0) {
    /* Only chunked is understood, and it must be the one coding: "gzip, chunked" would hand
     * the rules compressed bytes, "chunked, x" has no reliable length (RFC 9112 6.1). */
    f->transfer_encodings++;
    f->bad_transfer_coding |= cut || !(value_len == 7 && strncasecmp(value, "chunked", 7) == 0);
  }
}

/* Origin-form ("/path?query"), or absolute-form ("http://authority/path?query", which RFC 9112
 * 3.2.2 says a server must accept); the path starts at *path_start. */
static int target_ok(const char *target, size_t len, size_t *path_start) {
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)target[i];
    if (c <= 0x20 || c >= 0x7F || c == '#')
      return 0; /* not printable ASCII, or a fragment, which is never sent */
  }
  *path_start = 0;
  if (len > 0 && target[0] == '/')
    return 1;
  size_t scheme = len >= 7 && strncasecmp(target, "http://", 7) == 0    ? 7
                  : len >= 8 && strncasecmp(target, "https://", 8) == 0 ? 8
                                                                        : 0;
  if (!scheme)
    return 0; /* asterisk-form, authority-form or a relative reference */
  size_t at = scheme;
  while (at < len && target[at] != '/' && target[at] != '?')
    at++;
  if (at == scheme || !host_ok(target + scheme, at - scheme))
    return 0;
  *path_start = at;
  return 1;
}

int tg_framing_check(const tg_framing_t *f, int http_major, int http_minor, int has_content_length, const char *target,
                     size_t target_len, size_t *path_start) {
  if (http_major == 0)
    return 400; /* HTTP/0.9 */
  if (http_major != 1 || http_minor > 1)
    return 505;
  /* RFC 9112 3.2: at most one Host, and a valid one. A request without any is still served:
   * nothing here routes on it, and some embedded clients leave it out. */
  if (f->hosts > 1 || f->bad_host)
    return 400;
  if (f->transfer_encodings > 1 || f->bad_transfer_coding || (f->transfer_encodings && has_content_length))
    return 400;
  if (f->transfer_encodings && http_minor == 0)
    return 400; /* RFC 9112 6.1: HTTP/1.0 has no transfer codings; its framing is faulty */
  return target_ok(target, target_len, path_start) ? 0 : 400;
}

void tg_framing_chunks_begin(tg_framing_t *f, unsigned long long max_body) {
  f->chunk_state = CHUNK_SIZE_FIRST;
  f->chunk_left = 0;
  f->chunk_total = max_body; /* counts down: what the chunks may still declare */
  f->chunk_line_bytes = 0;
}

/* One byte of a chunk-size line: returns 0 or a status. */
static int size_line_byte(tg_framing_t *f, unsigned char c) {
  if (++f->chunk_line_bytes > MAX_CHUNK_LINE)
    return 400;
  int digit = hex_value(c);
  switch (f->chunk_state) {
  case CHUNK_SIZE_FIRST:
    if (digit < 0)
      return 400;
    f->chunk_left = (unsigned long long)digit;
    f->chunk_state = CHUNK_SIZE;
    return 0;
  case CHUNK_SIZE:
    if (digit >= 0) {
      if (f->chunk_left > ULLONG_MAX >> 4)
        return 400; /* not a number we can hold: malformed rather than merely too large */
      f->chunk_left = f->chunk_left * 16 + (unsigned long long)digit;
      return 0;
    }
    break;
  case CHUNK_EXT:
    if (tchar(c) || c == '=' || c == ';')
      return 0; /* name=value pairs of tokens; quoted values are refused with everything else */
    break;
  }
  if (c == ';')
    f->chunk_state = CHUNK_EXT;
  else if (c == '\r')
    f->chunk_state = CHUNK_SIZE_LF;
  else
    return 400;
  return f->chunk_left > f->chunk_total ? 413 : 0; /* the body would pass its limit */
}

int tg_framing_chunks(tg_framing_t *f, const char *data, size_t len, size_t *used) {
  size_t i = 0;
  while (i < len) {
    unsigned char c = (unsigned char)data[i];
    switch (f->chunk_state) {
    case CHUNK_DATA: {
      size_t take = f->chunk_left < len - i ? (size_t)f->chunk_left : len - i;
      f->chunk_left -= take;
      i += take;
      if (f->chunk_left == 0)
        f->chunk_state = CHUNK_DATA_CR;
      continue;
    }
    case CHUNK_SIZE_LF:
      if (c != '\n')
        return 400;
      f->chunk_total -= f->chunk_left;
      f->chunk_line_bytes = 0;
      f->chunk_state = f->chunk_left ? CHUNK_DATA : CHUNK_END_CR;
      break;
    case CHUNK_DATA_CR:
      if (c != '\r')
        return 400; /* the data is longer than its size said */
      f->chunk_state = CHUNK_DATA_LF;
      break;
    case CHUNK_END_CR:
      if (c != '\r')
        return 400; /* a trailer field: not accepted here */
      f->chunk_state = CHUNK_END_LF;
      break;
    case CHUNK_DATA_LF:
      if (c != '\n')
        return 400;
      f->chunk_state = CHUNK_SIZE_FIRST;
      break;
    case CHUNK_END_LF:
      if (c != '\n')
        return 400;
      f->chunk_state = CHUNK_DONE;
      *used = i + 1;
      return 1;
    case CHUNK_DONE: return 400; /* llhttp saw the body end elsewhere: never parse on after a disagreement */
    default: {
      int status = size_line_byte(f, c);
      if (status)
        return status;
    }
    }
    i++;
  }
  *used = len;
  return 0;
}
