/* commands.h: the one-shot subcommands: audit, check, reload, status, backup, restore. */
#ifndef TG_COMMANDS_H
#define TG_COMMANDS_H

#include "cli.h"

/* Each returns the process exit status. */
int tg_command_audit(const tg_config_t *config);
int tg_command_check(const tg_config_t *config, const char *runtime_dir);
int tg_command_reload(const tg_config_t *config);
int tg_command_status(const tg_config_t *config);
/* replay.c: replay --rules DIR, try METHOD KEY=VALUE..., and check DIR --replay N's second half. */
int tg_command_replay(const tg_config_t *config, const char *runtime_dir);
int tg_command_try(const tg_config_t *config, const char *runtime_dir);
int tg_command_check_replay(const tg_config_t *config, const char *runtime_dir, const char *dir);
/* site_test.c: test DIR. */
int tg_command_test(const tg_config_t *config, const char *runtime_dir);
/* backup.c */
int tg_command_backup(const tg_config_t *config);
int tg_command_restore(const tg_config_t *config);
/* taskgate migrate-store URI: copies the SQLite store into an empty PostgreSQL database
 * (migrate_store.c). */
int tg_command_migrate_store(const tg_config_t *config);

/* Writes the pid file's path for config into buf: --pid-file, or the store path with ".pid".
 * Returns 0, or -1 when it does not fit. */
int tg_command_pid_file(const tg_config_t *config, char *buf, size_t cap);

#endif
