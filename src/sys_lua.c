/* sys_lua.c: `taskgate.sys`: directory listing and text-only loading of rule files, the wall
 * clock and the log, for the runtime in lua/. */
#include "sys_lua.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "clock.h"
#include "coroutine_lua.h"
#include "fault_names.h"
#include "json_lua.h"
#include "limit.h"
#include "log.h"
#include "outbox.h"
#include "owed.h"
#include "redact.h"
#include "view_lua.h"

enum { MAX_RULE_BYTES = 1024 * 1024 };

/* The call the Lua code runs for (or NULL), read through the slot the state's owner keeps it in
 * (upvalue 1 of the functions that need it; NULL when there is none, as in specs). */
static tg_call_note_t *current_call(lua_State *L) {
  tg_call_note_t *const *slot = lua_touserdata(L, lua_upvalueindex(1));
  return slot ? *slot : NULL;
}

static void note_field(lua_State *L, int arg, char *field, size_t cap) {
  size_t len;
  const char *value = lua_tolstring(L, arg, &len);
  if (!value)
    return;
  len = len < cap ? len : cap - 1; /* a longer value is cut, like any note */
  memcpy(field, value, len);
  field[len] = '\0';
}

/* sys.note(method, outcome, failure, sent_method, reason): what the running call is and how it
 * ended; nil leaves a field as it was. sent_method: an unknown method's name as the client sent
 * it; reason: who refused the call (never sent to the client). */
static int sys_note(lua_State *L) {
  tg_call_note_t *call = current_call(L);
  if (!call)
    return 0;
  note_field(L, 1, call->method, sizeof call->method);
  note_field(L, 2, call->outcome, sizeof call->outcome);
  note_field(L, 3, call->failure, sizeof call->failure);
  note_field(L, 4, call->sent_method, sizeof call->sent_method);
  note_field(L, 5, call->reason, sizeof call->reason);
  /* The reason reaches the console's event stream and /metrics as it is: a URL in it is masked
   * here, once (redact.h). */
  if (strstr(call->reason, "://")) {
    char shown[sizeof call->reason];
    snprintf(call->reason, sizeof call->reason, "%s", tg_redact(call->reason, shown, sizeof shown));
  }
  return 0;
}

/* sys.redact(text) -> text with every URL's credentials masked (redact.h), for what the
 * runtime keeps or shows of a rule's words (an error's message in an audit record). */
static int sys_redact(lua_State *L) {
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len);
  if (!strstr(text, "://")) {
    lua_settop(L, 1);
    return 1;
  }
  luaL_Buffer b;
  size_t cap = 4 * len + 64; /* a masked URL grows by 3 bytes a byte at most (redact.c) */
  char *out = luaL_buffinitsize(L, &b, cap);
  luaL_pushresultsize(&b, strlen(tg_redact(text, out, cap)));
  return 1;
}

/* sys.note_acted(task_id, taskgroup_id, port_id, bin_id): what the running call acted on (its
 * audit record's ids); a value that is no integer (as math.tointeger reads it: an integral
 * number, or a string of one, as the parameters were sent) says nothing of that one. */
static int sys_note_acted(lua_State *L) {
  tg_call_note_t *call = current_call(L);
  if (!call)
    return 0;
  for (int i = 0; i < 4; i++) {
    int is_integer;
    lua_Integer id = lua_tointegerx(L, i + 1, &is_integer);
    if (is_integer) {
      call->acted[i] = id;
      call->acted_set |= 1u << i;
    }
  }
  return 0;
}

/* sys.set_fault_names(faults): records each code's name (faults[code].name) for the calls' log
 * lines and metric labels. */
