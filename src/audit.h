/* audit.h: reading the audit trail back out of the store. */
#ifndef TG_AUDIT_H
#define TG_AUDIT_H

#include <stdio.h>

#include "store.h"

/* Writes every audit record, oldest first, to out as one JSON object per line.
 * Returns 0, or -1 with a message on stderr. */
int tg_audit_print(tg_store_t *store, FILE *out);

#endif
