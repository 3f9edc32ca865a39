/* xml.c: decodes methodcalls with libxml2's SAX2 interface and escapes reply text. */
#define _GNU_SOURCE /* memmem */
#include "xml.h"

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <string.h>

#include "charset.h"

typedef struct decoder_s {
  xmlParserCtxtPtr ctxt;
  tg_arena_t *arena;
  int encoding_given; /* the Content-Type's charset decides, the declaration is not read */
  const char *root_namespace; /* the root element's namespace name (a default xmlns), or NULL */
  tg_xml_node_t *root;
  tg_xml_node_t *stack[TG_XML_MAX_DEPTH];
  int depth;
  int nodes;
  tg_buf_t text; /* character data of the innermost open element */
  const char *why;
} decoder_t;

static void fail(decoder_t *d, const char *why) {
  if (!d->why)
    d->why = why;
  xmlStopParser(d->ctxt);
}

/* Whether a name libxml2 holds (NULL: none) is one of the two documented encodings. */
static int documented(const xmlChar *name) {
  return !name || tg_charset_named((const char *)name, strlen((const char *)name)) != TG_CHARSET_OTHER;
}

/* Whether the document is read in UTF-8 or ISO-8859-1: what its declaration names and what
 * libxml2 decodes it with (which a byte-order mark alone can make UTF-16, UCS-4 or EBCDIC). */
static int documented_encoding(xmlParserCtxtPtr ctxt) {
  xmlParserInputPtr input = ctxt->input;
  const xmlChar *declared = input->encoding ? input->encoding : ctxt->encoding;
  const xmlChar *decoder = input->buf && input->buf->encoder ? (const xmlChar *)input->buf->encoder->name : NULL;
  return documented(declared) && documented(decoder);
}

/* The interface's element names are plain names. A prefix (declared or not) or an element in
 * another namespace than the root's would be read by its local name alone, so <a:v> and <c:v>
 * would become one parameter: both are refused. A document wholly in one default namespace
 * (xmlns="...") is read as if it had none. */
static const char *namespace_refusal(decoder_t *d, const xmlChar *prefix, const xmlChar *uri) {
  if (prefix)
    return "a namespace prefix on an element";
  if (d->depth == 0) {
    if (uri && !(d->root_namespace = tg_arena_strndup(d->arena, (const char *)uri, strlen((const char *)uri))))
      return "request too large";
    return NULL;
  }
  int same = uri ? d->root_namespace && strcmp((const char *)uri, d->root_namespace) == 0 : !d->root_namespace;
  return same ? NULL : "an element in another namespace";
}

/* Runs once the XML declaration is read, before any element: a document in an encoding the
 * interface does not document is refused before libxml2 parses a tag of it. */
static void on_start_document(void *ctx) {
  decoder_t *d = ctx;
  if (!d->encoding_given && !documented_encoding(d->ctxt))
    fail(d, "an encoding other than UTF-8 and ISO-8859-1");
}

static void on_start(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri, int nb_namespaces,
                     const xmlChar **namespaces, int nb_attributes, int nb_defaulted, const xmlChar **attributes) {
  decoder_t *d = ctx;
  if (d->why)
    return;
  const char *refusal = namespace_refusal(d, prefix, uri);
  if (refusal)
    return fail(d, refusal);
  if (d->depth >= TG_XML_MAX_DEPTH)
    return fail(d, "nesting too deep");
  if (++d->nodes > TG_XML_MAX_NODES)
    return fail(d, "too many elements");
  tg_xml_node_t *node = tg_arena_alloc(d->arena, sizeof *node);
  const char *name = (const char *)localname;
  if (!node || !(node->name = tg_arena_strndup(d->arena, name, strlen(name))))
    return fail(d, "request too large");
  node->text = "";
  node->text_len = 0;
  node->first_child = node->last_child = node->next = NULL;
  node->listed = 0;
  if (d->depth == 0) {
    d->root = node;
  } else {
    tg_xml_node_t *parent = d->stack[d->depth - 1];
    if (parent->last_child)
      parent->last_child->next = node;
    else
      parent->first_child = node;
    parent->last_child = node;
  }
  d->stack[d->depth++] = node;
  d->text.len = 0; /* text before a child element is layout, not a value */
}

