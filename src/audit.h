/* audit.h: reading the audit trail back out of the store. */
#ifndef TG_AUDIT_H
#define TG_AUDIT_H

#include <stdio.h>

#include "cli.h"
#include "store.h"

/* Writes the audit records that filter lets through, oldest first, to out: one JSON object per
 * line, or CSV with a header line when filter->csv. Returns 0, or -1 with a message on stderr. */
int tg_audit_print(tg_store_t *store, const tg_audit_query_t *filter, FILE *out);
/* Turns an --since/--until value into the audit trail's UTC time text (YYYY-MM-DDThh:mm:ssZ)
 * in iso: a date (YYYY-MM-DD), a date and time (YYYY-MM-DDThh:mm:ss[Z] or with a space), or a
 * time ago (30s, 15m, 1h, 7d before now, itself in seconds since the epoch). Returns 0, or -1
 * when text is none of these or no real date. */
int tg_audit_parse_time(const char *text, long long now, char *iso, size_t cap);

#endif
