/* json.c: decodes a JSON methodcall, {"method": "...", "params": {...}}, into the element tree
 * the XML decoder makes (a <methodcall> with <name> and <params>), so both forms reach the rules
 * as the same call table. Values become text as they were written: numbers keep their digits
 * (the rules validate them as they validate XML text), true/false become "true"/"false", null
 * leaves the member out, an array repeats its member's element. Strict RFC 8259, with the XML
 * decoder's limits; no Lua here. */
#include "json.h"

#include <stdlib.h>
#include <string.h>

typedef struct parser_s {
  const char *p, *end;
  tg_arena_t *arena;
  int depth;
  int nodes;
  const char *why;
} parser_t;

/* A decoded string: in the arena, NUL-terminated. */
typedef struct text_s {
  const char *s;
  size_t len;
} text_t;

static int fail(parser_t *ps, const char *why) {
  if (!ps->why)
    ps->why = why;
  return -1;
}

static void skip_blanks(parser_t *ps) {
  while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
    ps->p++;
}

static int literal(parser_t *ps, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
    return fail(ps, "malformed JSON");
  ps->p += n;
  return 0;
}

static tg_xml_node_t *new_node(parser_t *ps, const char *name, size_t name_len) {
  if (++ps->nodes > TG_XML_MAX_NODES)
    return fail(ps, "too many elements"), NULL;
  tg_xml_node_t *node = tg_arena_alloc(ps->arena, sizeof *node);
  if (!node || !(node->name = tg_arena_strndup(ps->arena, name, name_len)))
    return fail(ps, "request too large"), NULL;
  *node = (tg_xml_node_t){.name = node->name, .text = ""};
  return node;
}

static void append(tg_xml_node_t *parent, tg_xml_node_t *child) {
  if (parent->last_child)
    parent->last_child->next = child;
  else
    parent->first_child = child;
  parent->last_child = child;
}

static int hex4(parser_t *ps, unsigned *out) {
  if (ps->end - ps->p < 4)
    return fail(ps, "malformed JSON");
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = *ps->p++;
    int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (digit < 0) /* checked at once: a quote here must not be consumed */
      return fail(ps, "malformed JSON");
    v = v * 16 + (unsigned)digit;
  }
  *out = v;
  return 0;
}

/* Appends code point cp (valid, not a surrogate) as UTF-8. */
static size_t put_utf8(char *out, unsigned cp) {
  if (cp < 0x80)
    return out[0] = (char)cp, 1;
  if (cp < 0x800)
    return out[0] = (char)(0xC0 | cp >> 6), out[1] = (char)(0x80 | (cp & 0x3F)), 2;
  if (cp < 0x10000)
    return out[0] = (char)(0xE0 | cp >> 12), out[1] = (char)(0x80 | ((cp >> 6) & 0x3F)),
           out[2] = (char)(0x80 | (cp & 0x3F)), 3;
  return out[0] = (char)(0xF0 | cp >> 18), out[1] = (char)(0x80 | ((cp >> 12) & 0x3F)),
         out[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), out[3] = (char)(0x80 | (cp & 0x3F)), 4;
}

/* An escape after the backslash: appends its bytes to out; returns how many, or -1. */
static int escape(parser_t *ps, char *out) {
  if (ps->p >= ps->end)
    return fail(ps, "malformed JSON");
  char c = *ps->p++;
  static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
  const char *simple = c ? strchr(from, c) : NULL;
  if (simple)
    return out[0] = to[simple - from], 1;
  unsigned cp;
  if (c != 'u' || hex4(ps, &cp) < 0)
    return fail(ps, "malformed JSON");
  if (cp >= 0xD800 && cp <= 0xDBFF) { /* a high surrogate must be followed by a low one */
    unsigned low;
    if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u')
      return fail(ps, "lone surrogate in a string");
    ps->p += 2;
    if (hex4(ps, &low) < 0 || low < 0xDC00 || low > 0xDFFF)
      return fail(ps, "lone surrogate in a string");
    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
  } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
    return fail(ps, "lone surrogate in a string");
  }
  if (cp == 0)
    return fail(ps, "NUL in a string"); /* as in XML, which cannot hold one */
  return (int)put_utf8(out, cp);
}

