/* framing.h: the strict HTTP/1.1 framing rules that llhttp 8.1.0 does not enforce: the shape of
 * the request line and target, the version, Host and Transfer-Encoding fields, and chunked
 * bodies. http.c applies them around llhttp; what they refuse gets its status and a close. */
#ifndef TG_FRAMING_H
#define TG_FRAMING_H

#include <stddef.h>

/* What the request's header fields said about framing, gathered as they arrive. */
typedef struct tg_framing_s {
  int request_line_spaces; /* SP bytes seen in the request line so far */
  int part_empty;          /* the request line's current part has no byte yet */
  int hosts;               /* Host fields */
  int bad_host;            /* a Host value that is not a uri-host[:port] */
  int transfer_encodings;  /* Transfer-Encoding fields */
  int bad_transfer_coding; /* a Transfer-Encoding value other than exactly "chunked" */
  /* The chunked body scan (see tg_framing_chunks). */
  int chunk_state;
  unsigned long long chunk_left; /* data bytes of the current chunk still to come */
  unsigned long long chunk_total;
  size_t chunk_line_bytes;
} tg_framing_t;

/* Resets f for a new request. */
void tg_framing_reset(tg_framing_t *f);

/* Checks n bytes of the request line (no CR or LF among them; a line may come in several
 * runs): single SPs between its three parts and none at its start. Returns 0, or 400. */
int tg_framing_request_line(tg_framing_t *f, const char *s, size_t n);
/* At the CR that ends the request line: it must have had a method, a target and a version.
 * Returns 0, or 400. */
int tg_framing_request_line_end(const tg_framing_t *f);

/* Notes a header field (name and value as received, the value's surrounding whitespace not yet
 * trimmed) that decides framing: Host and Transfer-Encoding. cut: the value was longer than
 * value_len (the caller keeps a prefix), which no valid Host or Transfer-Encoding is. */
void tg_framing_field(tg_framing_t *f, const char *name, size_t name_len, const char *value, size_t value_len, int cut);

/* At the end of the headers: the version (only HTTP/1.0 and HTTP/1.1; 505 for another
 * well-formed one), the request target (origin-form, or absolute-form with an http(s) scheme,
 * no fragment, printable ASCII only) and the fields noted above. On success returns 0 and sets
 * *path_start to where the target's path begins; otherwise returns the status to answer. */
int tg_framing_check(const tg_framing_t *f, int http_major, int http_minor, int has_content_length, const char *target,
                     size_t target_len, size_t *path_start);

/* Starts the scan of a chunked body. */
void tg_framing_chunks_begin(tg_framing_t *f, unsigned long long max_body);
/* Scans chunked body bytes ahead of llhttp: hex sizes with at most token-only extensions, each
 * line ended by CRLF, each chunk's data followed by exactly CRLF, no trailers, a final CRLF.
 * Returns 0 with *used = len when the body goes on past these bytes, 1 with *used = the bytes
 * up to and including the body's last byte, or an HTTP status (400, or 413 once the declared
 * sizes pass max_body). */
int tg_framing_chunks(tg_framing_t *f, const char *data, size_t len, size_t *used);

#endif