static void on_end(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri) {
  decoder_t *d = ctx;
  if (d->why || d->depth == 0)
    return;
  tg_xml_node_t *node = d->stack[--d->depth];
  if (!node->first_child && d->text.len > 0) {
    char *text = tg_arena_strndup(d->arena, d->text.data, d->text.len);
    if (!text)
      return fail(d, "request too large");
    node->text = text;
    node->text_len = d->text.len;
  }
  d->text.len = 0;
}

static void on_characters(void *ctx, const xmlChar *ch, int len) {
  decoder_t *d = ctx;
  if (d->why || d->depth == 0)
    return;
  if (tg_buf_append(&d->text, ch, (size_t)len) < 0)
    fail(d, "out of memory");
}

static void on_doctype(void *ctx, const xmlChar *name, const xmlChar *external_id, const xmlChar *system_id) {
  fail(ctx, "DOCTYPE is not allowed");
}

static void on_entity_decl(void *ctx, const xmlChar *name, int type, const xmlChar *public_id, const xmlChar *system_id,
                           xmlChar *content) {
  fail(ctx, "entity declarations are not allowed");
}

static xmlEntityPtr on_get_entity(void *ctx, const xmlChar *name) {
  return xmlGetPredefinedEntity(name); /* only &lt; &gt; &amp; &quot; &apos; exist here */
}

static void on_structured_error(void *ctx, xmlErrorPtr error) {
  /* Errors surface through wellFormed; libxml2 must not print to our stderr. */
}

static void on_pi(void *ctx, const xmlChar *target, const xmlChar *data) {}

static xmlSAXHandler sax_handler = {
    .initialized = XML_SAX2_MAGIC,
    .startDocument = on_start_document,
    .startElementNs = on_start,
    .endElementNs = on_end,
    .characters = on_characters,
    .cdataBlock = on_characters,
    .internalSubset = on_doctype,
    .externalSubset = on_doctype,
    .entityDecl = on_entity_decl,
    .getEntity = on_get_entity,
    .getParameterEntity = on_get_entity,
    .processingInstruction = on_pi,
    .serror = on_structured_error,
};

static xmlParserInputPtr deny_external_entity(const char *url, const char *id, xmlParserCtxtPtr ctxt) {
  return NULL; /* no file://, no http://, nothing outside the request body */
}

static void silent_generic_error(void *ctx, const char *msg, ...) {}

void tg_xml_init(void) {
  xmlInitParser();
  xmlSetExternalEntityLoader(deny_external_entity);
  tg_xml_thread_init();
}

/* libxml2 keeps its error handlers per thread. */
void tg_xml_thread_init(void) {
  xmlSetGenericErrorFunc(NULL, silent_generic_error);
  xmlSetStructuredErrorFunc(NULL, on_structured_error);
}

/* One push-parser context serves every document of a thread: making and freeing a context
 * per request cost more than parsing a methodcall. It is remade once its
 * dictionary of names has grown large, so hostile documents full of fresh names cannot grow it
 * without bound. */
enum { MAX_DICT_NAMES = 10000 };
static _Thread_local xmlParserCtxtPtr shared_ctxt;

/* Returns the context, reset for a document that starts with `head` (up to 4 bytes, which
 * libxml2 reads to detect the encoding: a UTF-16 byte-order mark, an XML declaration) and is in
 * `encoding` (NULL: as detected and declared; given, the declaration's encoding is ignored). */
static xmlParserCtxtPtr parser_for_next_document(const char *head, int head_len, const char *encoding) {
  if (shared_ctxt && xmlDictSize(shared_ctxt->dict) > MAX_DICT_NAMES) {
    xmlFreeParserCtxt(shared_ctxt);
    shared_ctxt = NULL;
  }
  if (!shared_ctxt) {
    shared_ctxt = xmlCreatePushParserCtxt(&sax_handler, NULL, NULL, 0, NULL);
    if (!shared_ctxt)
      return NULL;
    xmlCtxtUseOptions(shared_ctxt, XML_PARSE_NONET);
  }
  if (xmlCtxtResetPush(shared_ctxt, head, head_len, NULL, encoding) != 0) {
    xmlFreeParserCtxt(shared_ctxt);
    shared_ctxt = NULL;
    return NULL;
  }
  /* Set for this document alone: xmlCtxtUseOptions only ever adds this flag. */
  if (encoding)
    shared_ctxt->options |= XML_PARSE_IGNORE_ENC;
  else
    shared_ctxt->options &= ~XML_PARSE_IGNORE_ENC;
  return shared_ctxt;
}

