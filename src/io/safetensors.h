/* safetensors files: 8-byte little-endian header length, a JSON header
 * {"name": {"dtype", "shape", "data_offsets": [begin, end]}, ...,
 *  "__metadata__": {str: str}}, then the raw little-endian data.
 *
 * Reading checks everything a hostile or truncated file can get wrong
 * (header length beyond the file, bad JSON, unknown dtype, offsets outside
 * the data or not matching dtype x shape, overlapping tensors) and names the
 * file and tensor in the message. Writing is atomic: PATH.tmp, fsync,
 * rename; a failed write leaves no PATH behind and an existing PATH intact. */
#ifndef YOLOC_IO_SAFETENSORS_H
#define YOLOC_IO_SAFETENSORS_H

#include "core/status.h"
#include "core/tensor.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *name;
    dtype dt;
    int ndim;
    int64_t shape[TENSOR_MAX_DIMS];
    uint64_t begin, end; /* byte range within the data section */
} st_entry;

typedef struct {
    const char *path;
    size_t n;            /* tensors, in header order */
    st_entry *entries;
    size_t nmeta;        /* __metadata__ pairs */
    const char **meta_keys;
    const char **meta_vals;
    const unsigned char *data; /* start of the data section */
    size_t data_len;
    void *priv;          /* private: file contents and strings */
} safetensors;

/* Opens and validates a file (the whole file is read into memory). */
status st_open(safetensors *f, const char *path);
/* Same from a memory buffer (copied); name is used in messages. */
status st_open_memory(safetensors *f, const void *buf, size_t len, const char *name);
void st_close(safetensors *f);
const st_entry *st_find(const safetensors *f, const char *name);
const char *st_meta(const safetensors *f, const char *key);
static inline const void *st_data(const safetensors *f, const st_entry *e) { return f->data + e->begin; }

/* One tensor to write. */
typedef struct {
    const char *name;
    dtype dt;
    int ndim;
    int64_t shape[TENSOR_MAX_DIMS];
    const void *data; /* dtype_size(dt) * prod(shape) bytes */
} st_tensor;

/* An open handle over tensors held in memory (copied), as if they had been
 * written with st_write and opened: how other formats (io/ptfile.h) reach
 * the readers of safetensors. name is used in messages. */
status st_open_tensors(safetensors *f, const st_tensor *tensors, size_t n, const char *const *meta_keys,
                       const char *const *meta_vals, size_t nmeta, const char *name);

/* Writes tensors (in the given order) and metadata pairs atomically. */
status st_write(const char *path, const st_tensor *tensors, size_t n, const char *const *meta_keys,
                const char *const *meta_vals, size_t nmeta);

#endif
