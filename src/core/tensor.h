/* Tensors: a view on memory with shape, strides (in elements) and dtype.
 *
 * A tensor never owns its memory: data lives in an arena, a flat parameter
 * buffer or a caller's array. Activations in yoloc are NHWC (see ops/ops.h);
 * a tensor's dims are stored in the order the memory is indexed, so an NHWC
 * activation has shape {N, H, W, C}. float32 is the working type; bf16 is
 * carried for mixed precision, i64 for PyTorch's num_batches_tracked. */
#ifndef YOLOC_CORE_TENSOR_H
#define YOLOC_CORE_TENSOR_H

#include "core/status.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define TENSOR_MAX_DIMS 6

typedef enum { DT_F32 = 0, DT_BF16, DT_F16, DT_I64, DT_I32, DT_U8, DT_COUNT } dtype;

typedef struct {
    void *data;
    dtype dt;
    int ndim;
    int64_t shape[TENSOR_MAX_DIMS];
    int64_t stride[TENSOR_MAX_DIMS]; /* in elements */
} tensor;

/* Bytes per element of dt. */
size_t dtype_size(dtype dt);
/* "F32", "BF16", "F16", "I64", "I32", "U8" (the safetensors spelling). */
const char *dtype_name(dtype dt);
/* Parses a safetensors dtype name; returns -1 when unknown. */
int dtype_from_name(const char *name);

/* A contiguous (row-major) tensor over data. ndim <= TENSOR_MAX_DIMS. */
tensor tensor_make(void *data, dtype dt, int ndim, const int64_t *shape);
/* Shorthands for float32 contiguous tensors. */
tensor tensor_f32_1d(float *data, int64_t a);
tensor tensor_f32_4d(float *data, int64_t a, int64_t b, int64_t c, int64_t d);
int64_t tensor_numel(const tensor *t);
size_t tensor_nbytes(const tensor *t);
int tensor_is_contiguous(const tensor *t);
int tensor_same_shape(const tensor *a, const tensor *b);
/* Writes "[16, 3, 640, 640]" into buf. */
const char *tensor_shape_str(const tensor *t, char *buf, size_t cap);
/* Shape product helper for raw arrays. */
int64_t shape_numel(int ndim, const int64_t *shape);

/* bf16 conversion: round to nearest even; a NaN stays a (quiet) NaN.
 * Inline and written as one select, so loops over it vectorise (the bf16
 * kernels call it per element). */
static inline uint16_t f32_to_bf16(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    const uint32_t quiet = (u >> 16) | 0x40u;
    return (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? quiet : rounded);
}
static inline float bf16_to_f32(uint16_t x) {
    uint32_t u = (uint32_t)x << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}
/* x rounded to the nearest bf16, as a float. */
static inline float bf16_round(float x) { return bf16_to_f32(f32_to_bf16(x)); }
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float x);

#endif
