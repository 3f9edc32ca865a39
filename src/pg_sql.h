/* pg_sql.h: the runtime's SQL, written for SQLite, as PostgreSQL takes it. The runtime's Lua
 * modules write one text for both stores; the few SQLite spellings they use are rewritten here,
 * mechanically: parameters (? and ?N become $N) and index hints (INDEXED BY name, which
 * PostgreSQL's planner does not take, goes). Everything else is the same text. */
#ifndef TG_PG_SQL_H
#define TG_PG_SQL_H

#include <stddef.h>

/* Writes the PostgreSQL text of sql (len bytes) into a new NUL-terminated string the caller
 * frees, and the number of parameters it takes into *nparams. NULL when out of memory. */
char *tg_pg_sql_translate(const char *sql, size_t len, int *nparams);

#endif
