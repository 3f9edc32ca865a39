/* read_only.c: which calls run on a read connection (see read_only.h). */
#include "read_only.h"

#include <string.h>

static int is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* Whether `key` ("\t<interface>:<name>\t") is one of the entries of `list` ("\t<entry>\t<entry>\t"):
 * compared entry by entry from one tab to the next, which costs a call a tenth of what a strstr
 * over the whole list did. */
static int listed(const char *list, size_t list_len, const char *key, size_t key_len) {
  const char *at = list, *end = list ? list + list_len : NULL;
  while (at && (size_t)(end - at) >= key_len) {
    if (memcmp(at, key, key_len) == 0)
      return 1;
    at = memchr(at + 1, '\t', (size_t)(end - at - 1));
  }
  return 0;
}

int tg_read_only_named(const char *list, size_t list_len, int bin, const char *text, size_t len) {
  while (len && is_space(*text))
    text++, len--;
  while (len && is_space(text[len - 1]))
    len--;
  char key[80] = "\t";
  const char *interface = bin ? "bin:" : "task:";
  size_t at = 1 + strlen(interface);
  if (len == 0 || at + len + 2 > sizeof key)
    return 0;
  memcpy(key + 1, interface, at - 1);
  for (size_t i = 0; i < len; i++) {
    char c = text[i];
    if (c == '\t' || c == ':' || c == '\0')
      return 0;
    key[at + i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
  }
  key[at + len] = '\t';
  return listed(list, list_len, key, at + len + 1);
}
