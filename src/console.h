/* console.h: the read-only web console: its page and assets, a JSON endpoint behind each view
 * (/console/api/...) and the live event stream, on the admin address (or an address of its
 * own). Nothing it answers changes anything. Runs on the main loop. */
#ifndef TG_CONSOLE_H
#define TG_CONSOLE_H

#include <uv.h>

#include "admin.h"
#include "http.h"

typedef struct tg_console_s tg_console_t;

/* Reads the page's assets from assets_dir (index.html, console.css, console.js) and Chart.js
 * from chart_path (libjs-chart.js; when it cannot be read the health view draws no chart), and
 * starts the live feed on loop. token ("" for none) is the console's own password; the admin
 * token (admin->token) is accepted too. Returns the console, or NULL with err. */
tg_console_t *tg_console_new(uv_loop_t *loop, tg_admin_t *admin, const char *assets_dir, const char *chart_path,
                             const char *token, char *err, size_t errcap);
/* A tg_http_console_fn; ctx is a tg_console_t. */
int tg_console_answer(void *ctx, tg_http_t *h, tg_buf_t *body, const char **content_type, const char **headers);
/* A tg_http_stream_closed_fn; ctx is a tg_console_t. */
void tg_console_stream_closed(void *ctx, tg_http_t *h);
/* Ends every event stream and takes no new one (the gateway drains). */
void tg_console_stop(tg_console_t *console);
/* Wants token from now on (SIGHUP read the file again); returns 1 when it differs from before. */
int tg_console_token_changed(tg_console_t *console, const char *token);
/* Ends the open event streams (their clients come back, with the token they now hold). */
void tg_console_end_streams(tg_console_t *console);
/* Stops the feed; the memory goes once the loop has run its close callbacks. */
void tg_console_free(tg_console_t *console);

#endif