/* The end of the first `terminator` at or after p, or end. */
static const char *past(const char *p, const char *end, const char *terminator) {
  size_t n = strlen(terminator);
  const char *hit = memmem(p, (size_t)(end - p), terminator, n);
  return hit ? hit + n : end;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/* Reads the tag whose '<' is at *p, up to its '>' (not one inside a quoted value), and leaves
 * *p there. Returns its attributes (each has one '=' outside quotes) and adds its namespace
 * declarations (the attributes named xmlns or xmlns:...) to *namespaces. */
static int scan_tag(const char **p, const char *end, int *namespaces) {
  int attributes = 0;
  char quote = 0;
  const char *name = NULL; /* the last word outside quotes: an attribute's name at its '=' */
  const char *c = *p + 1;
  for (; c < end && (quote || *c != '>'); c++) {
    if (quote) {
      quote = *c == quote ? 0 : quote;
    } else if (*c == '"' || *c == '\'') {
      quote = *c;
    } else if (*c == '=') {
      attributes++;
      if (name && end - name > 5 && memcmp(name, "xmlns", 5) == 0 &&
          (name[5] == ':' || name[5] == '=' || is_space(name[5])))
        ++*namespaces;
      name = NULL;
    } else if (!is_space(*c) && (c == *p + 1 || is_space(c[-1]) || c[-1] == '"' || c[-1] == '\'')) {
      name = c;
    }
  }
  *p = c;
  return attributes;
}

/* Refuses, in one pass before libxml2 parses, what libxml2 2.9 would spend quadratic time on:
 * it checks each attribute of a tag against all the tag's earlier ones (100,000 of them in a
 * 1 MiB body held the thread for 12 s), and resolves each prefix by walking every namespace
 * declared around it (a stack of declarations and prefixed attributes: half a second). So a tag
 * holds at most TG_XML_MAX_ATTRIBUTES attributes and a document TG_XML_MAX_NAMESPACES
 * declarations. The bytes are read as ASCII, which is sound for UTF-8 and ISO-8859-1: any other
 * encoding is refused before libxml2 reads its first tag, and a NUL byte (UTF-16, UCS-4) before
 * this. Returns the reason, or NULL. */
static const char *costly_markup(const char *p, const char *end) {
  int equals = 0;
  for (const char *e = p; (e = memchr(e, '=', (size_t)(end - e))); e++)
    if (++equals > TG_XML_MAX_NAMESPACES)
      break;
  if (equals <= TG_XML_MAX_NAMESPACES)
    return NULL; /* each attribute has its '=': a methodcall's handful reaches neither bound */
  int namespaces = 0;
  while ((p = memchr(p, '<', (size_t)(end - p)))) {
    size_t left = (size_t)(end - p);
    if (left >= 4 && memcmp(p, "<!--", 4) == 0)
      p = past(p + 4, end, "-->");
    else if (left >= 9 && memcmp(p, "<![CDATA[", 9) == 0)
      p = past(p + 9, end, "]]>");
    else if (left >= 2 && p[1] == '?')
      p = past(p + 2, end, "?>");
    else if (scan_tag(&p, end, &namespaces) > TG_XML_MAX_ATTRIBUTES)
      return "too many attributes on an element";
    else if (namespaces > TG_XML_MAX_NAMESPACES)
      return "too many namespace declarations";
  }
  return NULL;
}

tg_xml_node_t *tg_xml_decode(tg_arena_t *arena, const char *bytes, size_t len, const char **why) {
  return tg_xml_decode_as(arena, bytes, len, NULL, why);
}

tg_xml_node_t *tg_xml_decode_as(tg_arena_t *arena, const char *bytes, size_t len, const char *encoding,
                                const char **why) {
  if (len > (size_t)INT32_MAX) {
    *why = "request too large";
    return NULL;
  }
  if (len == 0) {
    *why = "empty body";
    return NULL;
  }
  if (memchr(bytes, '\0', len)) {
    *why = "a NUL byte (no XML holds one: UTF-16 or UCS-4)";
    return NULL;
  }
  if ((*why = costly_markup(bytes, bytes + len)))
    return NULL;
  decoder_t d = {.arena = arena, .encoding_given = encoding != NULL};
  int head = len < 4 ? (int)len : 4;
  d.ctxt = parser_for_next_document(bytes, head, encoding);
  if (!d.ctxt) {
    *why = "out of memory";
    return NULL;
  }
  d.ctxt->userData = &d;
  xmlParseChunk(d.ctxt, bytes + head, (int)len - head, 1);
  int well_formed = d.ctxt->wellFormed;
  int namespace_well_formed = d.ctxt->nsWellFormed; /* an undeclared prefix on an attribute */
  d.ctxt->userData = NULL;
  if (d.ctxt->myDoc) {
    xmlFreeDoc(d.ctxt->myDoc);
    d.ctxt->myDoc = NULL;
  }
  tg_buf_free(&d.text);
  if (!d.why && (!well_formed || !d.root))
    d.why = "malformed XML";
  if (!d.why && !namespace_well_formed)
    d.why = "an undeclared namespace prefix";
  *why = d.why;
  return d.why ? NULL : d.root;
}

int tg_xml_name_ok(const char *name, size_t len) {
  if (len == 0 || !((name[0] >= 'A' && name[0] <= 'Z') || (name[0] >= 'a' && name[0] <= 'z') || name[0] == '_'))
    return 0;
  for (size_t i = 1; i < len; i++) {
    char c = name[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
          c == '.'))
      return 0;
  }
  return 1;
}