/* A string (the opening quote is next): decoded into the arena. */
static int string(parser_t *ps, text_t *out) {
  ps->p++;
  const char *start = ps->p;
  /* Decoding never lengthens a string: the raw length bounds the result. */
  const char *close = ps->p;
  while (close < ps->end && *close != '"')
    close += *close == '\\' ? 2 : 1;
  if (close >= ps->end)
    return fail(ps, "malformed JSON");
  char *buf = tg_arena_alloc(ps->arena, (size_t)(close - start) + 1);
  if (!buf)
    return fail(ps, "request too large");
  size_t n = 0;
  while (ps->p < close) { /* the scan above and the decoding agree on where the string ends */
    unsigned char c = (unsigned char)*ps->p;
    if (c < 0x20)
      return fail(ps, "control character in a string");
    if (c == '\\') {
      ps->p++;
      int k = escape(ps, buf + n);
      if (k < 0)
        return -1;
      n += (size_t)k;
      continue;
    }
    size_t k = tg_xml_utf8_length((const unsigned char *)ps->p, (size_t)(ps->end - ps->p));
    if (k == 0)
      return fail(ps, "invalid UTF-8");
    memcpy(buf + n, ps->p, k);
    n += k, ps->p += k;
  }
  if (ps->p != close)
    return fail(ps, "malformed JSON");
  ps->p++;
  buf[n] = '\0';
  *out = (text_t){buf, n};
  return 0;
}

/* A number, kept as written once its form is checked. */
static int number(parser_t *ps, text_t *out) {
  const char *start = ps->p, *p = ps->p, *end = ps->end;
#define DIGITS(p) ((p) < end && *(p) >= '0' && *(p) <= '9')
  if (p < end && *p == '-')
    p++;
  if (p < end && *p == '0')
    p++;
  else if (DIGITS(p))
    while (DIGITS(p))
      p++;
  else
    return fail(ps, "malformed JSON");
  if (p < end && *p == '.') {
    p++;
    if (!DIGITS(p))
      return fail(ps, "malformed JSON");
    while (DIGITS(p))
      p++;
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    p++;
    if (p < end && (*p == '+' || *p == '-'))
      p++;
    if (!DIGITS(p))
      return fail(ps, "malformed JSON");
    while (DIGITS(p))
      p++;
  }
#undef DIGITS
  ps->p = p;
  char *text = tg_arena_strndup(ps->arena, start, (size_t)(p - start));
  if (!text)
    return fail(ps, "request too large");
  *out = (text_t){text, (size_t)(p - start)};
  return 0;
}

static int member_value(parser_t *ps, tg_xml_node_t *parent, const text_t *key, int in_array);

