/* YAML documents as a ynode tree, built from libyaml's event stream.
 *
 * Each event becomes a node carrying libyaml's start mark as a 1-based line
 * and column. Children of open collections wait on one growable stack and are
 * copied into exact-size arrays when the collection ends; open collections
 * are an explicit frame stack, so deep nesting costs heap, not C stack, and
 * is bounded at YAML_MAX_DEPTH.
 *
 * Refused with YOLOC_ERR_PARSE naming "<name>:<line>:<col>": anything
 * libyaml rejects (its problem text, plus its context when it gives one),
 * anchors and aliases, a mapping key that is not a scalar, a key given twice
 * in one mapping (both lines named), nesting deeper than YAML_MAX_DEPTH.
 *
 * Left out: documents after the first (not even parsed), tags (ignored: the
 * text is kept and the getters decide), merge keys (<< is an ordinary key),
 * YAML 1.1 integer forms 017 (octal), 0o17 and 1_000 (0x1f happens to work
 * through strtod), and a key with an embedded NUL compares only up to the
 * NUL. */
#include "io/yaml.h"

#include "core/kv.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include "core/pool.h"

#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define YAML_MAX_DEPTH 256

/* ---- tree builder ---- */

typedef struct {
    ynode *node;  /* an open SEQ or MAP */
    size_t start; /* its first child on the child stack */
} yframe;

typedef struct {
    const char *name;
    pool *pool;
    ynode **kids; /* children of open collections (MAP: key, value, key, ...) */
    size_t nkids, capkids;
    yframe *frames;
    size_t nframes, capframes;
    ynode *root;
    int root_is_blank; /* the root is an empty plain scalar (`---` alone) */
} ybuilder;

static status yb_nomem(const ybuilder *b) {
    return err_set(YOLOC_ERR_NOMEM, "%s: out of memory while loading YAML", b->name);
}

