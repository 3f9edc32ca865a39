/* log.h: one logfmt line per event on stderr (or --log-file), written with a single write(2). */
#ifndef TG_LOG_H
#define TG_LOG_H

#include <stddef.h>

enum { TG_LOG_DEBUG, TG_LOG_INFO, TG_LOG_WARN, TG_LOG_ERROR, TG_LOG_OFF };

/* Writes lines as JSON objects instead of logfmt. */
void tg_log_set_json(int json);
/* Sets the lowest level that is written. */
void tg_log_set_level(int level);
/* Parses "debug", "info", "warn", "error" or "off"; returns the level or -1. */
int tg_log_level_parse(const char *name);
/* Returns 1 when a line at this level would be written. */
int tg_log_enabled(int level);
/* Writes "ts=... level=... event=EVENT " followed by the formatted key=value pairs. */
void tg_log(int level, const char *event, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Sends every line (and anything else written to stderr) to the file at path, appended, from
 * now on. Returns 0, or -1 with a message in err. */
int tg_log_to_file(const char *path, char *err, size_t errcap);
/* Opens the log file's path again (after logrotate moved the file away) and writes there from
 * now on. Returns 0 (also when there is no log file), or -1 with a message in err; the old file
 * is still written then. */
int tg_log_reopen(char *err, size_t errcap);
/* Writes s into out (of size cap) as a logfmt value: quoted and escaped when needed. */
void tg_log_quote(char *out, size_t cap, const char *s, size_t len);

#endif
