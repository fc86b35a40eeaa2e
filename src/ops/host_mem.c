/* Host memory for the backends whose buffers are host memory (ref, cpu):
 * their tables' buffer entries. */
#include "ops/ops.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Host buffers: calloc (large blocks come zeroed from the OS and are not
 * touched until used, so resident memory grows as the plan uses it),
 * aligned to 64 bytes by hand; the block calloc returned is kept in the
 * pointer-sized slot before the aligned start. */
status ops_host_alloc(void *ctx, size_t bytes, void **out) {
    (void)ctx;
    *out = NULL;
    const size_t lead = sizeof(void *) + 63;
    if (bytes > SIZE_MAX - lead) return err_set(YOLOC_ERR_NOMEM, "cannot allocate %zu bytes", bytes);
    unsigned char *raw = calloc(bytes + lead, 1);
    if (!raw) return err_set(YOLOC_ERR_NOMEM, "cannot allocate %zu bytes", bytes);
    uintptr_t a = ((uintptr_t)raw + sizeof(void *) + 63) & ~(uintptr_t)63;
    memcpy((void *)(a - sizeof(void *)), &raw, sizeof raw);
    *out = (void *)a;
    return YOLOC_OK;
}
void ops_host_free(void *ctx, void *p) {
    (void)ctx;
    if (!p) return;
    void *raw;
    memcpy(&raw, (unsigned char *)p - sizeof(void *), sizeof raw);
    free(raw);
}

status ops_host_copy(void *ctx, void *dst, const void *src, size_t bytes) {
    (void)ctx;
    if (bytes) memmove(dst, src, bytes);
    return YOLOC_OK;
}

status ops_host_zero(void *ctx, void *p, size_t bytes) {
    (void)ctx;
    if (bytes) memset(p, 0, bytes);
    return YOLOC_OK;
}

/* Every call of a host backend returns when its work is done. */
status ops_host_sync(void *ctx) {
    (void)ctx;
    return YOLOC_OK;
}
