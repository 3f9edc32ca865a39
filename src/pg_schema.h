/* pg_schema.h: the PostgreSQL store's migrations (pg_schema.c), applied in order by pg.c. */
#ifndef TG_PG_SCHEMA_H
#define TG_PG_SCHEMA_H

extern const char *const tg_pg_migrations[];
extern const int tg_pg_migration_count;

#endif