static status yb_fail(const ybuilder *b, yaml_mark_t m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static status yb_fail(const ybuilder *b, yaml_mark_t m, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return err_set(YOLOC_ERR_PARSE, "%s:%d:%d: %s", b->name, (int)m.line + 1, (int)m.column + 1,
                   msg);
}

/* Text for messages: at most 60 bytes, non-printable bytes as '?'. */
static const char *y_show(const char *s, char *buf, size_t cap) {
    size_t k = 0, i = 0;
    for (; s[i] && k + 4 < cap && i < 60; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[k++] = (c >= 0x20 && c != 0x7f) ? (char)c : '?';
    }
    if (s[i] && k + 4 < cap) {
        memcpy(buf + k, "...", 3);
        k += 3;
    }
    buf[k] = 0;
    return buf;
}

static const char *kind_name(ynode_kind k) {
    return k == YNODE_MAP ? "a mapping" : k == YNODE_SEQ ? "a sequence" : "a scalar";
}

static ynode *yb_node(ybuilder *b, ynode_kind kind, yaml_mark_t m) {
    ynode *n = pool_alloc(b->pool, sizeof *n);
    if (!n) return NULL;
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->line = (int)m.line + 1;
    n->col = (int)m.column + 1;
    n->str = "";
    return n;
}

/* Attaches a new node to the open collection (or makes it the root). */
static status yb_add(ybuilder *b, ynode *n, yaml_mark_t m) {
    if (!b->nframes) {
        b->root = n;
        return YOLOC_OK;
    }
    const yframe *f = &b->frames[b->nframes - 1];
    if (f->node->kind == YNODE_MAP && (b->nkids - f->start) % 2 == 0 && n->kind != YNODE_SCALAR)
        return yb_fail(b, m, "a mapping key must be a scalar, got %s", kind_name(n->kind));
    if (b->nkids == b->capkids) {
        size_t cap = b->capkids ? b->capkids * 2 : 64;
        ynode **k = realloc(b->kids, cap * sizeof *k);
        if (!k) return yb_nomem(b);
        b->kids = k;
        b->capkids = cap;
    }
    b->kids[b->nkids++] = n;
    return YOLOC_OK;
}

static status yb_open(ybuilder *b, ynode *n, yaml_mark_t m) {
    TRY(yb_add(b, n, m));
    if (b->nframes >= YAML_MAX_DEPTH)
        return yb_fail(b, m, "nesting deeper than %d levels", YAML_MAX_DEPTH);
    if (b->nframes == b->capframes) {
        size_t cap = b->capframes ? b->capframes * 2 : 16;
        yframe *f = realloc(b->frames, cap * sizeof *f);
        if (!f) return yb_nomem(b);
        b->frames = f;
        b->capframes = cap;
    }
    b->frames[b->nframes].node = n;
    b->frames[b->nframes].start = b->nkids;
    b->nframes++;
    return YOLOC_OK;
}

typedef struct {
    const char *key;
    int line;
    size_t idx;
} ykey;

static int ykey_cmp(const void *a, const void *b) {
    const ykey *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c) return c;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Duplicate keys: sorted by (key, position), the duplicate reported is the
 * earliest second occurrence, named with the line of the first. */
static status yb_check_dups(ybuilder *b, const ynode *map, ynode *const *kids) {
    if (map->n < 2) return YOLOC_OK;
    ykey *k = malloc(map->n * sizeof *k);
    if (!k) return yb_nomem(b);
    for (size_t i = 0; i < map->n; i++) {
        k[i].key = map->keys[i];
        k[i].line = map->key_lines[i];
        k[i].idx = i;
    }
    qsort(k, map->n, sizeof *k, ykey_cmp);
    size_t dup = 0;
    for (size_t i = 1; i < map->n; i++)
        if (strcmp(k[i].key, k[i - 1].key) == 0 && (!dup || k[i].idx < k[dup].idx)) dup = i;
    status st = YOLOC_OK;
    if (dup) {
        const ynode *key = kids[2 * k[dup].idx];
        char sb[80];
        st = err_set(YOLOC_ERR_PARSE, "%s:%d:%d: duplicate key '%s' (first at line %d)", b->name,
                     key->line, key->col, y_show(k[dup].key, sb, sizeof sb), k[dup - 1].line);
    }
    free(k);
    return st;
}

static status yb_close(ybuilder *b) {
    YOLOC_ASSERT(b->nframes > 0);
    yframe f = b->frames[--b->nframes];
    ynode *n = f.node;
    size_t count = b->nkids - f.start;
    ynode **kids = count ? b->kids + f.start : NULL; /* b->kids is NULL before the first child */
    if (n->kind == YNODE_SEQ) {
        n->n = count;
        if (count) {
            n->items = pool_alloc(b->pool, count * sizeof *n->items);
            if (!n->items) return yb_nomem(b);
            memcpy(n->items, kids, count * sizeof *n->items);
        }
    } else {
        YOLOC_ASSERT(count % 2 == 0); /* libyaml pairs every key with a value */
        n->n = count / 2;
        if (n->n) {
            n->items = pool_alloc(b->pool, n->n * sizeof *n->items);
            n->keys = pool_alloc(b->pool, n->n * sizeof *n->keys);
            n->key_lines = pool_alloc(b->pool, n->n * sizeof *n->key_lines);
            if (!n->items || !n->keys || !n->key_lines) return yb_nomem(b);
            for (size_t i = 0; i < n->n; i++) {
                n->keys[i] = kids[2 * i]->str;
                n->key_lines[i] = kids[2 * i]->line;
                n->items[i] = kids[2 * i + 1];
            }
            TRY(yb_check_dups(b, n, kids));
        }
    }
    b->nkids = f.start;
    return YOLOC_OK;
}

static status yb_anchor(const ybuilder *b, const yaml_event_t *ev, const yaml_char_t *anchor) {
    if (!anchor) return YOLOC_OK;
    char sb[80];
    return yb_fail(b, ev->start_mark, "anchors are not supported (&%s)",
                   y_show((const char *)anchor, sb, sizeof sb));
}

static status yb_event(ybuilder *b, const yaml_event_t *ev, int *done) {
    ynode *n;
    char sb[80];
    switch (ev->type) {
    case YAML_DOCUMENT_END_EVENT:
    case YAML_STREAM_END_EVENT:
        *done = 1;
        return YOLOC_OK;
    case YAML_ALIAS_EVENT:
        return yb_fail(b, ev->start_mark, "aliases are not supported (*%s)",
                       y_show((const char *)ev->data.alias.anchor, sb, sizeof sb));
    case YAML_SCALAR_EVENT:
        TRY(yb_anchor(b, ev, ev->data.scalar.anchor));
        n = yb_node(b, YNODE_SCALAR, ev->start_mark);
        if (!n) return yb_nomem(b);
        n->str = pool_strndup(b->pool, (const char *)ev->data.scalar.value, ev->data.scalar.length);
        if (!n->str) return yb_nomem(b);
        n->quoted = ev->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                    ev->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
        if (!b->nframes)
            b->root_is_blank =
                ev->data.scalar.length == 0 && ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        return yb_add(b, n, ev->start_mark);
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        TRY(yb_anchor(b, ev,
                      ev->type == YAML_SEQUENCE_START_EVENT ? ev->data.sequence_start.anchor
                                                            : ev->data.mapping_start.anchor));
        n = yb_node(b, ev->type == YAML_SEQUENCE_START_EVENT ? YNODE_SEQ : YNODE_MAP,
                    ev->start_mark);
        if (!n) return yb_nomem(b);
        return yb_open(b, n, ev->start_mark);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return yb_close(b);
    default:
        return YOLOC_OK; /* stream/document start, no event */
    }
}

/* libyaml's error as "<name>:<line>:<col>: problem (context at line L)".
 * Reader errors (bad UTF-8, control characters) carry a byte offset instead
 * of a mark; the line and column are counted from the text. */
static status yb_parser_error(const ybuilder *b, const yaml_parser_t *ps, const char *text,
                              size_t len) {
    if (ps->error == YAML_MEMORY_ERROR) return yb_nomem(b);
    const char *problem = ps->problem ? ps->problem : "invalid YAML";
    if (ps->error == YAML_READER_ERROR) {
        size_t off = ps->problem_offset < len ? ps->problem_offset : len;
        int line = 1, col = 1;
        for (size_t i = 0; i < off; i++) {
            if (text[i] == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
        if (ps->problem_value >= 0)
            return err_set(YOLOC_ERR_PARSE, "%s:%d:%d: %s (byte 0x%02x)", b->name, line, col,
                           problem, ps->problem_value & 0xff);
        return err_set(YOLOC_ERR_PARSE, "%s:%d:%d: %s", b->name, line, col, problem);
    }
    int line = (int)ps->problem_mark.line + 1, col = (int)ps->problem_mark.column + 1;
    if (ps->context)
        return err_set(YOLOC_ERR_PARSE, "%s:%d:%d: %s (%s at line %d)", b->name, line, col, problem,
                       ps->context, (int)ps->context_mark.line + 1);
    return err_set(YOLOC_ERR_PARSE, "%s:%d:%d: %s", b->name, line, col, problem);
}

status ydoc_load_string(ydoc *doc, const char *text, size_t len, const char *name) {
    memset(doc, 0, sizeof *doc);
    ybuilder b;
    memset(&b, 0, sizeof b);
    b.name = name ? name : "<yaml>";
    b.pool = calloc(1, sizeof(pool));
    if (!b.pool) return yb_nomem(&b);
    char *owned_name = pool_strndup(b.pool, b.name, strlen(b.name));
    if (!owned_name) {
        pool_destroy(b.pool);
        return yb_nomem(&b);
    }
    b.name = owned_name;

    yaml_parser_t ps;
    if (!yaml_parser_initialize(&ps)) {
        pool_destroy(b.pool);
        return err_set(YOLOC_ERR_NOMEM, "%s: cannot initialise the YAML parser", owned_name);
    }
    yaml_parser_set_input_string(&ps, (const unsigned char *)(text ? text : ""), text ? len : 0);
    status st = YOLOC_OK;
    int done = 0;
    while (!done && st >= 0) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&ps, &ev)) {
            st = yb_parser_error(&b, &ps, text ? text : "", text ? len : 0);
            break;
        }
        st = yb_event(&b, &ev, &done);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&ps);
    free(b.kids);
    free(b.frames);
    if (st < 0) {
        pool_destroy(b.pool);
        return st;
    }
    /* `---` with nothing after it is an empty document, like no text at all */
    doc->root = b.root_is_blank ? NULL : b.root;
    doc->name = owned_name;
    doc->pool = b.pool;
    return YOLOC_OK;
}

