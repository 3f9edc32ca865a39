/* floor.c: the floor's gauges, each read from what the store keeps small: the port table (one
 * row per open port), category_counts (kept by triggers), the tasks at a port (an index), and
 * the first entry of the pickable groups' index. */
#include "floor.h"

#include <string.h>

#include "admin_sql.h"

/* Steps stmt to its end, calling row for each row; resets it. */
static void each_row(tg_store_t *store, const char *sql, void (*row)(sqlite3_stmt *, void *), void *ctx) {
  sqlite3_stmt *stmt = tg_store_prepare(store, sql, strlen(sql));
  if (!stmt)
    return;
  while (sqlite3_step(stmt) == SQLITE_ROW)
    row(stmt, ctx);
  sqlite3_reset(stmt);
}

typedef struct ports_s {
  tg_buf_t *open, *seconds, *bin;
  double now;
} ports_t;

static void port_row(sqlite3_stmt *stmt, void *ctx) {
  ports_t *ports = ctx;
  long long port_id = sqlite3_column_int64(stmt, 0);
  const unsigned char *mode = sqlite3_column_text(stmt, 1);
  char clean[24] = "";
  for (size_t i = 0; mode && mode[i] && i < sizeof clean - 1; i++) /* modes are words; keep them so */
    clean[i] = (mode[i] >= 'A' && mode[i] <= 'Z') || (mode[i] >= 'a' && mode[i] <= 'z') ? (char)mode[i] : '_';
  double opened = sqlite3_column_type(stmt, 2) == SQLITE_NULL ? ports->now : (double)sqlite3_column_int64(stmt, 2);
  tg_buf_printf(ports->open, "taskgate_port_open{port_id=\"%lld\",port_mode=\"%s\"} 1\n", port_id, clean);
  tg_buf_printf(ports->seconds, "taskgate_port_open_seconds{port_id=\"%lld\"} %.0f\n", port_id,
                ports->now > opened ? ports->now - opened : 0);
  tg_buf_printf(ports->bin, "taskgate_port_bin_open{port_id=\"%lld\"} %d\n", port_id, sqlite3_column_int(stmt, 3));
}

static void ports(tg_store_t *store, tg_buf_t *out, double now) {
  tg_buf_t seconds = {0}, bin = {0};
  ports_t rows = {.open = out, .seconds = &seconds, .bin = &bin, .now = now};
  tg_buf_puts(out, "# HELP taskgate_port_open 1 for each open port, with its mode.\n# TYPE taskgate_port_open gauge\n");
  each_row(store, TG_SQL_PORTS, port_row, &rows);
  tg_buf_puts(out, "# HELP taskgate_port_open_seconds How long each open port has been open.\n"
                   "# TYPE taskgate_port_open_seconds gauge\n");
  tg_buf_append(out, seconds.data ? seconds.data : "", seconds.len);
  tg_buf_puts(out, "# HELP taskgate_port_bin_open 1 while an open port has a bin open for picking.\n"
                   "# TYPE taskgate_port_bin_open gauge\n");
  tg_buf_append(out, bin.data ? bin.data : "", bin.len);
  tg_buf_free(&seconds);
  tg_buf_free(&bin);
}

enum { CATEGORIES = 256 }; /* categories shown; a site has a handful */

typedef struct category_s {
  long long category, groups, tasks, groups_at_port, tasks_at_port;
} category_t;

typedef struct categories_s {
  category_t list[CATEGORIES];
  int count;
} categories_t;

static void count_row(sqlite3_stmt *stmt, void *ctx) {
  categories_t *c = ctx;
  if (c->count < CATEGORIES)
    c->list[c->count++] = (category_t){.category = sqlite3_column_int64(stmt, 0),
                                       .groups = sqlite3_column_int64(stmt, 1),
                                       .tasks = sqlite3_column_int64(stmt, 2)};
}

static void at_port_row(sqlite3_stmt *stmt, void *ctx) {
  categories_t *c = ctx;
  for (int i = 0; i < c->count; i++)
    if (c->list[i].category == sqlite3_column_int64(stmt, 0)) {
      c->list[i].groups_at_port = sqlite3_column_int64(stmt, 1);
      c->list[i].tasks_at_port = sqlite3_column_int64(stmt, 2);
    }
}

/* Waiting: in the store and not at a port. */
static void waiting(tg_store_t *store, tg_buf_t *out) {
  categories_t c = {.count = 0}; /* 10 KB: the admin views run on the main loop's stack */
  each_row(store, TG_SQL_CATEGORY_COUNTS, count_row, &c);
  each_row(store, TG_SQL_AT_PORTS, at_port_row, &c);
  tg_buf_puts(out, "# HELP taskgate_tasks_waiting Tasks in the store not at a port, by category.\n"
                   "# TYPE taskgate_tasks_waiting gauge\n");
  for (int i = 0; i < c.count; i++)
    tg_buf_printf(out, "taskgate_tasks_waiting{category=\"%lld\"} %lld\n", c.list[i].category,
                  c.list[i].tasks - c.list[i].tasks_at_port);
  tg_buf_puts(out, "# HELP taskgate_taskgroups_waiting Task groups in the store none of whose tasks is at a port, by "
                   "category.\n# TYPE taskgate_taskgroups_waiting gauge\n");
  for (int i = 0; i < c.count; i++)
    tg_buf_printf(out, "taskgate_taskgroups_waiting{category=\"%lld\"} %lld\n", c.list[i].category,
                  c.list[i].groups - c.list[i].groups_at_port);
}

static void oldest_row(sqlite3_stmt *stmt, void *ctx) {
  if (sqlite3_column_type(stmt, 0) != SQLITE_NULL)
    *(double *)ctx = (double)sqlite3_column_int64(stmt, 0);
}

void tg_floor_metrics(tg_store_t *store, tg_buf_t *out, double now) {
  ports(store, out, now);
  waiting(store, out);
  double oldest = now;
  each_row(store, TG_SQL_OLDEST_PICKABLE, oldest_row, &oldest);
  tg_buf_printf(out,
                "# HELP taskgate_oldest_waiting_task_age_seconds How long the oldest group a port may pick has "
                "waited since its req_time (0: none waits).\n"
                "# TYPE taskgate_oldest_waiting_task_age_seconds gauge\n"
                "taskgate_oldest_waiting_task_age_seconds %.0f\n",
                now > oldest ? now - oldest : 0);
}
