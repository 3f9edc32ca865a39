/* fault_names.h: the name of each fault code, as lua/taskgate/faults.lua gives it, for the
 * call's log line and metric labels (1017 -> TASK_DOES_NOT_EXIST). */
#ifndef TG_FAULT_NAMES_H
#define TG_FAULT_NAMES_H

#include <stddef.h>

/* Records the name of code (1000..1999; others are ignored). Any thread. */
void tg_fault_names_set(int code, const char *name);
/* Copies into out the name of the fault whose code is the decimal text outcome; "" when outcome
 * is not a known code ("ok", a code outside the table). Any thread. */
void tg_fault_names_get(const char *outcome, char *out, size_t cap);

#endif