static int sys_set_fault_names(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  for (lua_pushnil(L); lua_next(L, 1); lua_pop(L, 1)) {
    if (!lua_isinteger(L, -2) || !lua_istable(L, -1))
      continue;
    if (lua_getfield(L, -1, "name") == LUA_TSTRING)
      tg_fault_names_set((int)lua_tointeger(L, -3), lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  return 0;
}

static int compare_strings(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* What a directory entry is, following symbolic links: "file", "dir" or "other". */
static const char *entry_kind(const char *dir, const char *name) {
  char path[4096];
  struct stat st;
  if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path || stat(path, &st) < 0)
    return "other";
  return S_ISREG(st.st_mode) ? "file" : S_ISDIR(st.st_mode) ? "dir" : "other";
}

/* sys.list_dir(dir) -> the entries of dir but "." and "..", sorted by name (byte order), each
 * {name = ..., kind = "file" | "dir" | "other"}; or nil and the reason. The rule loader decides
 * what each one is (taskgate.host). */
static int list_dir(lua_State *L) {
  const char *dir = luaL_checkstring(L, 1);
  DIR *d = opendir(dir);
  if (!d) {
    lua_pushnil(L);
    lua_pushfstring(L, "%s: cannot open the rules directory", dir);
    return 2;
  }
  lua_newtable(L); /* the names, anchoring the strings sorted below */
  struct dirent *entry;
  lua_Integer n = 0;
  while ((entry = readdir(d)))
    if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0) {
      lua_pushstring(L, entry->d_name);
      lua_rawseti(L, -2, ++n);
    }
  closedir(d);
  const char **names = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof *names, 0);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, -2, i);
    names[i - 1] = lua_tostring(L, -1);
    lua_pop(L, 1);
  }
  qsort(names, (size_t)n, sizeof *names, compare_strings);
  lua_createtable(L, (int)n, 0);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_createtable(L, 0, 2);
    lua_pushstring(L, names[i - 1]);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, entry_kind(dir, names[i - 1]));
    lua_setfield(L, -2, "kind");
    lua_rawseti(L, -2, i);
  }
  return 1;
}

/* Pushes the lower-case hex SHA-256 of bytes, the hash `sha256sum` prints for the file. */
static void push_sha256(lua_State *L, const char *bytes, size_t len) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  char hex[2 * EVP_MAX_MD_SIZE + 1];
  if (!EVP_Digest(bytes, len, digest, &digest_len, EVP_sha256(), NULL))
    luaL_error(L, "sha256 failed");
  for (unsigned int i = 0; i < digest_len; i++)
    snprintf(hex + 2 * i, 3, "%02x", digest[i]);
  lua_pushlstring(L, hex, 2 * digest_len);
}

/* A time zone's name as the tz database spells it ("Europe/Berlin", "UTC", "Etc/GMT+5"): parts of
 * letters, digits, '_', '+' and '-' joined by '/', none starting with a dot. Nothing else reaches
 * the file system. */
static int valid_zone_name(const char *name, size_t len) {
  if (len == 0 || len > 128)
    return 0;
  for (size_t i = 0; i < len; i++) {
    char c = name[i];
    int part_start = i == 0 || name[i - 1] == '/';
    if (c == '/' ? part_start || i == len - 1 : part_start && c == '.')
      return 0;
    if (c != '/' && !isalnum((unsigned char)c) && c != '_' && c != '+' && c != '-')
      return 0;
  }
  return 1;
}

/* Pushes the bytes of file as a string, at most max + 1 of them (so that a larger file shows
 * as larger than max), and closes it. Returns how many it pushed; *read_error is nonzero when
 * reading failed. */
static size_t push_file(lua_State *L, FILE *file, size_t max, int *read_error) {
  luaL_Buffer b;
  char *bytes = luaL_buffinitsize(L, &b, max + 1);
  size_t got = fread(bytes, 1, max + 1, file);
  *read_error = ferror(file);
  fclose(file);
  luaL_pushresultsize(&b, got);
  return got;
}

enum { MAX_ZONE_BYTES = 65536 }; /* the largest tz database file is about 4 KiB */

/* sys.read_zone(name) -> the bytes of the tz database's file for zone `name`
 * (/usr/share/zoneinfo/<name>, TZif), or nil and why. */
