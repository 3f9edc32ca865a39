/* log.c: logfmt lines on stderr; each line is one write(2) so lines never interleave. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "redact.h"

static int min_level = TG_LOG_INFO;
static int json_lines;

void tg_log_set_json(int json) { json_lines = json; }
static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

void tg_log_set_level(int level) { min_level = level; }

int tg_log_level_parse(const char *name) {
  for (int i = 0; i <= TG_LOG_OFF; i++)
    if (strcmp(name, level_names[i]) == 0)
      return i;
  return -1;
}

int tg_log_enabled(int level) { return level >= min_level && level < TG_LOG_OFF; }

/* Rewrites one logfmt line (key=value or key="quoted value" pairs, as tg_log_quote writes them)
 * as a JSON object with a trailing newline. Values stay strings. */
static const char *logfmt_to_json(const char *line, char *json, size_t cap) {
  size_t o = 0;
#define PUT(c)                                                                                                         \
  do {                                                                                                                 \
    if (o + 3 < cap)                                                                                                   \
      json[o++] = (c);                                                                                                 \
  } while (0)
  PUT('{');
  const char *p = line;
  int first = 1;
  while (*p) {
    while (*p == ' ')
      p++;
    if (!*p)
      break;
    if (!first)
      PUT(',');
    first = 0;
    PUT('"');
    while (*p && *p != '=' && *p != ' ')
      PUT(*p++);
    PUT('"');
    PUT(':');
    PUT('"');
    if (*p == '=')
      p++;
    if (*p == '"') { /* a quoted value: \" and \\ are already JSON escapes; \n too */
      p++;
      while (*p && *p != '"') {
        if (*p == '\\' && p[1]) {
          PUT(*p++);
        }
        PUT(*p++);
      }
      if (*p == '"')
        p++;
    } else {
      while (*p && *p != ' ')
        PUT(*p++);
    }
    PUT('"');
  }
#undef PUT
  json[o++] = '}';
  json[o++] = '\n';
  json[o] = '\0';
  return json;
}

void tg_log(int level, const char *event, const char *fmt, ...) {
  if (!tg_log_enabled(level))
    return;
  char line[4096];
  struct timeval now;
  gettimeofday(&now, NULL);
  struct tm tm;
  gmtime_r(&now.tv_sec, &tm);
  int n = snprintf(line, sizeof line, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03dZ level=%s event=%s ", tm.tm_year + 1900,
                   tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(now.tv_usec / 1000),
                   level_names[level], event);
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
  va_end(ap);
  size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
  if (len > sizeof line - 2)
    len = sizeof line - 2; /* an over-long line is cut, never split */
  while (len > 0 && line[len - 1] == ' ')
    len--;
  line[len] = '\0';
  char masked[sizeof line];
  if (strstr(line, "://")) { /* a URL's credentials never reach a log (redact.h) */
    tg_redact(line, masked, sizeof masked - 1);
    len = strlen(memcpy(line, masked, strlen(masked) + 1));
  }
  char json[8192];
  const char *out = line;
  if (json_lines)
    len = strlen(out = logfmt_to_json(line, json, sizeof json));
  else
    line[len++] = '\n';
  ssize_t ignored = write(STDERR_FILENO, out, len);
  (void)ignored;
}

static char log_path[4096]; /* --log-file, or "" for stderr as it was given */

/* The file becomes stderr through dup2, which swaps the descriptor in one step: a line being
 * written meanwhile by another thread lands whole in the old file or the new one. */
int tg_log_to_file(const char *path, char *err, size_t errcap) {
  int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0)
    return snprintf(err, errcap, "cannot open log file %s: %s", path, strerror(errno)), -1;
  int rc = dup2(fd, STDERR_FILENO);
  close(fd);
  if (rc < 0)
    return snprintf(err, errcap, "cannot log to %s: %s", path, strerror(errno)), -1;
  snprintf(log_path, sizeof log_path, "%s", path);
  return 0;
}

int tg_log_reopen(char *err, size_t errcap) {
  char path[sizeof log_path];
  snprintf(path, sizeof path, "%s", log_path);
  return path[0] ? tg_log_to_file(path, err, errcap) : 0;
}

void tg_log_quote(char *out, size_t cap, const char *s, size_t len) {
  int plain = len > 0;
  for (size_t i = 0; i < len && plain; i++)
    if (s[i] <= ' ' || s[i] == '"' || s[i] == '=' || s[i] == '\\' || s[i] == 0x7f)
      plain = 0;
  size_t o = 0;
  if (!plain && o + 1 < cap)
    out[o++] = '"';
  for (size_t i = 0; i < len && o + 3 < cap; i++) {
    unsigned char c = (unsigned char)s[i];
    if (plain) {
      out[o++] = (char)c;
    } else if (c == '"' || c == '\\') {
      out[o++] = '\\';
      out[o++] = (char)c;
    } else if (c == '\n' || c == '\t' || c == '\r') { /* a traceback's lines and indents, as JSON writes them */
      out[o++] = '\\';
      out[o++] = c == '\n' ? 'n' : c == '\t' ? 't' : 'r';
    } else if (c < ' ' || c == 0x7f) {
      out[o++] = '?'; /* control bytes would break the one-line guarantee */
    } else {
      out[o++] = (char)c;
    }
  }
  if (!plain && o + 1 < cap)
    out[o++] = '"';
  out[o < cap ? o : cap - 1] = '\0';
}
