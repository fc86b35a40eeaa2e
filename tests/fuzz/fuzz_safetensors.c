/* Fuzz target for the safetensors reader: any bytes either open into
 * entries whose ranges are checked again here and whose every data byte is
 * read, or fail and leave the handle empty. */
#include "io/safetensors.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    safetensors f;
    if (st_open_memory(&f, data, size, "fuzz.safetensors") != YOLOC_OK) {
        YOLOC_ASSERT(f.priv == NULL && f.n == 0 && f.entries == NULL);
        YOLOC_ASSERT(strncmp(yoloc_last_error(), "fuzz.safetensors", 16) == 0);
        return 0;
    }
    uint64_t covered = 0;
    unsigned sum = 0;
    for (size_t i = 0; i < f.n; i++) {
        const st_entry *e = &f.entries[i];
        YOLOC_ASSERT(e->begin <= e->end && e->end <= f.data_len);
        YOLOC_ASSERT(e->ndim >= 0 && e->ndim <= TENSOR_MAX_DIMS);
        YOLOC_ASSERT((uint64_t)shape_numel(e->ndim, e->shape) * dtype_size(e->dt) ==
                     e->end - e->begin);
        const unsigned char *p = st_data(&f, e);
        for (uint64_t k = 0; k < e->end - e->begin; k++) sum += p[k];
        covered += e->end - e->begin;
        const st_entry *g = st_find(&f, e->name);
        YOLOC_ASSERT(g && strcmp(g->name, e->name) == 0);
    }
    YOLOC_ASSERT(covered == f.data_len); /* no holes, no overlaps */
    for (size_t i = 0; i < f.nmeta; i++) YOLOC_ASSERT(st_meta(&f, f.meta_keys[i]) != NULL);
    volatile unsigned sink = sum;
    (void)sink;
    st_close(&f);
    return 0;
}