static int read_zone(lua_State *L) {
  size_t len;
  const char *name = luaL_checklstring(L, 1, &len);
  if (!valid_zone_name(name, len)) {
    lua_pushnil(L);
    lua_pushfstring(L, "'%s' is not a time zone name (e.g. Europe/Berlin)", name);
    return 2;
  }
  char path[256];
  snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", name);
  FILE *file = fopen(path, "rb");
  if (!file) {
    lua_pushnil(L);
    lua_pushfstring(L, "no time zone '%s' (%s: %s)", name, path, strerror(errno));
    return 2;
  }
  int read_error;
  size_t got = push_file(L, file, MAX_ZONE_BYTES, &read_error);
  if (read_error || got > MAX_ZONE_BYTES || got < 44 || memcmp(lua_tostring(L, -1), "TZif", 4) != 0) {
    lua_pushnil(L);
    lua_pushfstring(L, "time zone '%s': %s is not a tz database file", name, path);
    return 2;
  }
  return 1;
}

/* sys.load_rule(path, env) -> the compiled chunk with env as its _ENV and the file's SHA-256,
 * or nil and the reason. Only source text is accepted: precompiled bytecode is refused. */
static int load_rule(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  FILE *file = fopen(path, "rb");
  if (!file) {
    lua_pushnil(L);
    lua_pushfstring(L, "%s: cannot open", path);
    return 2;
  }
  int read_error;
  size_t len = push_file(L, file, MAX_RULE_BYTES, &read_error);
  if (read_error || len > MAX_RULE_BYTES) {
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", path, read_error ? "read error" : "larger than 1 MiB");
    return 2;
  }
  const char *text = lua_tostring(L, -1);
  lua_pushfstring(L, "@%s", path);
  if (luaL_loadbufferx(L, text, len, lua_tostring(L, -1), "t") != LUA_OK) {
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
  }
  lua_pushvalue(L, 2);
  if (!lua_setupvalue(L, -2, 1)) /* a main chunk's first upvalue is always _ENV */
    lua_pop(L, 1);
  push_sha256(L, text, len);
  return 2;
}

/* Writes key as a log field name: letters, digits, '_', '.' and '-' only (anything else
 * becomes '_'), at most 63 bytes, so a rule's field name cannot break a logfmt or JSON line. */
static void field_name(char *out, size_t cap, const char *key, size_t len) {
  size_t n = 0;
  for (; n < len && n + 1 < cap; n++) {
    unsigned char c = (unsigned char)key[n];
    out[n] = (char)(isalnum(c) || c == '_' || c == '.' || c == '-' ? c : '_');
  }
  if (n == 0)
    out[n++] = '_';
  out[n] = '\0';
}

/* The names the gateway writes on a rule's log line itself: a rule's field by one of these
 * names is written as rule_<name>, so no rule can make a line say another request, rule, time,
 * level or event (a logfmt or JSON reader would take the last of two). */
static const char *const own_names[] = {"ts", "level", "event", "request_id", "rule", NULL};

static int is_own_name(const char *name) {
  for (int i = 0; own_names[i]; i++)
    if (strcmp(name, own_names[i]) == 0)
      return 1;
  return 0;
}

/* sys.log(level, event, fields) where fields is a table of string keys and printable values.
 * The line holds what fits in 3 KiB; the fields past that are not even looked at. */
