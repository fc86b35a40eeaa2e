/* A strict RFC 8259 JSON parser into a pooled tree, and a growable text
 * buffer (sbuf) with JSON string/number writers.
 *
 * Parsing: recursive descent bounded at JSON_MAX_DEPTH nested containers;
 * strings are validated as UTF-8 (no overlongs, no surrogates, nothing above
 * U+10FFFF) and \uXXXX escapes are decoded, surrogate pairs combined, lone
 * surrogates rejected; numbers follow the grammar exactly (no leading zeros,
 * no '+', no bare '.', no NaN/Infinity) and must fit a double; duplicate keys
 * and anything after the value are errors. Every error is YOLOC_ERR_PARSE
 * "<name>: byte <k>: <problem>" with k the 0-based offset of the fault.
 *
 * Memory: all nodes, strings, key and item arrays live in one chunked pool
 * owned by the jdoc; children of open containers wait on one growable stack
 * and are copied into an exact-size array when the container closes.
 *
 * Left out: comments, a byte-order mark, NaN/Infinity, streaming input,
 * key lookup faster than a linear scan (objects are small here), and keys
 * with an embedded \u0000 are stored whole but jnode_get compares them only
 * up to the first NUL. */
#include "io/json.h"

#include <math.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stddef.h>
#include "core/pool.h"

#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 64

/* ---- UTF-8 ---- */

/* Length of the valid UTF-8 sequence at s[0..n), or 0 when invalid
 * (overlong, surrogate, above U+10FFFF, truncated, bad continuation). */
static size_t utf8_seq_len(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    size_t k;
    unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    if (c >= 0xc2 && c <= 0xdf) {
        k = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        k = 3;
        if (c == 0xe0) lo = 0xa0; /* overlong */
        if (c == 0xed) hi = 0x9f; /* U+D800..U+DFFF */
    } else if (c >= 0xf0 && c <= 0xf4) {
        k = 4;
        if (c == 0xf0) lo = 0x90; /* overlong */
        if (c == 0xf4) hi = 0x8f; /* above U+10FFFF */
    } else {
        return 0;
    }
    if (n < k) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < k; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    return k;
}

int json_utf8_valid(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t k = utf8_seq_len(u + i, n - i);
        if (!k) return 0;
        i += k;
    }
    return 1;
}

static size_t utf8_encode(unsigned cp, unsigned char *out) {
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xc0 | (cp >> 6));
        out[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xe0 | (cp >> 12));
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (unsigned char)(0xf0 | (cp >> 18));
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

/* ---- parser ---- */

typedef struct {
    const char *str;
    size_t len;
    size_t offset; /* where the key's opening quote is */
} jkey;

typedef struct {
    const unsigned char *s;
    size_t len, pos;
    const char *name;
    pool *pool;
    jnode **stack; /* children of the open containers */
    size_t top, cap;
    jkey *keys; /* keys of the open objects */
    size_t ktop, kcap;
} jparser;

