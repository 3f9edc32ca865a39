/* admin_client.h: the one-shot commands' side of the admin address: one GET to the gateway a
 * configuration describes. */
#ifndef TG_ADMIN_CLIENT_H
#define TG_ADMIN_CLIENT_H

#include <stddef.h>

#include "buf.h"
#include "cli.h"

/* GETs path from config's admin address (a wildcard host means this machine), with the bearer
 * token of config->admin_token_file when it names one. Returns the HTTP status with the body
 * appended to body (the caller frees it), or -1 with a message in err. */
int tg_admin_fetch(const tg_config_t *config, const char *path, tg_buf_t *body, char *err, size_t errcap);

/* Writes "HOST:PORT" of config's admin address into out (for messages). */
void tg_admin_address(const tg_config_t *config, char *out, size_t cap);

#endif