static int sys_log(lua_State *L) {
  int level = tg_log_level_parse(luaL_checkstring(L, 1));
  const char *event = luaL_checkstring(L, 2);
  if (level < 0)
    return luaL_argerror(L, 1, "level is debug, info, warn or error");
  if (!tg_log_enabled(level))
    return 0;
  char line[3072];
  size_t used = 0;
  line[0] = '\0';
  tg_call_note_t *call = current_call(L);
  if (call) { /* a rule's log line says which call and rule it came from */
    int n =
        snprintf(line, sizeof line, "request_id=%s rule=%s ", call->request_id, call->method[0] ? call->method : "-");
    used = n > 0 ? (size_t)n : 0;
  }
  if (lua_istable(L, 3)) {
    lua_pushnil(L);
    while (used < sizeof line && lua_next(L, 3)) {
      if (lua_type(L, -2) == LUA_TSTRING) {
        char name[64], quoted[1024];
        size_t key_len, len;
        const char *key = lua_tolstring(L, -2, &key_len);
        field_name(name, sizeof name, key, key_len);
        const char *value = luaL_tolstring(L, -1, &len);
        tg_log_quote(quoted, sizeof quoted, value, len);
        int n = snprintf(line + used, sizeof line - used, "%s%s=%s ", is_own_name(name) ? "rule_" : "", name, quoted);
        used += n > 0 ? (size_t)n : 0;
        lua_pop(L, 1);
      }
      lua_pop(L, 1);
    }
  }
  tg_log(level, event, "%s", line);
  return 0;
}

/* Lua's %s in the C locale, without a call per byte. */
static int is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* sys.trim(text) -> text without the whitespace (as Lua's %s) around it: one pass in from
 * each end. Parameter values and method names come from clients, and the obvious pattern
 * "^%s*(.-)%s*$" takes time quadratic in a run of whitespace inside them. */
static int sys_trim(lua_State *L) {
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len);
  size_t first = 0, end = len;
  while (first < end && is_space(text[first]))
    first++;
  while (end > first && is_space(text[end - 1]))
    end--;
  if (first == 0 && end == len)
    lua_settop(L, 1); /* nothing to trim: the same string, no copy */
  else
    lua_pushlstring(L, text + first, end - first);
  return 1;
}

/* sys.digits(text) -> its value when text is 1 to 18 decimal digits and nothing else, else nil:
 * check.int's common case in one C call (18 digits always fit in an integer). */
static int sys_digits(lua_State *L) {
  if (lua_type(L, 1) != LUA_TSTRING) /* before lua_tolstring, which would turn a number into text */
    return 0;
  size_t len;
  const char *text = lua_tolstring(L, 1, &len);
  if (len == 0 || len > 18)
    return 0;
  lua_Integer value = 0;
  for (size_t i = 0; i < len; i++) {
    if (text[i] < '0' || text[i] > '9')
      return 0;
    value = value * 10 + (text[i] - '0');
  }
  lua_pushinteger(L, value);
  return 1;
}

/* sys.now() -> seconds since the epoch, with microseconds. */
static int sys_now(lua_State *L) {
  lua_pushnumber(L, (lua_Number)tg_wall_seconds());
  return 1;
}

/* sys.outbox_targets() -> the --outbox-target names by commas (set by the host), or nil. */
static int sys_outbox_targets(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, TG_SYS_OUTBOX_KEY);
  return 1;
}

/* sys.outbox_wake(): a message was queued (it goes once its call commits). */
static int sys_outbox_wake(lua_State *L) {
  tg_outbox_wake();
  return 0;
}

/* sys.request_id() -> the running call's request id, or nil between calls. */
static int sys_request_id(lua_State *L) {
  tg_call_note_t *call = current_call(L);
  if (call && call->request_id[0])
    lua_pushstring(L, call->request_id);
  else
    lua_pushnil(L);
  return 1;
}

/* sys.upstream() -> the --upstream URL (set by the host in the registry), or nil. */
/* sys.journal_size() -> the calls the journal keeps (--journal-size; 0: none), or nil for the
 * runtime's default. */
static int sys_journal_size(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, TG_SYS_JOURNAL_KEY);
  return 1;
}

/* sys.sha256(text) -> its SHA-256 in hex. */
static int sys_sha256(lua_State *L) {
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len);
  push_sha256(L, text, len);
  return 1;
}

/* sys.owing() -> whether the running call runs on a read connection: its traces are owed to the
 * worker's next store turn (owed.h) instead of written. */
static int sys_owing(lua_State *L) {
  tg_call_note_t *call = current_call(L);
  lua_pushboolean(L, call && call->owed);
  return 1;
}