status ydoc_load_file(ydoc *doc, const char *path) {
    memset(doc, 0, sizeof *doc);
    FILE *f = fopen(path, "rb");
    if (!f) return err_set(YOLOC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 4096) {
            size_t ncap = cap ? cap * 2 : 16384;
            char *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                fclose(f);
                return err_set(YOLOC_ERR_NOMEM, "%s: out of memory reading the file", path);
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    int failed = ferror(f);
    int saved = errno;
    fclose(f);
    if (failed) {
        free(buf);
        return err_set(YOLOC_ERR_IO, "%s: cannot read: %s", path, strerror(saved));
    }
    status st = ydoc_load_string(doc, buf, len, path);
    free(buf);
    return st;
}

void ydoc_free(ydoc *doc) {
    if (!doc) return;
    pool_destroy(doc->pool);
    memset(doc, 0, sizeof *doc);
}

/* ---- lookups and conversions ---- */

const ynode *ynode_get(const ynode *map, const char *key) {
    if (!map || map->kind != YNODE_MAP || !key) return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (strcmp(map->keys[i], key) == 0) return map->items[i];
    return NULL;
}

int ynode_is_null(const ynode *n) {
    if (!n || n->kind != YNODE_SCALAR || n->quoted) return 0;
    const char *s = n->str;
    return !s[0] || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
           !strcmp(s, "NULL");
}

status ynode_error(const ydoc *doc, const ynode *n, status st, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *name = doc && doc->name ? doc->name : "<yaml>";
    if (n) return err_set(st, "%s:%d:%d: %s", name, n->line, n->col, msg);
    return err_set(st, "%s: %s", name, msg);
}

/* The scalar text of n, or an error "<what>: expected <expected>, got a
 * mapping" (or "got nothing" for a missing node). */
static status y_scalar(const ydoc *doc, const ynode *n, const char *what, const char *expected,
                       const char **out) {
    if (!what) what = "value";
    if (!n)
        return ynode_error(doc, NULL, YOLOC_ERR_INVALID, "%s: expected %s, got nothing", what,
                           expected);
    if (n->kind != YNODE_SCALAR)
        return ynode_error(doc, n, YOLOC_ERR_INVALID, "%s: expected %s, got %s", what, expected,
                           kind_name(n->kind));
    *out = n->str;
    return YOLOC_OK;
}

static status y_bad(const ydoc *doc, const ynode *n, const char *what, const char *expected) {
    char sb[80];
    return ynode_error(doc, n, YOLOC_ERR_INVALID, "%s: expected %s, got '%s'",
                       what ? what : "value", expected, y_show(n->str, sb, sizeof sb));
}

status ynode_double(const ydoc *doc, const ynode *n, const char *what, double *out) {
    const char *s = "";
    TRY(y_scalar(doc, n, what, "a number", &s));
    /* YAML spells infinity .inf; strtod's own "inf"/"nan" spellings and
     * leading blanks are not YAML numbers */
    const char *t = (s[0] == '-' || s[0] == '+') ? s + 1 : s;
    if (!strcmp(t, ".inf") || !strcmp(t, ".Inf") || !strcmp(t, ".INF")) {
        *out = s[0] == '-' ? -HUGE_VAL : HUGE_VAL;
        return YOLOC_OK;
    }
    double v;
    if (!(isdigit((unsigned char)t[0]) || t[0] == '.') || parse_double(s, &v) != 0)
        return y_bad(doc, n, what, "a number");
    *out = v;
    return YOLOC_OK;
}

status ynode_int(const ydoc *doc, const ynode *n, const char *what, long *out) {
    const char *s = "";
    TRY(y_scalar(doc, n, what, "an integer", &s));
    const char *t = (s[0] == '-' || s[0] == '+') ? s + 1 : s;
    long v;
    /* an integral float ("80.0", "1e3") is accepted, as on the command line */
    if (!(isdigit((unsigned char)t[0]) || t[0] == '.') || parse_long(s, &v) != 0)
        return y_bad(doc, n, what, "an integer");
    *out = v;
    return YOLOC_OK;
}

status ynode_bool(const ydoc *doc, const ynode *n, const char *what, int *out) {
    const char *s = "";
    TRY(y_scalar(doc, n, what, "true or false", &s));
    if (parse_bool(s, out) != 0) return y_bad(doc, n, what, "true or false");
    return YOLOC_OK;
}

status ynode_str(const ydoc *doc, const ynode *n, const char *what, const char **out) {
    return y_scalar(doc, n, what, "a string", out);
}
