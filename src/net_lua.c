/* net_lua.c: `taskgate.net`, matching client addresses against networks (CIDR), IPv4 and IPv6
 * alike: an IPv4 address is read as its IPv4-mapped IPv6 form (::ffff:a.b.c.d), so 10.0.0.0/8
 * also matches a dual-stack listener's ::ffff:10.1.2.3. Parsing is inet_pton's. */
#include "net_lua.h"

#include <arpa/inet.h>
#include <lauxlib.h>
#include <string.h>

#include "view_lua.h"

typedef struct network_s {
  unsigned char bytes[16];
  int bits; /* the prefix length over all 128 bits (an IPv4 /8 is 104) */
} network_t;

enum { MATCHER_MAX = 4096 };

static const unsigned char V4_MAPPED[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* Reads an address ("10.1.2.3", "::1", "[::1]", "fe80::1%eth0") into out. Returns 4 or 6 for the
 * form it was written in, or 0 when it is no address. */
static int parse_address(const char *text, size_t len, unsigned char out[16]) {
  char buf[64];
  if (len >= 2 && text[0] == '[' && text[len - 1] == ']')
    text++, len -= 2;
  const char *zone = memchr(text, '%', len);
  if (zone)
    len = (size_t)(zone - text);
  if (len == 0 || len >= sizeof buf)
    return 0;
  memcpy(buf, text, len);
  buf[len] = '\0';
  if (inet_pton(AF_INET, buf, out + 12) == 1) {
    memcpy(out, V4_MAPPED, sizeof V4_MAPPED);
    return 4;
  }
  return inet_pton(AF_INET6, buf, out) == 1 ? 6 : 0;
}

/* Reads "address/prefix" (or a lone address: itself) into net, its host bits cleared. Returns 0,
 * or -1 when it is not a network. */
static int parse_network(const char *text, size_t len, network_t *net) {
  const char *slash = memchr(text, '/', len);
  int form = parse_address(text, slash ? (size_t)(slash - text) : len, net->bytes);
  if (!form)
    return -1;
  int max = form == 4 ? 32 : 128, bits = max;
  if (slash) {
    const char *digits = slash + 1, *end = text + len;
    if (digits == end || end - digits > 3)
      return -1;
    bits = 0;
    for (const char *d = digits; d < end; d++) {
      if (*d < '0' || *d > '9')
        return -1;
      bits = bits * 10 + (*d - '0');
    }
    if (bits > max)
      return -1;
  }
  net->bits = form == 4 ? 96 + bits : bits;
  for (int i = 0; i < 16; i++) {
    int keep = net->bits - 8 * i; /* bits of this byte inside the prefix */
    if (keep <= 0)
      net->bytes[i] = 0;
    else if (keep < 8)
      net->bytes[i] &= (unsigned char)(0xff << (8 - keep));
  }
  return 0;
}

static int contains(const network_t *net, const unsigned char address[16]) {
  int whole = net->bits / 8, rest = net->bits % 8;
  if (memcmp(net->bytes, address, (size_t)whole) != 0)
    return 0;
  return rest == 0 || ((address[whole] ^ net->bytes[whole]) & (0xff << (8 - rest))) == 0;
}

static void check_network(lua_State *L, int arg, network_t *net) {
  size_t len;
  const char *text = luaL_checklstring(L, arg, &len);
  if (parse_network(text, len, net) < 0)
    luaL_error(L, "'%s' is not a network (10.0.0.0/8, 2001:db8::/32, or an address)", text);
}

/* An address argument: false when it is not a string holding an address. */
static int read_address(lua_State *L, int arg, unsigned char out[16]) {
  size_t len;
  const char *text = lua_type(L, arg) == LUA_TSTRING ? lua_tolstring(L, arg, &len) : NULL;
  return text && parse_address(text, len, out) != 0;
}

/* net.in_cidr(address, network) -> whether the address is in the network. A malformed network is
 * an error (a rule's mistake); an address that is none (a client's) is simply not in it. */
static int in_cidr(lua_State *L) {
  network_t net;
  unsigned char address[16];
  check_network(L, 2, &net);
  lua_pushboolean(L, read_address(L, 1, address) && contains(&net, address));
  return 1;
}

/* net.is_address(text) -> whether text is an IPv4 or IPv6 address. */
static int is_address(lua_State *L) {
  unsigned char address[16];
  lua_pushboolean(L, read_address(L, 1, address));
  return 1;
}

typedef struct matcher_s {
  int count;
  network_t networks[];
} matcher_t;

static const char MATCHER[] = "taskgate.net.matcher";

/* matcher(address) -> true and the network as written, or false. */
static int matcher_call(lua_State *L) {
  const matcher_t *m = luaL_checkudata(L, 1, MATCHER);
  unsigned char address[16];
  if (read_address(L, 2, address))
    for (int i = 0; i < m->count; i++)
      if (contains(&m->networks[i], address)) {
        lua_getiuservalue(L, 1, 1);
        lua_rawgeti(L, -1, i + 1);
        lua_pushboolean(L, 1);
        lua_insert(L, -2); /* true, then the network as written */
        return 2;
      }
  lua_pushboolean(L, 0);
  return 1;
}

/* net.matcher({network, ...}) -> a function-like matcher: m(address) is true (and the network that
 * matched) when the address is in one of them. The networks are read once, here. */
static int new_matcher(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  tg_view_lua_unwrap(L, 1); /* a list read from the call: its entries as the call holds them */
  lua_Integer n = luaL_len(L, 1);
  luaL_argcheck(L, n <= MATCHER_MAX, 1, "at most 4096 networks");
  matcher_t *m = lua_newuserdatauv(L, sizeof *m + (size_t)n * sizeof m->networks[0], 1);
  m->count = 0;
  lua_createtable(L, (int)n, 0); /* the networks as written, for the caller to log */
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, 1, i);
    if (lua_type(L, -1) != LUA_TSTRING)
      return luaL_error(L, "net.matcher: entry %d is not a string", (int)i);
    check_network(L, -1, &m->networks[m->count++]);
    lua_rawseti(L, -2, i);
  }
  lua_setiuservalue(L, -2, 1);
  if (luaL_newmetatable(L, MATCHER)) {
    lua_pushcfunction(L, matcher_call);
    lua_setfield(L, -2, "__call");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable"); /* rules cannot reach or change it */
  }
  lua_setmetatable(L, -2);
  return 1;
}

int tg_net_lua_open(lua_State *L) {
  static const luaL_Reg functions[] = {
      {"in_cidr", in_cidr}, {"is_address", is_address}, {"matcher", new_matcher}, {NULL, NULL}};
  luaL_newlib(L, functions);
  return 1;
}
