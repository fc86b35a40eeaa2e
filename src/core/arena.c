/* Bump-pointer arenas with a measuring mode (see arena.h). */
#include "core/arena.h"

#include <stdint.h>
#include <string.h>

status arena_init(arena *a, size_t cap) {
    memset(a, 0, sizeof *a);
    cap = arena_round(cap ? cap : ARENA_ALIGN);
    void *p = NULL;
    if (posix_memalign(&p, ARENA_ALIGN, cap) != 0 || !p)
        return err_set(YOLOC_ERR_NOMEM, "cannot allocate an arena of %zu bytes (%.1f MiB)", cap,
                       (double)cap / (1 << 20));
    a->base = p; /* not zeroed: planned buffers are written before they are read */
    a->cap = cap;
    a->owns = 1;
    return YOLOC_OK;
}

void arena_init_buffer(arena *a, void *buf, size_t cap) {
    memset(a, 0, sizeof *a);
    a->base = buf;
    a->cap = cap;
}

void arena_init_measure(arena *a) {
    memset(a, 0, sizeof *a);
    a->cap = SIZE_MAX;
}

int arena_measuring(const arena *a) { return a->base == NULL; }
int arena_exhausted(const arena *a) { return a->base && a->used > a->cap; }

void *arena_alloc(arena *a, size_t n) {
    size_t off = a->used;
    size_t need = arena_round(n);
    a->used += need;
    if (a->used > a->peak) a->peak = a->used;
    if (!a->base || a->used > a->cap) return NULL;
    return a->base + off;
}

float *arena_floats(arena *a, size_t n) { return (float *)arena_alloc(a, n * sizeof(float)); }

size_t arena_mark(const arena *a) { return a->used; }
void arena_reset(arena *a, size_t mark) { a->used = mark; }

void arena_free(arena *a) {
    if (a->owns) free(a->base);
    memset(a, 0, sizeof *a);
}
