/* Fuzz target for the YAML loader: any bytes either load into a tree whose
 * every node, key and string is then visited (and converted with each
 * getter), or fail with a message naming the document. Broken invariants
 * abort, so the fuzzer reports them as crashes. */
#include "io/yaml.h"

#include <stdint.h>
#include <string.h>

static size_t walk(const ydoc *d, const ynode *n, int depth) {
    YOLOC_ASSERT(n && depth <= 256 && n->line >= 1 && n->col >= 1);
    size_t sum = (size_t)n->line + (size_t)n->col;
    if (n->kind == YNODE_SCALAR) {
        YOLOC_ASSERT(n->str && n->n == 0);
        double x;
        long l;
        int b;
        const char *s;
        sum += strlen(n->str) + (size_t)ynode_is_null(n);
        if (ynode_double(d, n, "v", &x) == YOLOC_OK) sum += x > 0;
        if (ynode_int(d, n, "v", &l) == YOLOC_OK) sum += (size_t)l;
        if (ynode_bool(d, n, "v", &b) == YOLOC_OK) sum += (size_t)b;
        YOLOC_ASSERT(ynode_str(d, n, "v", &s) == YOLOC_OK && s == n->str);
        return sum;
    }
    long l;
    YOLOC_ASSERT(ynode_int(d, n, "v", &l) == YOLOC_ERR_INVALID); /* a collection is no integer */
    for (size_t i = 0; i < n->n; i++) {
        if (n->kind == YNODE_MAP) {
            YOLOC_ASSERT(n->keys[i] && n->key_lines[i] >= 1);
            sum += strlen(n->keys[i]) + (size_t)n->key_lines[i];
            YOLOC_ASSERT(ynode_get(n, n->keys[i]) == n->items[i]); /* keys are unique */
        }
        sum += walk(d, n->items[i], depth + 1);
    }
    return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ydoc d;
    if (ydoc_load_string(&d, (const char *)data, size, "fuzz.yaml") == YOLOC_OK) {
        if (d.root) {
            volatile size_t sink = walk(&d, d.root, 0);
            (void)sink;
        }
        ydoc_free(&d);
    } else {
        YOLOC_ASSERT(d.root == NULL && d.pool == NULL);
        YOLOC_ASSERT(strncmp(yoloc_last_error(), "fuzz.yaml", 9) == 0);
    }
    return 0;
}
