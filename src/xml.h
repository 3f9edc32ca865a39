/* xml.h: methodcall bytes in (libxml2 SAX2, no DTDs ever), reply bytes out. No Lua here. */
#ifndef TG_XML_H
#define TG_XML_H

#include <stddef.h>

#include "arena.h"
#include "buf.h"

typedef struct tg_xml_node_s tg_xml_node_t;

/* An element: its name, its text (when it has no child elements) and its children in order. */
struct tg_xml_node_s {
  const char *name;
  const char *text; /* NUL-terminated, UTF-8; "" for an empty element */
  size_t text_len;
  tg_xml_node_t *first_child;
  tg_xml_node_t *last_child;
  tg_xml_node_t *next;
  int listed; /* an element of a JSON array: a list even when it is the array's only one */
};

enum {
  TG_XML_MAX_DEPTH = 32,
  TG_XML_MAX_NODES = 100000,
  TG_XML_MAX_ATTRIBUTES = 64, /* per element, namespace declarations included */
  TG_XML_MAX_NAMESPACES = 32, /* declarations per document */
};

/* Installs the deny-all external entity loader and silences libxml2's own error printing.
 * Call once before any parsing. */
void tg_xml_init(void);
/* Silences libxml2's error printing in a further thread (the handlers are per thread). */
void tg_xml_thread_init(void);

/* Decodes an XML document into a tree allocated in arena. Returns the root element, or NULL
 * with a short reason in *why (a static string) for malformed input, any DOCTYPE or entity
 * declaration, too deep nesting, too many elements, attributes or namespace declarations, an
 * encoding other than UTF-8 and ISO-8859-1, or a namespace prefix. */
tg_xml_node_t *tg_xml_decode(tg_arena_t *arena, const char *bytes, size_t len, const char **why);
/* The same, reading the bytes in `encoding` (a libxml2 encoding name, e.g. "ISO-8859-1", from
 * the request's Content-Type charset, which decides over the XML declaration: RFC 7303), or as
 * the document itself says when encoding is NULL. */
tg_xml_node_t *tg_xml_decode_as(tg_arena_t *arena, const char *bytes, size_t len, const char *encoding,
                                const char **why);

/* Length of the valid UTF-8 sequence at s (1..4, at most left bytes), or 0 when it is not valid
 * (overlong forms and surrogates included). */
size_t tg_xml_utf8_length(const unsigned char *s, size_t left);
/* Returns 1 when name is a plain XML element name we are willing to emit. */
int tg_xml_name_ok(const char *name, size_t len);
/* Appends text with &, <, >, " and ' escaped; invalid UTF-8 and control bytes become U+FFFD. */
int tg_xml_escape(tg_buf_t *out, const char *text, size_t len);
/* The same for text that must arrive as it is (a call forwarded upstream): returns -2 with the
 * reason in *why (a static string) at the first thing XML 1.0 cannot carry, -1 out of memory. */
int tg_xml_escape_exact(tg_buf_t *out, const char *text, size_t len, const char **why);

#endif