size_t tg_xml_utf8_length(const unsigned char *s, size_t left) {
  if (s[0] < 0x80)
    return 1;
  size_t n = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 ? 2 : 0;
  if (n == 0 || n > left || s[0] > 0xF4)
    return 0;
  for (size_t i = 1; i < n; i++)
    if ((s[i] & 0xC0) != 0x80)
      return 0;
  if ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] >= 0xA0) || (s[0] == 0xF0 && s[1] < 0x90) ||
      (s[0] == 0xF4 && s[1] >= 0x90))
    return 0; /* overlong forms and surrogates */
  return n;
}

/* Escapes text into out; a byte XML 1.0 cannot carry becomes U+FFFD, or with `exact` stops the
 * escaping: returns -2 and says why. */
static int escape(tg_buf_t *out, const char *text, size_t len, int exact, const char **why) {
  static const char replacement[] = "\xEF\xBF\xBD";
  const unsigned char *s = (const unsigned char *)text;
  size_t i = 0;
  while (i < len) {
    size_t n = tg_xml_utf8_length(s + i, len - i);
    const char *rep = NULL, *lost = NULL;
    if (n == 0)
      rep = replacement, n = 1, lost = "bytes that are not UTF-8";
    else if (n == 3 && s[i] == 0xEF && s[i + 1] == 0xBF && s[i + 2] >= 0xBE)
      rep = replacement, lost = "U+FFFE or U+FFFF"; /* no XML characters: a reader refuses them */
    else if (s[i] == '&')
      rep = "&amp;";
    else if (s[i] == '<')
      rep = "&lt;";
    else if (s[i] == '>')
      rep = "&gt;";
    else if (s[i] == '"')
      rep = "&quot;";
    else if (s[i] == '\'')
      rep = "&apos;";
    else if (s[i] == '\r')
      rep = "&#13;"; /* a literal CR would be normalised away by the reader */
    else if (s[i] < 0x20 && s[i] != '\t' && s[i] != '\n')
      rep = replacement, lost = "a control character"; /* not even a character reference carries it */
    if (lost && exact) {
      *why = lost;
      return -2;
    }
    int rc = rep ? tg_buf_puts(out, rep) : tg_buf_append(out, s + i, n);
    if (rc < 0)
      return -1;
    i += n;
  }
  return 0;
}

int tg_xml_escape(tg_buf_t *out, const char *text, size_t len) { return escape(out, text, len, 0, NULL); }

int tg_xml_escape_exact(tg_buf_t *out, const char *text, size_t len, const char **why) {
  return escape(out, text, len, 1, why);
}
