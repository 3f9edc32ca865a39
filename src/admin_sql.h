/* admin_sql.h: every statement /status and /metrics run on the store, in one place so that a
 * spec checks their plans on a store of a million tasks (spec/integration/admin_at_scale_spec.lua):
 * each reads the kept counts (category_counts, kept by triggers), the port table or an index
 * of the tasks at ports, never the tasks or groups one by one. */
#ifndef TG_ADMIN_SQL_H
#define TG_ADMIN_SQL_H

/* /status: the store's totals, as sums over the categories' kept counts. */
#define TG_SQL_TASKGROUPS "SELECT coalesce(sum(taskgroups), 0) FROM category_counts"
#define TG_SQL_TASKS "SELECT coalesce(sum(tasks), 0) FROM category_counts"
#define TG_SQL_OPEN_PORTS "SELECT count(*) FROM port"
/* /metrics: the floor (floor.c). */
#define TG_SQL_PORTS "SELECT port_id, port_mode, opened_epoch, task_id IS NOT NULL FROM port ORDER BY port_id"
#define TG_SQL_CATEGORY_COUNTS                                                                                         \
  "SELECT category, taskgroups, tasks FROM category_counts WHERE taskgroups > 0 OR tasks > 0 ORDER BY category"
/* CROSS JOIN keeps the tasks at ports (the partial index task_selected) the outer loop: left to
 * itself SQLite went through every group by category and looked each up in that index. */
#define TG_SQL_AT_PORTS                                                                                                \
  "SELECT g.category, count(DISTINCT t.taskgroup_id), count(*) FROM task t "                                           \
  "CROSS JOIN taskgroup g ON g.taskgroup_id = t.taskgroup_id WHERE t.port_id IS NOT NULL GROUP BY g.category"
/* The first entry of taskgroup_ready_any: the groups a port may pick, oldest first. */
#define TG_SQL_OLDEST_PICKABLE                                                                                         \
  "SELECT min(req_epoch) FROM taskgroup WHERE suspended = 0 AND selected_by IS NULL AND waits = 0"

/* All of them, for the spec (taskgate_native's admin_statements). */
#define TG_ADMIN_SQL_ALL                                                                                               \
  {                                                                                                                    \
    TG_SQL_TASKGROUPS, TG_SQL_TASKS, TG_SQL_OPEN_PORTS, TG_SQL_PORTS, TG_SQL_CATEGORY_COUNTS, TG_SQL_AT_PORTS,         \
        TG_SQL_OLDEST_PICKABLE                                                                                         \
  }

#endif
