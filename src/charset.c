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