static status jp_fail(const jparser *p, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static status jp_fail(const jparser *p, size_t at, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return err_set(YOLOC_ERR_PARSE, "%s: byte %zu: %s", p->name, at, msg);
}

static status jp_nomem(const jparser *p) {
    return err_set(YOLOC_ERR_NOMEM, "%s: out of memory while parsing JSON", p->name);
}

/* "'x'" for a printable byte, "byte 0x0a" otherwise, "end of input" at the end. */
static const char *jp_what(const jparser *p, size_t at, char *buf, size_t cap) {
    if (at >= p->len) return "end of input";
    unsigned char c = p->s[at];
    if (c >= 0x20 && c < 0x7f)
        snprintf(buf, cap, "'%c'", c);
    else
        snprintf(buf, cap, "byte 0x%02x", c);
    return buf;
}

/* A key for messages: at most 60 bytes, non-printable bytes as '?'. */
static const char *jp_show(const char *s, size_t n, char *buf, size_t cap) {
    size_t k = 0;
    for (size_t i = 0; i < n && k + 4 < cap && i < 60; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[k++] = (c >= 0x20 && c != 0x7f) ? (char)c : '?';
    }
    if (n > 60 && k + 4 < cap) {
        memcpy(buf + k, "...", 3);
        k += 3;
    }
    buf[k] = 0;
    return buf;
}

static void jp_skip_ws(jparser *p) {
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

static status jp_push(jparser *p, jnode *n) {
    if (p->top == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        jnode **s = realloc(p->stack, cap * sizeof *s);
        if (!s) return jp_nomem(p);
        p->stack = s;
        p->cap = cap;
    }
    p->stack[p->top++] = n;
    return YOLOC_OK;
}

static status jp_push_key(jparser *p, jkey k) {
    if (p->ktop == p->kcap) {
        size_t cap = p->kcap ? p->kcap * 2 : 64;
        jkey *s = realloc(p->keys, cap * sizeof *s);
        if (!s) return jp_nomem(p);
        p->keys = s;
        p->kcap = cap;
    }
    p->keys[p->ktop++] = k;
    return YOLOC_OK;
}

static jnode *jp_node(jparser *p, jkind kind, size_t offset) {
    jnode *n = pool_alloc(p->pool, sizeof *n);
    if (!n) return NULL;
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->offset = offset;
    return n;
}

static int hexval(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Four hex digits at s[at..at+4) (at+4 <= end), or -1. */
static long jp_hex4(const jparser *p, size_t at, size_t end) {
    if (at + 4 > end) return -1;
    long v = 0;
    for (size_t i = 0; i < 4; i++) {
        int h = hexval(p->s[at + i]);
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

/* Parses the string whose opening quote is at p->pos into pool memory
 * (NUL-terminated, *len excludes the NUL). The decoded text is never longer
 * than the source, so one pass finds the closing quote and sizes the copy. */
static status jp_string(jparser *p, const char **out, size_t *out_len) {
    size_t start = p->pos, i = start + 1;
    while (i < p->len && p->s[i] != '"') i += p->s[i] == '\\' ? 2 : 1;
    if (i >= p->len) return jp_fail(p, start, "unterminated string");
    size_t end = i; /* the closing quote */
    unsigned char *dst = pool_alloc(p->pool, end - start);
    if (!dst) return jp_nomem(p);
    size_t k = 0;
    i = start + 1;
    while (i < end) {
        unsigned char c = p->s[i];
        if (c < 0x20)
            return jp_fail(p, i, "control character 0x%02x in a string (must be escaped)", c);
        if (c == '\\') {
            unsigned char e = p->s[i + 1]; /* i + 1 < end: the scan above skipped it */
            static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
            const char *m = e ? strchr(from, e) : NULL;
            if (m) {
                dst[k++] = (unsigned char)to[m - from];
                i += 2;
                continue;
            }
            if (e != 'u') {
                char wb[16];
                return jp_fail(p, i, "invalid escape '\\' followed by %s",
                               jp_what(p, i + 1, wb, sizeof wb));
            }
            long cp = jp_hex4(p, i + 2, end);
            if (cp < 0) return jp_fail(p, i, "invalid \\u escape (needs 4 hex digits)");
            size_t esc_at = i;
            i += 6;
            if (cp >= 0xdc00 && cp <= 0xdfff)
                return jp_fail(p, esc_at, "lone low surrogate \\u%04lX", cp);
            if (cp >= 0xd800 && cp <= 0xdbff) {
                long lo = (i + 1 < end && p->s[i] == '\\' && p->s[i + 1] == 'u')
                              ? jp_hex4(p, i + 2, end)
                              : -1;
                if (lo < 0xdc00 || lo > 0xdfff)
                    return jp_fail(p, esc_at,
                                   "high surrogate \\u%04lX not followed by a low surrogate", cp);
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                i += 6;
            }
            k += utf8_encode((unsigned)cp, dst + k);
            continue;
        }
        size_t n = utf8_seq_len(p->s + i, end - i);
        if (!n) return jp_fail(p, i, "invalid UTF-8 in a string (byte 0x%02x)", c);
        memcpy(dst + k, p->s + i, n);
        k += n;
        i += n;
    }
    dst[k] = 0;
    p->pos = end + 1;
    *out = (const char *)dst;
    *out_len = k;
    return YOLOC_OK;
}

static int is_digit(unsigned char c) {
    return c >= '0' && c <= '9';
}

static status jp_number(jparser *p, jnode **out) {
    size_t start = p->pos, i = start;
    char wb[16];
    if (i < p->len && p->s[i] == '-') i++;
    if (i >= p->len || !is_digit(p->s[i]))
        return jp_fail(p, i, "invalid number: expected a digit, got %s",
                       jp_what(p, i, wb, sizeof wb));
    if (p->s[i] == '0') {
        i++;
        if (i < p->len && is_digit(p->s[i]))
            return jp_fail(p, start, "invalid number: leading zero");
    } else {
        while (i < p->len && is_digit(p->s[i])) i++;
    }
    if (i < p->len && p->s[i] == '.') {
        i++;
        if (i >= p->len || !is_digit(p->s[i]))
            return jp_fail(p, i, "invalid number: expected a digit after '.', got %s",
                           jp_what(p, i, wb, sizeof wb));
        while (i < p->len && is_digit(p->s[i])) i++;
    }
    if (i < p->len && (p->s[i] == 'e' || p->s[i] == 'E')) {
        i++;
        if (i < p->len && (p->s[i] == '+' || p->s[i] == '-')) i++;
        if (i >= p->len || !is_digit(p->s[i]))
            return jp_fail(p, i, "invalid number: expected a digit in the exponent, got %s",
                           jp_what(p, i, wb, sizeof wb));
        while (i < p->len && is_digit(p->s[i])) i++;
    }
    jnode *n = jp_node(p, JSON_NUMBER, start);
    char *text = pool_alloc(p->pool, i - start + 1);
    if (!n || !text) return jp_nomem(p);
    memcpy(text, p->s + start, i - start);
    text[i - start] = 0;
    n->text = text;
    n->len = i - start;
    /* the grammar above is a subset of strtod's, so strtod reads all of it */
    n->number = strtod(text, NULL);
    if (isinf(n->number)) return jp_fail(p, start, "number out of range: %.40s", text);
    p->pos = i;
    *out = n;
    return YOLOC_OK;
}

/* Orders keys by content, then by position, so duplicates become neighbours. */
static int jkey_cmp(const void *a, const void *b) {
    const jkey *x = a, *y = b;
    size_t m = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->str, y->str, m);
    if (c) return c;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Reports the duplicate whose second occurrence comes first in the input:
 * after sorting, that is the smallest offset among keys equal to their
 * predecessor, and the predecessor is the first occurrence. */
static status jp_check_dups(jparser *p, jkey *k, size_t n) {
    if (n < 2) return YOLOC_OK;
    qsort(k, n, sizeof *k, jkey_cmp);
    size_t dup = 0;
    for (size_t i = 1; i < n; i++)
        if (k[i].len == k[i - 1].len && memcmp(k[i].str, k[i - 1].str, k[i].len) == 0 &&
            (!dup || k[i].offset < k[dup].offset))
            dup = i;
    if (!dup) return YOLOC_OK;
    char sb[80];
    return jp_fail(p, k[dup].offset, "duplicate key \"%s\" (first at byte %zu)",
                   jp_show(k[dup].str, k[dup].len, sb, sizeof sb), k[dup - 1].offset);
}

static status jp_value(jparser *p, int depth, jnode **out);

static status jp_array(jparser *p, int depth, jnode **out) {
    size_t start_off = p->pos, base = p->top;
    char wb[16];
    p->pos++;
    jp_skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == ']') {
        p->pos++;
    } else {
        for (;;) {
            jnode *child;
            TRY(jp_value(p, depth, &child));
            TRY(jp_push(p, child));
            jp_skip_ws(p);
            if (p->pos < p->len && p->s[p->pos] == ',') {
                p->pos++;
                jp_skip_ws(p);
                if (p->pos < p->len && p->s[p->pos] == ']')
                    return jp_fail(p, p->pos, "trailing comma in an array");
                continue;
            }
            if (p->pos < p->len && p->s[p->pos] == ']') {
                p->pos++;
                break;
            }
            return jp_fail(p, p->pos, "expected ',' or ']' in an array, got %s",
                           jp_what(p, p->pos, wb, sizeof wb));
        }
    }
    jnode *n = jp_node(p, JSON_ARRAY, start_off);
    if (!n) return jp_nomem(p);
    n->n = p->top - base;
    if (n->n) {
        n->items = pool_alloc(p->pool, n->n * sizeof *n->items);
        if (!n->items) return jp_nomem(p);
        memcpy(n->items, p->stack + base, n->n * sizeof *n->items);
    }
    p->top = base;
    *out = n;
    return YOLOC_OK;
}

static status jp_object(jparser *p, int depth, jnode **out) {
    size_t start_off = p->pos, base = p->top, kbase = p->ktop;
    char wb[16];
    p->pos++;
    jp_skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == '}') {
        p->pos++;
    } else {
        for (;;) {
            if (p->pos >= p->len || p->s[p->pos] != '"')
                return jp_fail(p, p->pos, "expected a string key in an object, got %s",
                               jp_what(p, p->pos, wb, sizeof wb));
            jkey k;
            k.offset = p->pos;
            TRY(jp_string(p, &k.str, &k.len));
            TRY(jp_push_key(p, k));
            jp_skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':')
                return jp_fail(p, p->pos, "expected ':' after an object key, got %s",
                               jp_what(p, p->pos, wb, sizeof wb));
            p->pos++;
            jnode *child;
            TRY(jp_value(p, depth, &child));
            TRY(jp_push(p, child));
            jp_skip_ws(p);
            if (p->pos < p->len && p->s[p->pos] == ',') {
                p->pos++;
                jp_skip_ws(p);
                if (p->pos < p->len && p->s[p->pos] == '}')
                    return jp_fail(p, p->pos, "trailing comma in an object");
                continue;
            }
            if (p->pos < p->len && p->s[p->pos] == '}') {
                p->pos++;
                break;
            }
            return jp_fail(p, p->pos, "expected ',' or '}' in an object, got %s",
                           jp_what(p, p->pos, wb, sizeof wb));
        }
    }
    jnode *n = jp_node(p, JSON_OBJECT, start_off);
    if (!n) return jp_nomem(p);
    n->n = p->top - base;
    if (n->n) {
        n->items = pool_alloc(p->pool, n->n * sizeof *n->items);
        n->keys = pool_alloc(p->pool, n->n * sizeof *n->keys);
        if (!n->items || !n->keys) return jp_nomem(p);
        memcpy(n->items, p->stack + base, n->n * sizeof *n->items);
        for (size_t i = 0; i < n->n; i++) n->keys[i] = p->keys[kbase + i].str;
        TRY(jp_check_dups(p, p->keys + kbase, n->n));
    }
    p->top = base;
    p->ktop = kbase;
    *out = n;
    return YOLOC_OK;
}

static status jp_literal(jparser *p, const char *word, jkind kind, int boolean, jnode **out) {
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
        return jp_fail(p, p->pos, "invalid literal (expected '%s')", word);
    jnode *node = jp_node(p, kind, p->pos);
    if (!node) return jp_nomem(p);
    node->boolean = boolean;
    p->pos += n;
    *out = node;
    return YOLOC_OK;
}

/* One value at p->pos (after whitespace); depth = containers around it. */
static status jp_value(jparser *p, int depth, jnode **out) {
    char wb[16];
    jp_skip_ws(p);
    if (p->pos >= p->len) return jp_fail(p, p->pos, "unexpected end of input, expected a value");
    unsigned char c = p->s[p->pos];
    if (c == '{' || c == '[') {
        if (depth >= JSON_MAX_DEPTH)
            return jp_fail(p, p->pos, "nesting deeper than %d levels", JSON_MAX_DEPTH);
        return c == '{' ? jp_object(p, depth + 1, out) : jp_array(p, depth + 1, out);
    }
    if (c == '"') {
        jnode *n = jp_node(p, JSON_STRING, p->pos);
        if (!n) return jp_nomem(p);
        TRY(jp_string(p, &n->text, &n->len));
        *out = n;
        return YOLOC_OK;
    }
    if (c == '-' || is_digit(c)) return jp_number(p, out);
    if (c == 't') return jp_literal(p, "true", JSON_BOOL, 1, out);
    if (c == 'f') return jp_literal(p, "false", JSON_BOOL, 0, out);
    if (c == 'n') return jp_literal(p, "null", JSON_NULL, 0, out);
    return jp_fail(p, p->pos, "unexpected %s, expected a value", jp_what(p, p->pos, wb, sizeof wb));
}

status jdoc_parse(jdoc *doc, const char *text, size_t len, const char *name) {
    memset(doc, 0, sizeof *doc);
    jparser p;
    memset(&p, 0, sizeof p);
    p.s = (const unsigned char *)text;
    p.len = text ? len : 0;
    p.name = name ? name : "<json>";
    p.pool = calloc(1, sizeof(pool));
    if (!p.pool) return jp_nomem(&p);
    jnode *root = NULL;
    status st = jp_value(&p, 0, &root);
    if (st >= 0) {
        jp_skip_ws(&p);
        if (p.pos < p.len) st = jp_fail(&p, p.pos, "unexpected data after the JSON value");
    }
    free(p.stack);
    free(p.keys);
    if (st < 0) {
        pool_destroy(p.pool);
        return st;
    }
    doc->root = root;
    doc->pool = p.pool;
    return YOLOC_OK;
}

void jdoc_free(jdoc *doc) {
    if (!doc) return;
    pool_destroy(doc->pool);
    doc->pool = NULL;
    doc->root = NULL;
}

const jnode *jnode_get(const jnode *obj, const char *key) {
    if (!obj || obj->kind != JSON_OBJECT || !key) return NULL;
    for (size_t i = 0; i < obj->n; i++)
        if (strcmp(obj->keys[i], key) == 0) return obj->items[i];
    return NULL;
}

int jnode_u64(const jnode *n, uint64_t *out) {
    if (!n || n->kind != JSON_NUMBER || !n->text || !n->text[0]) return -1;
    uint64_t v = 0;
    for (const char *c = n->text; *c; c++) {
        if (*c < '0' || *c > '9') return -1; /* '-', '.', 'e' */
        unsigned d = (unsigned)(*c - '0');
        if (v > (UINT64_MAX - d) / 10) return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* ---- sbuf ---- */

void sbuf_init(sbuf *s) {
    memset(s, 0, sizeof *s);
}

void sbuf_free(sbuf *s) {
    free(s->buf);
    memset(s, 0, sizeof *s);
}

/* Room for `extra` more bytes plus the NUL; 0 (and s->failed) when not. */
static int sbuf_reserve(sbuf *s, size_t extra) {
    if (s->failed) return 0;
    if (extra > SIZE_MAX - s->len - 1) {
        s->failed = 1;
        return 0;
    }
    size_t need = s->len + extra + 1;
    if (need <= s->cap) return 1;
    size_t cap = s->cap ? s->cap : 64;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *b = realloc(s->buf, cap);
    if (!b) {
        s->failed = 1;
        return 0;
    }
    s->buf = b;
    s->cap = cap;
    return 1;
}

void sbuf_append(sbuf *s, const char *data, size_t n) {
    if (!sbuf_reserve(s, n)) return;
    if (n) memcpy(s->buf + s->len, data, n);
    s->len += n;
    s->buf[s->len] = 0;
}

void sbuf_printf(sbuf *s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        s->failed = 1;
        return;
    }
    if (!sbuf_reserve(s, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(s->buf + s->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    s->len += (size_t)n;
}

void sbuf_json_string(sbuf *s, const char *str) {
    if (!str) {
        sbuf_append(s, "null", 4);
        return;
    }
    sbuf_append(s, "\"", 1);
    const char *run = str; /* bytes copied as they are */
    for (const char *c = str; *c; c++) {
        unsigned char u = (unsigned char)*c;
        const char *esc = NULL;
        char hex[8];
        switch (u) {
        case '"':
            esc = "\\\"";
            break;
        case '\\':
            esc = "\\\\";
            break;
        case '\b':
            esc = "\\b";
            break;
        case '\f':
            esc = "\\f";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        case '\t':
            esc = "\\t";
            break;
        default:
            if (u < 0x20) {
                snprintf(hex, sizeof hex, "\\u%04x", u);
                esc = hex;
            }
        }
        if (!esc) continue;
        sbuf_append(s, run, (size_t)(c - run));
        sbuf_append(s, esc, strlen(esc));
        run = c + 1;
    }
    sbuf_append(s, run, strlen(run));
    sbuf_append(s, "\"", 1);
}

void sbuf_json_number(sbuf *s, double v) {
    if (!isfinite(v)) {
        sbuf_append(s, "null", 4);
        return;
    }
    sbuf_printf(s, "%.17g", v);
}
