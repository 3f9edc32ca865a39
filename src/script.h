/* script.h: the Lua state that runs the runtime and the rules: lifecycle, sandbox, limits, and
 * the one protected-call gate every call from C into Lua goes through. */
#ifndef TG_SCRIPT_H
#define TG_SCRIPT_H

#include <lua.h>
#include <stddef.h>

#include "store.h"

typedef struct tg_script_config_s {
  const char *runtime_dir; /* the lua/ directory holding the taskgate modules */
  const char *rules_dir;
  tg_store_t *store;      /* not owned; must outlive the script */
  size_t memory_limit;    /* bytes the Lua state may hold */
  unsigned time_limit_ms; /* Lua time one call may take */
} tg_script_config_t;

typedef struct tg_script_s tg_script_t;

/* Builds a state, loads the runtime and every rule. Returns it, or NULL with every problem
 * (file:line and reason) in err. The caller owns it: tg_script_free. */
tg_script_t *tg_script_new(const tg_script_config_t *config, char *err, size_t errcap);
void tg_script_free(tg_script_t *script);

/* The gate: runs fn(L) with ud as its only argument under the time limit, with a traceback on
 * error. Returns 0, or -1 after logging the error (the stack is left as it was). */
int tg_script_call(tg_script_t *script, lua_CFunction fn, void *ud);

/* Pushes the runtime's host module (taskgate.host) onto L. */
void tg_script_push_host(tg_script_t *script, lua_State *L);
lua_State *tg_script_state(tg_script_t *script);

#endif
