/* Channel copy (concat/split in NHWC), element-wise add, the accumulate
 * helper and the fp32 -> bf16 conversion, reference implementations.
 * Everywhere beta == 0 means overwrite: the destination is not read (it may
 * hold garbage or NaN). */
#include "core/tensor.h"
#include "ops/ops.h"

void chcopy_ref(size_t npix, int c, const float *src, int src_ct, int src_off, float *dst,
                int dst_ct, int dst_off, float beta) {
    for (size_t p = 0; p < npix; p++)
        for (int j = 0; j < c; j++) {
            float v = src[p * (size_t)src_ct + (size_t)src_off + (size_t)j];
            float *o = &dst[p * (size_t)dst_ct + (size_t)dst_off + (size_t)j];
            *o = beta == 0.0f ? v : beta * *o + v;
        }
}

void add_ref_forward(size_t n, const float *a, const float *b, float *y) {
    for (size_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

void acc_ref(size_t n, const float *src, float *dst, float beta) {
    for (size_t i = 0; i < n; i++) dst[i] = beta == 0.0f ? src[i] : beta * dst[i] + src[i];
}

void f32_to_bf16_ref(size_t n, const float *x, uint16_t *y) {
    for (size_t i = 0; i < n; i++) y[i] = f32_to_bf16(x[i]);
}
