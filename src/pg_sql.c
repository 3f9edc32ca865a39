/* pg_sql.c: SQLite's spellings in the runtime's SQL, rewritten for PostgreSQL (see pg_sql.h). */
#include "pg_sql.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int word_char(char c) { return isalnum((unsigned char)c) || c == '_'; }

/* Does the keyword `word` start at sql[i], as a whole word? */
static int keyword_at(const char *sql, size_t len, size_t i, const char *word) {
  size_t n = strlen(word);
  return i + n <= len && strncasecmp(sql + i, word, n) == 0 && (i == 0 || !word_char(sql[i - 1])) &&
         (i + n == len || !word_char(sql[i + n]));
}

static size_t skip_space(const char *sql, size_t len, size_t i) {
  while (i < len && isspace((unsigned char)sql[i]))
    i++;
  return i;
}

/* The end of the quoted text that starts at sql[i] (a doubled quote stays inside). */
static size_t quoted_end(const char *sql, size_t len, size_t i) {
  char quote = sql[i];
  for (i++; i < len; i++)
    if (sql[i] == quote) {
      if (i + 1 < len && sql[i + 1] == quote)
        i++;
      else
        return i + 1;
    }
  return len;
}

char *tg_pg_sql_translate(const char *sql, size_t len, int *nparams) {
  /* "?" becomes at most "$65535": 6 bytes for 1 */
  char *out = malloc(len * 6 + 1);
  if (!out)
    return NULL;
  size_t o = 0;
  int highest = 0;
  for (size_t i = 0; i < len;) {
    char c = sql[i];
    if (c == '\'' || c == '"') {
      size_t end = quoted_end(sql, len, i);
      memcpy(out + o, sql + i, end - i);
      o += end - i, i = end;
    } else if (c == '?') {
      /* ?N is parameter N; a bare ? the one after the highest so far (as SQLite numbers them) */
      size_t digits = i + 1;
      long number = 0;
      while (digits < len && isdigit((unsigned char)sql[digits]) && number < 100000)
        number = number * 10 + (sql[digits++] - '0');
      int n = digits > i + 1 ? (int)number : highest + 1;
      if (n > highest)
        highest = n;
      o += (size_t)sprintf(out + o, "$%d", n);
      i = digits;
    } else if (keyword_at(sql, len, i, "INDEXED") && keyword_at(sql, len, skip_space(sql, len, i + 7), "BY")) {
      size_t name = skip_space(sql, len, skip_space(sql, len, i + 7) + 2);
      while (name < len && word_char(sql[name]))
        name++;
      i = name; /* the hint and its index name go; the space before it stays */
    } else {
      out[o++] = c, i++;
    }
  }
  out[o] = '\0';
  *nparams = highest;
  return out;
}
