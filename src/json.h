/* json.h: JSON methodcalls in, as the same element tree the XML decoder makes. No Lua here. */
#ifndef TG_JSON_H
#define TG_JSON_H

#include <stddef.h>

#include "arena.h"
#include "xml.h"

/* Decodes {"method": ..., "params": {...}} into a <methodcall> tree allocated in arena: "method"
 * becomes <name>, each member of "params" an element (an array repeats it; null leaves it out;
 * scalars become their text). Returns the root, or NULL with a short reason in *why (a static
 * string) for malformed JSON, a duplicate key, invalid UTF-8, a lone surrogate, too deep
 * nesting or too many elements. */
tg_xml_node_t *tg_json_decode(tg_arena_t *arena, const char *bytes, size_t len, const char **why);
/* Returns 1 when the first byte after blanks (and a UTF-8 byte-order mark) opens a JSON object
 * or array: the body is a JSON methodcall, whatever its Content-Type says. */
int tg_json_is_likely(const char *bytes, size_t len);

#endif
