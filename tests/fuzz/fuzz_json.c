/* Fuzz target for the JSON parser: any bytes either parse into a tree that
 * is visited node by node, written back with the sbuf writer and parsed
 * again to the same shape (when no \u0000 makes a key ambiguous), or fail
 * with "<name>: byte <k>: ..." where k lies within the input. */
#include "io/json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void write_node(sbuf *s, const jnode *n) {
    switch (n->kind) {
    case JSON_NULL:
        sbuf_append(s, "null", 4);
        break;
    case JSON_BOOL:
        sbuf_append(s, n->boolean ? "true" : "false", n->boolean ? 4 : 5);
        break;
    case JSON_NUMBER:
        sbuf_append(s, n->text, strlen(n->text));
        break;
    case JSON_STRING:
        sbuf_json_string(s, n->text);
        break;
    case JSON_ARRAY:
    case JSON_OBJECT:
        sbuf_append(s, n->kind == JSON_ARRAY ? "[" : "{", 1);
        for (size_t i = 0; i < n->n; i++) {
            if (i) sbuf_append(s, ",", 1);
            if (n->kind == JSON_OBJECT) {
                sbuf_json_string(s, n->keys[i]);
                sbuf_append(s, ":", 1);
            }
            write_node(s, n->items[i]);
        }
        sbuf_append(s, n->kind == JSON_ARRAY ? "]" : "}", 1);
        break;
    }
}

/* Same kinds, sizes, keys, strings and numbers. */
static void same(const jnode *a, const jnode *b) {
    YOLOC_ASSERT(a->kind == b->kind && a->n == b->n);
    if (a->kind == JSON_STRING)
        YOLOC_ASSERT(a->len == b->len && memcmp(a->text, b->text, a->len) == 0);
    if (a->kind == JSON_NUMBER) YOLOC_ASSERT(strcmp(a->text, b->text) == 0);
    if (a->kind == JSON_BOOL) YOLOC_ASSERT(a->boolean == b->boolean);
    for (size_t i = 0; i < a->n; i++) {
        if (a->kind == JSON_OBJECT) YOLOC_ASSERT(strcmp(a->keys[i], b->keys[i]) == 0);
        same(a->items[i], b->items[i]);
    }
}

static size_t walk(const jnode *n, size_t size, int depth) {
    YOLOC_ASSERT(depth <= 64 && n->offset < size);
    size_t sum = n->offset;
    uint64_t u;
    if (n->kind == JSON_NUMBER && jnode_u64(n, &u) == 0) sum += (size_t)u;
    if (n->kind == JSON_STRING) {
        YOLOC_ASSERT(n->text[n->len] == 0 && json_utf8_valid(n->text, n->len));
        sum += n->len;
    }
    for (size_t i = 0; i < n->n; i++) {
        if (n->kind == JSON_OBJECT) YOLOC_ASSERT(jnode_get(n, n->keys[i]) != NULL);
        sum += walk(n->items[i], size, depth + 1);
    }
    return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    jdoc d;
    if (jdoc_parse(&d, (const char *)data, size, "fuzz.json") != YOLOC_OK) {
        YOLOC_ASSERT(d.root == NULL && d.pool == NULL);
        const char *m = yoloc_last_error();
        YOLOC_ASSERT(strncmp(m, "fuzz.json: byte ", 16) == 0);
        YOLOC_ASSERT(strtoull(m + 16, NULL, 10) <= size);
        return 0;
    }
    volatile size_t sink = walk(d.root, size, 0);
    (void)sink;
    if (!memmem(data, size, "\\u0000", 6)) {
        sbuf s;
        sbuf_init(&s);
        write_node(&s, d.root);
        YOLOC_ASSERT(!s.failed);
        jdoc again;
        YOLOC_ASSERT(jdoc_parse(&again, s.buf, s.len, "rewritten") == YOLOC_OK);
        same(d.root, again.root);
        jdoc_free(&again);
        sbuf_free(&s);
    }
    jdoc_free(&d);
    return 0;
}
