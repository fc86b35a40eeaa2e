/* Minimal JSON: a strict parser into a tree (for safetensors headers,
 * COCO files and config round-trips) and a small writer with escaping.
 * Numbers are kept as double and as their source text (for exact integers
 * beyond 2^53, e.g. safetensors offsets, use jnode_u64). */
#ifndef YOLOC_IO_JSON_H
#define YOLOC_IO_JSON_H

#include "core/status.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum { JSON_NULL = 0, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } jkind;

typedef struct jnode jnode;
struct jnode {
    jkind kind;
    int boolean;
    double number;
    const char *text; /* STRING: the decoded string (UTF-8, NUL-terminated);
                         NUMBER: the source text */
    size_t len;       /* STRING: byte length (may contain \u0000) */
    size_t n;         /* ARRAY/OBJECT: element count */
    jnode **items;    /* ARRAY/OBJECT: elements (object values) */
    const char **keys; /* OBJECT: keys, in source order */
    size_t offset;     /* byte offset of the node in the input (for messages) */
};

typedef struct {
    jnode *root;
    void *pool; /* private */
} jdoc;

/* Parses exactly one JSON value (surrounding whitespace allowed).
 * YOLOC_ERR_PARSE with "<name>: byte <k>: <problem>" on bad input. Nesting
 * deeper than 64 levels is an error. Duplicate object keys are an error. */
status jdoc_parse(jdoc *doc, const char *text, size_t len, const char *name);
void jdoc_free(jdoc *doc);
const jnode *jnode_get(const jnode *obj, const char *key);
/* Non-negative integer exactly representable in uint64 (no fraction, no
 * exponent): 0 and sets *out; -1 otherwise. */
int jnode_u64(const jnode *n, uint64_t *out);
/* 1 when s[0..n) is valid UTF-8 (no overlongs, surrogates or code points
 * above U+10FFFF), the rule the parser applies to strings; 0 otherwise. */
int json_utf8_valid(const char *s, size_t n);

/* Growable output buffer for writing JSON (or any text). */
typedef struct {
    char *buf;
    size_t len, cap;
    int failed; /* an allocation failed: content is incomplete */
} sbuf;
void sbuf_init(sbuf *s);
void sbuf_free(sbuf *s);
void sbuf_printf(sbuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sbuf_append(sbuf *s, const char *data, size_t n);
/* Appends a JSON string literal with quotes and escapes. */
void sbuf_json_string(sbuf *s, const char *str);
/* Appends a double that round-trips ("%.17g", or null for non-finite). */
void sbuf_json_number(sbuf *s, double v);

#endif
