/* Pools: many small allocations (parse-tree nodes, strings) from chunks of
 * at least POOL_CHUNK bytes, all freed at once. Pieces are aligned to
 * max_align_t. Used by the YAML and JSON trees. */
#ifndef YOLOC_CORE_POOL_H
#define YOLOC_CORE_POOL_H

#include <stddef.h>

#define POOL_CHUNK (64 * 1024)

typedef struct pool_chunk pool_chunk;
typedef struct {
    pool_chunk *head;
} pool;

/* n bytes, or NULL when out of memory (or n absurdly large). */
void *pool_alloc(pool *p, size_t n);
/* A NUL-terminated copy of s[0..n). */
char *pool_strndup(pool *p, const char *s, size_t n);
/* Frees every chunk (p itself is the caller's); NULL is fine. */
void pool_free(pool *p);
/* pool_free, then free(p) for a heap-allocated pool; NULL is fine. */
void pool_destroy(pool *p);

#endif
