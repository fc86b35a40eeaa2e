/* Chunked pools (see pool.h). */
#include "core/pool.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct pool_chunk {
    pool_chunk *next;
    size_t used, cap;
    max_align_t mem[]; /* cap bytes */
};

void *pool_alloc(pool *p, size_t n) {
    const size_t a = alignof(max_align_t);
    if (n > SIZE_MAX / 2) return NULL;
    n = (n + a - 1) & ~(a - 1);
    if (n == 0) n = a;
    pool_chunk *c = p->head;
    if (c && c->cap - c->used >= n) {
        void *r = (unsigned char *)c->mem + c->used;
        c->used += n;
        return r;
    }
    size_t cap = n > POOL_CHUNK ? n : POOL_CHUNK;
    pool_chunk *nc = malloc(sizeof(pool_chunk) + cap);
    if (!nc) return NULL;
    nc->used = n;
    nc->cap = cap;
    if (c && n > POOL_CHUNK / 4) { /* a big one-off piece goes behind the head: its room stays usable */
        nc->next = c->next;
        c->next = nc;
    } else {
        nc->next = c;
        p->head = nc;
    }
    return nc->mem;
}

char *pool_strndup(pool *p, const char *s, size_t n) {
    char *d = n < SIZE_MAX ? pool_alloc(p, n + 1) : NULL;
    if (!d) return NULL;
    if (n) memcpy(d, s, n);
    d[n] = 0;
    return d;
}

void pool_free(pool *p) {
    if (!p) return;
    pool_chunk *c = p->head;
    while (c) {
        pool_chunk *next = c->next;
        free(c);
        c = next;
    }
    p->head = NULL;
}

void pool_destroy(pool *p) {
    pool_free(p);
    free(p);
}
