/* Arenas: one allocation per lifetime, handed out in 64-byte aligned pieces.
 *
 * An arena made with arena_init_measure() has no memory: arena_alloc()
 * returns NULL but still counts, so a planner can run the same code twice
 * (measure, then allocate) and know the exact size before allocating. */
#ifndef YOLOC_CORE_ARENA_H
#define YOLOC_CORE_ARENA_H

#include "core/status.h"

#include <stddef.h>

#define ARENA_ALIGN 64

typedef struct {
    unsigned char *base; /* NULL for a measuring arena */
    size_t cap;          /* bytes available (SIZE_MAX when measuring) */
    size_t used;         /* bytes handed out so far */
    size_t peak;         /* largest `used` seen */
    int owns;            /* base was allocated by arena_init */
} arena;

/* Allocates cap bytes (not zeroed: planned buffers are written before they
 * are read). YOLOC_ERR_NOMEM with a message on failure. */
status arena_init(arena *a, size_t cap);
/* Wraps caller memory (not freed by arena_free). */
void arena_init_buffer(arena *a, void *buf, size_t cap);
/* A counting arena without memory. */
void arena_init_measure(arena *a);
/* 64-byte aligned piece of n bytes; NULL when measuring or exhausted
 * (check arena_exhausted()). */
void *arena_alloc(arena *a, size_t n);
/* Like arena_alloc for n floats. */
float *arena_floats(arena *a, size_t n);
int arena_measuring(const arena *a);
/* Nonzero when an allocation did not fit. */
int arena_exhausted(const arena *a);
size_t arena_mark(const arena *a);
void arena_reset(arena *a, size_t mark);
void arena_free(arena *a);

/* Rounds n up to ARENA_ALIGN. */
static inline size_t arena_round(size_t n) { return (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1); }

#endif
