/* Fuzz target for the .npy reader: any bytes either parse into a float
 * array whose every element is read, or fail with no array returned. */
#include "io/npy.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    float *x = NULL;
    int ndim = -1;
    int64_t shape[TENSOR_MAX_DIMS];
    if (npy_parse_f32(data, size, "fuzz.npy", &x, &ndim, shape) != YOLOC_OK) {
        YOLOC_ASSERT(x == NULL);
        YOLOC_ASSERT(strncmp(yoloc_last_error(), "fuzz.npy", 8) == 0);
        return 0;
    }
    YOLOC_ASSERT(x && ndim >= 0 && ndim <= TENSOR_MAX_DIMS);
    int64_t n = shape_numel(ndim, shape);
    YOLOC_ASSERT(n >= 0 &&
                 (uint64_t)n * 4 <= size); /* never more floats than the input could hold */
    float sum = 0;
    for (int64_t i = 0; i < n; i++) sum += x[i];
    volatile float sink = sum;
    (void)sink;
    free(x);
    return 0;
}