static int compare_texts(const void *a, const void *b) {
  const text_t *x = a, *y = b;
  size_t n = x->len < y->len ? x->len : y->len;
  int c = memcmp(x->s, y->s, n);
  return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Refuses an object that names a key twice: sorted, equal keys are neighbours. */
static int unique_keys(parser_t *ps, text_t *keys, size_t n) {
  qsort(keys, n, sizeof *keys, compare_texts);
  for (size_t i = 1; i < n; i++)
    if (compare_texts(&keys[i - 1], &keys[i]) == 0)
      return fail(ps, "duplicate key");
  return 0;
}

/* An object (the brace is next); each member becomes a child of node (NULL: checked, dropped). */
static int object(parser_t *ps, tg_xml_node_t *node) {
  if (++ps->depth > TG_XML_MAX_DEPTH)
    return fail(ps, "nesting too deep");
  ps->p++;
  text_t *keys = NULL;
  size_t n = 0, cap = 0;
  skip_blanks(ps);
  if (ps->p < ps->end && *ps->p == '}') {
    ps->p++;
    ps->depth--;
    return 0;
  }
  for (;;) {
    skip_blanks(ps);
    if (ps->p >= ps->end || *ps->p != '"')
      return fail(ps, "malformed JSON");
    if (n == cap) { /* the keys, in the arena: they grow by doubling, so their total is bounded */
      cap = cap ? cap * 2 : 8;
      text_t *grown = tg_arena_alloc(ps->arena, cap * sizeof *grown);
      if (!grown)
        return fail(ps, "request too large");
      if (n)
        memcpy(grown, keys, n * sizeof *keys);
      keys = grown;
    }
    if (string(ps, &keys[n]) < 0)
      return -1;
    skip_blanks(ps);
    if (ps->p >= ps->end || *ps->p++ != ':')
      return fail(ps, "malformed JSON");
    if (member_value(ps, node, &keys[n], 0) < 0)
      return -1;
    n++;
    skip_blanks(ps);
    if (ps->p < ps->end && *ps->p == ',') {
      ps->p++;
      continue;
    }
    if (ps->p < ps->end && *ps->p == '}') {
      ps->p++;
      break;
    }
    return fail(ps, "malformed JSON");
  }
  ps->depth--;
  return unique_keys(ps, keys, n);
}

/* An array: each element becomes another <key> child of parent. */
static int array(parser_t *ps, tg_xml_node_t *parent, const text_t *key) {
  if (++ps->depth > TG_XML_MAX_DEPTH)
    return fail(ps, "nesting too deep");
  ps->p++;
  skip_blanks(ps);
  if (ps->p < ps->end && *ps->p == ']') {
    ps->p++;
    ps->depth--;
    return 0;
  }
  for (;;) {
    if (member_value(ps, parent, key, 1) < 0)
      return -1;
    skip_blanks(ps);
    if (ps->p < ps->end && *ps->p == ',') {
      ps->p++;
      continue;
    }
    if (ps->p < ps->end && *ps->p == ']') {
      ps->p++;
      break;
    }
    return fail(ps, "malformed JSON");
  }
  ps->depth--;
  return 0;
}

/* The value of member key (or an element of its array): appended to parent as <key>. */
static int member_value(parser_t *ps, tg_xml_node_t *parent, const text_t *key, int in_array) {
  skip_blanks(ps);
  if (ps->p >= ps->end)
    return fail(ps, "malformed JSON");
  char c = *ps->p;
  if (ps->depth == 1 && key->len == 6 && memcmp(key->s, "method", 6) == 0 && c != '"')
    return fail(ps, "method is not a string"); /* a member of the envelope */
  if (c == '[') {
    if (in_array)
      return fail(ps, "array in an array"); /* no element name could hold it */
    return array(ps, parent, key);
  }
  if (c == 'n')
    return literal(ps, "null"); /* a null member is left out */
  tg_xml_node_t *node = parent ? new_node(ps, key->s, key->len) : NULL;
  if (parent && !node)
    return -1;
  text_t text = {"", 0};
  int rc;
  if (c == '{')
    rc = object(ps, node);
  else if (c == '"')
    rc = string(ps, &text);
  else if (c == 't')
    rc = literal(ps, "true"), text = (text_t){"true", 4};
  else if (c == 'f')
    rc = literal(ps, "false"), text = (text_t){"false", 5};
  else
    rc = number(ps, &text);
  if (rc < 0)
    return -1;
  if (node) {
    if (!node->first_child)
      node->text = text.s, node->text_len = text.len;
    node->listed = in_array;
    append(parent, node);
  }
  return 0;
}

/* The envelope: "method" becomes <name>, "params" <params>; other members are checked and left
 * out, as unknown envelope elements are in XML. */
static int envelope(parser_t *ps, tg_xml_node_t *root) {
  tg_xml_node_t all = {.name = ""}; /* every member, to pick the two we know */
  if (object(ps, &all) < 0)
    return -1;
  for (tg_xml_node_t *member = all.first_child; member;) {
    tg_xml_node_t *next = member->next;
    member->next = NULL;
    if (strcmp(member->name, "method") == 0) {
      if (member->first_child)
        return fail(ps, "method is not a string");
      member->name = "name";
      append(root, member);
    } else if (strcmp(member->name, "params") == 0) {
      append(root, member);
    }
    member = next;
  }
  return 0;
}

tg_xml_node_t *tg_json_decode(tg_arena_t *arena, const char *bytes, size_t len, const char **why) {
  parser_t ps = {.p = bytes, .end = bytes + len, .arena = arena};
  if (len >= 3 && memcmp(bytes, "\xEF\xBB\xBF", 3) == 0) /* a UTF-8 byte-order mark */
    ps.p += 3;
  skip_blanks(&ps);
  tg_xml_node_t *root = new_node(&ps, "methodcall", 10);
  if (root && (ps.p >= ps.end || *ps.p != '{'))
    fail(&ps, "a JSON methodcall is an object");
  if (root && !ps.why && envelope(&ps, root) == 0) {
    skip_blanks(&ps);
    if (ps.p != ps.end)
      fail(&ps, "malformed JSON");
  }
  *why = ps.why;
  return ps.why ? NULL : root;
}

int tg_json_is_likely(const char *bytes, size_t len) {
  size_t i = len >= 3 && memcmp(bytes, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
  while (i < len && (bytes[i] == ' ' || bytes[i] == '\t' || bytes[i] == '\n' || bytes[i] == '\r'))
    i++;
  return i < len && (bytes[i] == '{' || bytes[i] == '[');
}
