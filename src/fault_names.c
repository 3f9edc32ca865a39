/* fault_names.c: fault code -> name, filled from the runtime's fault table when rules load. */
#include "fault_names.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

enum { FIRST_CODE = 1000, CODES = 1000, NAME_BYTES = 48 };

/* Written when a generation loads (any worker), read for each faulted call: one lock. */
static pthread_mutex_t names_lock = PTHREAD_MUTEX_INITIALIZER;
static char names[CODES][NAME_BYTES];

void tg_fault_names_set(int code, const char *name) {
  if (code < FIRST_CODE || code >= FIRST_CODE + CODES)
    return;
  pthread_mutex_lock(&names_lock);
  snprintf(names[code - FIRST_CODE], NAME_BYTES, "%s", name);
  pthread_mutex_unlock(&names_lock);
}

void tg_fault_names_get(const char *outcome, char *out, size_t cap) {
  int code = 0;
  out[0] = '\0';
  for (int i = 0; i < 4; i++) { /* exactly four digits */
    if (outcome[i] < '0' || outcome[i] > '9')
      return;
    code = code * 10 + (outcome[i] - '0');
  }
  if (outcome[4] != '\0' || code < FIRST_CODE || code >= FIRST_CODE + CODES)
    return;
  pthread_mutex_lock(&names_lock);
  snprintf(out, cap, "%s", names[code - FIRST_CODE]);
  pthread_mutex_unlock(&names_lock);
}
