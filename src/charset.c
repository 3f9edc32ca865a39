/* charset.c: names of the two encodings the task interface documents (UTF-8, ISO-8859-1). The
 * Content-Type's charset and the XML declaration's encoding are judged by this one list. */
#include "charset.h"

#include <string.h>
#include <strings.h>

static const char *const utf8_names[] = {"utf-8", "utf8", "us-ascii", "ascii"};
static const char *const latin1_names[] = {"iso-8859-1", "iso8859-1",  "iso_8859-1", "latin1", "latin-1",
                                           "l1",         "iso-ir-100", "cp819",      "ibm819"};

static int listed(const char *name, size_t len, const char *const *names, size_t count) {
  for (size_t i = 0; i < count; i++)
    if (len == strlen(names[i]) && strncasecmp(name, names[i], len) == 0)
      return 1;
  return 0;
}

int tg_charset_named(const char *name, size_t len) {
  if (listed(name, len, utf8_names, sizeof utf8_names / sizeof utf8_names[0]))
    return TG_CHARSET_UTF8;
  if (listed(name, len, latin1_names, sizeof latin1_names / sizeof latin1_names[0]))
    return TG_CHARSET_LATIN1;
  return TG_CHARSET_OTHER;
}

/* Copies name (len bytes) to out when it is a token that names a charset other than UTF-8. */
static void keep_name(const char *name, size_t len, char *out, size_t cap) {
  out[0] = '\0';
  if (len == 0 || len >= cap || tg_charset_named(name, len) == TG_CHARSET_UTF8)
    return;
  for (size_t i = 0; i < len; i++) {
    char c = name[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr("!#$%&'*+-.^_`|~", c)))
      return;
  }
  memcpy(out, name, len);
  out[len] = '\0';
}

/* The charset parameter's value in a Content-Type, or NULL. */
static const char *charset_parameter(const char *type, size_t *len) {
  for (const char *p = strchr(type, ';'); p; p = strchr(p + 1, ';')) {
    p++;
    while (*p == ' ' || *p == '\t')
      p++;
    if (strncasecmp(p, "charset=", 8) != 0)
      continue;
    const char *name = p + 8;
    if (*name == '"')
      name++;
    *len = strcspn(name, "\"; \t");
    return name;
  }
  return NULL;
}

/* The encoding its XML declaration names, or NULL. */
static const char *declared_encoding(const char *bytes, size_t len, size_t *name_len) {
  if (len < 6 || memcmp(bytes, "<?xml", 5) != 0)
    return NULL;
  size_t end = 0;
  while (end + 1 < len && end < 256 && !(bytes[end] == '?' && bytes[end + 1] == '>'))
    end++;
  for (size_t i = 5; i + 8 < end; i++) {
    if (memcmp(bytes + i, "encoding", 8) != 0)
      continue;
    size_t at = i + 8;
    while (at < end && (bytes[at] == ' ' || bytes[at] == '=' || bytes[at] == '\t'))
      at++;
    if (at >= end || (bytes[at] != '"' && bytes[at] != '\''))
      return NULL;
    char quote = bytes[at++];
    size_t n = 0;
    while (at + n < end && bytes[at + n] != quote)
      n++;
    *name_len = n;
    return bytes + at;
  }
  return NULL;
}

void tg_charset_of_document(const char *content_type, const char *bytes, size_t len, char *out, size_t cap) {
  size_t name_len = 0;
  const char *name = content_type ? charset_parameter(content_type, &name_len) : NULL;
  if (!name)
    name = declared_encoding(bytes, len, &name_len);
  if (name)
    keep_name(name, name_len, out, cap);
  else
    out[0] = '\0';
}
