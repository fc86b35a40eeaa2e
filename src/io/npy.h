/* NumPy .npy files (format 1.0/2.0/3.0): float32 little-endian, C order.
 * Reading also accepts '<f8' (converted to float32); big-endian, Fortran
 * order, object arrays and other dtypes are errors naming the file. */
#ifndef YOLOC_IO_NPY_H
#define YOLOC_IO_NPY_H

#include "core/status.h"
#include "core/tensor.h"

#include <stdint.h>

/* Reads a float array; *data is malloc'd (caller frees). ndim <= TENSOR_MAX_DIMS. */
status npy_read_f32(const char *path, float **data, int *ndim, int64_t *shape);
/* Same from memory (for tests and fuzzing). */
status npy_parse_f32(const void *buf, size_t len, const char *name, float **data, int *ndim,
                     int64_t *shape);
/* Writes a float32 C-order array (format 1.0), atomically. */
status npy_write_f32(const char *path, const float *data, int ndim, const int64_t *shape);

#endif
