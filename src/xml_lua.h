/* xml_lua.h: decoded methodcalls become Lua tables; reply tables become XML bytes. */
#ifndef TG_XML_LUA_H
#define TG_XML_LUA_H

#include <lua.h>

#include "xml.h"

/* Pushes the call table {name=, params=, malformed=} for a decoded document. root may be NULL,
 * in which case why (the decoder's reason) becomes `malformed`. With `ordered` (a call that may
 * be forwarded), tables of several names keep their document order for the encoders (an
 * __order metafield). May raise (memory). */
void tg_xml_lua_push_call(lua_State *L, const tg_xml_node_t *root, const char *why, int ordered);

/* Pushes what xml.decode_document(bytes) returns: the root element's name and value, or nil
 * and the reason. May raise (memory). */
void tg_xml_lua_push_document(lua_State *L, const char *bytes, size_t len);

/* The `taskgate.xml` module: encode(reply) -> XML document string; decode(bytes) -> call table;
 * decode_document(bytes) -> root name and value; name_ok(name) -> whether encode writes it. */
int tg_xml_lua_open(lua_State *L);

#endif