/* sys.owe_trace(kind, ...) -> true once the worker keeps the row of values ... for its next
 * store turn (owed.h); false when it cannot (not owing, out of memory): the caller writes it. */
static int sys_owe_trace(lua_State *L) {
  int kind = (int)luaL_checkinteger(L, 1);
  tg_call_note_t *call = current_call(L);
  lua_pushboolean(L, call && call->owed && tg_owed_add(call->owed, L, kind, 2) == 0);
  return 1;
}

/* sys.run_rules(fn, ...) -> what fn returns. Runs rules' own code while rules load (their files'
 * top-level code, the self-checks) within what is left of the load's rule budget: all such code
 * of one load together, however many files it is spread over. Without a budget (a gateway that
 * is not yet listening, `taskgate check`) fn runs under the load's own. */
static int sys_run_rules(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_getfield(L, LUA_REGISTRYINDEX, TG_SYS_RULES_BUDGET_KEY);
  lua_Integer budget_ms = lua_tointeger(L, -1);
  lua_getfield(L, LUA_REGISTRYINDEX, TG_SYS_RULES_LEFT_KEY);
  long long left = (long long)lua_tointeger(L, -1);
  lua_pop(L, 2);
  if (budget_ms <= 0) {
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
  }
  long long started = tg_monotonic_ns();
  tg_limit_saved_t saved = tg_limit_tighten(started + (left > 0 ? left : 0), (unsigned)budget_ms);
  int rc = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
  long long used = tg_monotonic_ns() - started;
  lua_pushinteger(L, left > used ? left - used : 0);
  lua_setfield(L, LUA_REGISTRYINDEX, TG_SYS_RULES_LEFT_KEY);
  tg_limit_restore(saved);
  if (rc != LUA_OK)
    return lua_error(L);
  return lua_gettop(L);
}

/* sys.gateway_work(fn, ...) -> what fn returns. Runs the gateway's own work inside a call (the
 * reply's encoding, XML or JSON) outside the rule's time limit, under a stop of its own
 * (tg_limit_aside_begin says why that is safe). */
static int sys_gateway_work(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  tg_limit_aside_t aside = tg_limit_aside_begin();
  int rc = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
  tg_limit_aside_end(aside);
  if (rc != LUA_OK)
    return lua_error(L);
  return lua_gettop(L);
}

static int sys_upstream(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, TG_SYS_UPSTREAM_KEY);
  return 1;
}

void tg_sys_lua_push(lua_State *L, tg_call_note_t *const *call) {
  static const luaL_Reg functions[] = {
      {"list_dir", list_dir},
      {"load_rule", load_rule},
      {"read_zone", read_zone},
      {"log", sys_log},
      {"now", sys_now},
      {"upstream", sys_upstream},
      {"journal_size", sys_journal_size},
      {"redact", sys_redact},
      {"owing", sys_owing},
      {"owe_trace", sys_owe_trace},
      {"sha256", sys_sha256},
      {"outbox_targets", sys_outbox_targets},
      {"outbox_wake", sys_outbox_wake},
      {"request_id", sys_request_id},
      {"note", sys_note},
      {"note_acted", sys_note_acted},
      {"set_fault_names", sys_set_fault_names},
      {"json_encode", tg_json_lua_encode},
      {"trim", sys_trim},
      {"digits", sys_digits},
      {"guard", tg_coroutine_lua_guard},
      {"run_rules", sys_run_rules},
      {"gateway_work", sys_gateway_work},
      {NULL, NULL},
  };
  luaL_newlibtable(L, functions);
  lua_pushlightuserdata(L, (void *)call);
  luaL_setfuncs(L, functions, 1);
  tg_view_lua_push_views(L);
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "VIEWS");
  lua_pushcclosure(L, tg_view_lua_index, 1); /* the side table as its upvalue: no look-up per read */
  lua_setfield(L, -2, "view_index");
}
