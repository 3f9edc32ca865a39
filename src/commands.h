/* commands.h: the one-shot subcommands: audit, check, reload, status. */
#ifndef TG_COMMANDS_H
#define TG_COMMANDS_H

#include "cli.h"

/* Each returns the process exit status. */
int tg_command_audit(const tg_config_t *config);
int tg_command_check(const tg_config_t *config, const char *runtime_dir);
int tg_command_reload(const tg_config_t *config);
int tg_command_status(const tg_config_t *config);
int tg_command_backup(const tg_config_t *config);

/* The pid file path for config (explicit, or the store path with ".pid"). */
const char *tg_command_pid_file(const tg_config_t *config, char *buf, size_t cap);

#endif
