/* NumPy .npy reading (float32 or float64 little-endian, C order) and
 * float32 writing.
 *
 * File: "\x93NUMPY", major, minor, header length (u16 LE for 1.0, u32 LE
 * for 2.0 and 3.0), then a Python dict literal such as
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
 * padded with spaces and ended by '\n', then the raw data. The reader parses
 * exactly that dict (string keys, a string, True/False, a tuple of
 * non-negative integers, old Python 2 'L' suffixes allowed); the three keys
 * must all be present and no other may be. Data must be exactly
 * numel x itemsize bytes (truncated files and trailing bytes are errors);
 * sizes are computed with overflow checks.
 *
 * The writer reproduces numpy's own 1.0 header byte for byte: sorted keys,
 * spare spaces for growing the first axis (GROWTH_AXIS_MAX_DIGITS = 21),
 * then spaces and '\n' so the data starts at a multiple of 64 bytes. It
 * writes atomically with io/file.h (PATH.tmp, fsync, rename over PATH).
 *
 * Left out: other dtypes, big-endian, Fortran order, structured and object
 * arrays (all errors naming the file), memory mapping, big-endian hosts,
 * reading from pipes (file_read_all wants a regular file). */
#include "io/npy.h"

#include "io/file.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "npy.c assumes a little-endian host"
#endif

#define NPY_MAGIC         "\x93NUMPY"
#define NPY_MAGIC_LEN     6
#define NPY_ALIGN         64
#define NPY_GROWTH_DIGITS 21

#define NPY_MAX_FILE_BYTES (SIZE_MAX / 2) /* no real limit: malloc decides */

/* ---- header dict parser ---- */

typedef struct {
    const char *file;
    const char *s; /* header text (not NUL-terminated) */
    size_t n, i;
} npy_hdr;

/* at: the offending item's offset in the dict text */
static status npy_hdr_fail(const npy_hdr *h, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static status npy_hdr_fail(const npy_hdr *h, size_t at, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return err_set(YOLOC_ERR_PARSE, "%s: bad .npy header at byte %zu of the dict: %s", h->file, at,
                   msg);
}

static void npy_ws(npy_hdr *h) {
    while (h->i < h->n &&
           (h->s[h->i] == ' ' || h->s[h->i] == '\t' || h->s[h->i] == '\n' || h->s[h->i] == '\r'))
        h->i++;
}

static int npy_peek(const npy_hdr *h) {
    return h->i < h->n ? (unsigned char)h->s[h->i] : -1;
}

/* A quoted string without escapes into out[cap]. */
static status npy_string(npy_hdr *h, char *out, size_t cap) {
    int q = npy_peek(h);
    if (q != '\'' && q != '"') return npy_hdr_fail(h, h->i, "expected a quoted string");
    size_t k = 0;
    h->i++;
    for (;;) {
        int c = npy_peek(h);
        if (c < 0) return npy_hdr_fail(h, h->i, "unterminated string");
        if (c == q) break;
        if (c == '\\' || c < 0x20 || c >= 0x7f)
            return npy_hdr_fail(h, h->i, "unsupported character in a string");
        if (k + 1 >= cap) return npy_hdr_fail(h, h->i, "string too long");
        out[k++] = (char)c;
        h->i++;
    }
    h->i++;
    out[k] = 0;
    return YOLOC_OK;
}

/* (d0, d1, ...) with a trailing comma allowed and required for one item. */
static status npy_shape(npy_hdr *h, int *ndim, int64_t *shape) {
    size_t start = h->i;
    if (npy_peek(h) != '(') return npy_hdr_fail(h, start, "'shape' must be a tuple such as (3, 4)");
    h->i++;
    int n = 0, commas = 0;
    for (;;) {
        npy_ws(h);
        int c = npy_peek(h);
        if (c == ')') break;
        if (c == '-') return npy_hdr_fail(h, h->i, "negative dimension in 'shape'");
        if (c < '0' || c > '9')
            return npy_hdr_fail(h, h->i, "expected a dimension or ')' in 'shape'");
        uint64_t v = 0;
        size_t num_at = h->i;
        while ((c = npy_peek(h)) >= '0' && c <= '9') {
            if (v > ((uint64_t)INT64_MAX - (uint64_t)(c - '0')) / 10)
                return npy_hdr_fail(h, num_at, "dimension too large in 'shape'");
            v = v * 10 + (uint64_t)(c - '0');
            h->i++;
        }
        if (npy_peek(h) == 'L') h->i++; /* Python 2 long */
        if (n == TENSOR_MAX_DIMS)
            return err_set(YOLOC_ERR_UNSUPPORTED,
                           "%s: arrays with more than %d dimensions are not supported", h->file,
                           TENSOR_MAX_DIMS);
        shape[n++] = (int64_t)v;
        npy_ws(h);
        c = npy_peek(h);
        if (c == ',') {
            commas++;
            h->i++;
            continue;
        }
        if (c != ')') return npy_hdr_fail(h, h->i, "expected ',' or ')' in 'shape'");
        break;
    }
    h->i++;
    if (n == 1 && commas == 0)
        return npy_hdr_fail(h, start,
                            "'shape' (%" PRId64 ") is not a tuple, expected (%" PRId64 ",)",
                            shape[0], shape[0]);
    *ndim = n;
    return YOLOC_OK;
}

typedef struct {
    char descr[64];
    int fortran;
    int ndim;
    int64_t shape[TENSOR_MAX_DIMS];
} npy_info;

static status npy_parse_dict(npy_hdr *h, npy_info *info) {
    int have_descr = 0, have_fortran = 0, have_shape = 0;
    npy_ws(h);
    if (npy_peek(h) != '{') return npy_hdr_fail(h, h->i, "expected '{'");
    h->i++;
    for (;;) {
        npy_ws(h);
        if (npy_peek(h) == '}') break;
        char key[64];
        size_t key_at = h->i;
        TRY(npy_string(h, key, sizeof key));
        npy_ws(h);
        if (npy_peek(h) != ':') return npy_hdr_fail(h, h->i, "expected ':' after '%s'", key);
        h->i++;
        npy_ws(h);
        int *seen;
        if (!strcmp(key, "descr")) {
            seen = &have_descr;
            if (npy_peek(h) == '[')
                return err_set(YOLOC_ERR_UNSUPPORTED,
                               "%s: structured dtypes are not supported (only '<f4' and '<f8')",
                               h->file);
            TRY(npy_string(h, info->descr, sizeof info->descr));
        } else if (!strcmp(key, "fortran_order")) {
            seen = &have_fortran;
            if (h->n - h->i >= 4 && !memcmp(h->s + h->i, "True", 4)) {
                info->fortran = 1;
                h->i += 4;
            } else if (h->n - h->i >= 5 && !memcmp(h->s + h->i, "False", 5)) {
                info->fortran = 0;
                h->i += 5;
            } else {
                return npy_hdr_fail(h, h->i, "'fortran_order' must be True or False");
            }
        } else if (!strcmp(key, "shape")) {
            seen = &have_shape;
            TRY(npy_shape(h, &info->ndim, info->shape));
        } else {
            return npy_hdr_fail(
                h, key_at, "unexpected key '%s' (expected 'descr', 'fortran_order', 'shape')", key);
        }
        if (*seen) return npy_hdr_fail(h, key_at, "key '%s' given twice", key);
        *seen = 1;
        npy_ws(h);
        if (npy_peek(h) == ',') {
            h->i++;
            continue;
        }
        if (npy_peek(h) != '}') return npy_hdr_fail(h, h->i, "expected ',' or '}'");
        break;
    }
    h->i++;
    npy_ws(h);
    if (h->i < h->n) return npy_hdr_fail(h, h->i, "unexpected text after the dict");
    if (!have_descr || !have_fortran || !have_shape)
        return err_set(YOLOC_ERR_PARSE, "%s: .npy header lacks '%s'", h->file,
                       !have_descr     ? "descr"
                       : !have_fortran ? "fortran_order"
                                       : "shape");
    return YOLOC_OK;
}

/* ---- reading ---- */

static const char *npy_shape_str(int ndim, const int64_t *shape, char *buf, size_t cap) {
    size_t k = (size_t)snprintf(buf, cap, "(");
    for (int i = 0; i < ndim && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, i ? ", %" PRId64 : "%" PRId64, shape[i]);
    if (k < cap) snprintf(buf + k, cap - k, ndim == 1 ? ",)" : ")");
    return buf;
}

status npy_parse_f32(const void *buf, size_t len, const char *name, float **data, int *ndim,
                     int64_t *shape) {
    const unsigned char *b = buf;
    if (!name) name = "<npy>";
    *data = NULL;
    *ndim = 0;
    if (len < NPY_MAGIC_LEN + 2 || memcmp(b, NPY_MAGIC, NPY_MAGIC_LEN) != 0)
        return err_set(YOLOC_ERR_PARSE, "%s: not a .npy file (no \\x93NUMPY magic)", name);
    int major = b[6], minor = b[7];
    size_t lenbytes = major == 1 ? 2 : 4;
    if ((major < 1 || major > 3) || minor != 0)
        return err_set(YOLOC_ERR_UNSUPPORTED,
                       "%s: .npy format version %d.%d is not supported (1.0, 2.0, 3.0 are)", name,
                       major, minor);
    size_t pre = NPY_MAGIC_LEN + 2 + lenbytes;
    if (len < pre)
        return err_set(YOLOC_ERR_PARSE, "%s: truncated: the file ends inside the header length",
                       name);
    uint64_t hlen = 0;
    for (size_t i = 0; i < lenbytes; i++) hlen |= (uint64_t)b[8 + i] << (8 * i);
    if (hlen > len - pre)
        return err_set(YOLOC_ERR_PARSE,
                       "%s: truncated: header says %" PRIu64
                       " bytes but the file has %zu after the header length",
                       name, hlen, len - pre);
    npy_hdr h = {name, (const char *)b + pre, (size_t)hlen, 0};
    npy_info info;
    memset(&info, 0, sizeof info);
    TRY(npy_parse_dict(&h, &info));

    size_t item;
    if (!strcmp(info.descr, "<f4")) {
        item = 4;
    } else if (!strcmp(info.descr, "<f8")) {
        item = 8;
    } else if (info.descr[0] == '>' &&
               (!strcmp(info.descr + 1, "f4") || !strcmp(info.descr + 1, "f8"))) {
        return err_set(YOLOC_ERR_UNSUPPORTED,
                       "%s: big-endian data ('%s') is not supported; save it with "
                       "arr.astype('<f4')",
                       name, info.descr);
    } else if (info.descr[0] && strchr("<>|=", info.descr[0]) && info.descr[1] == 'O') {
        return err_set(YOLOC_ERR_UNSUPPORTED, "%s: object arrays ('%s') are not supported", name,
                       info.descr);
    } else {
        return err_set(YOLOC_ERR_UNSUPPORTED,
                       "%s: dtype '%s' is not supported (only '<f4' and '<f8')", name, info.descr);
    }
    if (info.fortran)
        return err_set(YOLOC_ERR_UNSUPPORTED,
                       "%s: Fortran-order arrays are not supported; save "
                       "np.ascontiguousarray(arr)",
                       name);

    uint64_t numel = 1, nbytes;
    int overflow = 0;
    for (int i = 0; i < info.ndim; i++)
        overflow |= __builtin_mul_overflow(numel, (uint64_t)info.shape[i], &numel);
    overflow |= __builtin_mul_overflow(numel, (uint64_t)item, &nbytes);
    char sb[160];
    size_t have = len - pre - (size_t)hlen;
    if (overflow)
        return err_set(YOLOC_ERR_PARSE, "%s: shape %s overflows a 64-bit size", name,
                       npy_shape_str(info.ndim, info.shape, sb, sizeof sb));
    if (nbytes > have)
        return err_set(
            YOLOC_ERR_PARSE,
            "%s: truncated: shape %s x '%s' needs %" PRIu64 " bytes of data but the file has %zu",
            name, npy_shape_str(info.ndim, info.shape, sb, sizeof sb), info.descr, nbytes, have);
    if (nbytes < have)
        return err_set(YOLOC_ERR_PARSE,
                       "%s: %zu unexpected bytes after the data of shape %s x '%s'", name,
                       (size_t)(have - nbytes), npy_shape_str(info.ndim, info.shape, sb, sizeof sb),
                       info.descr);

    /* numel <= have / item, so numel * 4 fits in size_t */
    float *out = malloc(numel ? (size_t)numel * sizeof(float) : 1);
    if (!out)
        return err_set(YOLOC_ERR_NOMEM, "%s: out of memory for %" PRIu64 " floats", name, numel);
    const unsigned char *src = b + pre + hlen;
    if (item == 4) {
        memcpy(out, src, (size_t)nbytes);
    } else {
        for (size_t i = 0; i < (size_t)numel; i++) {
            double d;
            memcpy(&d, src + 8 * i, 8);
            out[i] = (float)d;
        }
    }
    *data = out;
    *ndim = info.ndim;
    memcpy(shape, info.shape, (size_t)info.ndim * sizeof *shape);
    return YOLOC_OK;
}

status npy_read_f32(const char *path, float **data, int *ndim, int64_t *shape) {
    *data = NULL;
    char *buf;
    size_t len;
    TRY(file_read_all(path, NPY_MAX_FILE_BYTES, &buf, &len));
    status st = npy_parse_f32(buf, len, path, data, ndim, shape);
    free(buf);
    return st;
}

/* ---- writing ---- */

status npy_write_f32(const char *path, const float *data, int ndim, const int64_t *shape) {
    if (ndim < 0 || ndim > TENSOR_MAX_DIMS)
        return err_set(YOLOC_ERR_INVALID, "%s: ndim %d outside [0, %d]", path, ndim,
                       TENSOR_MAX_DIMS);
    uint64_t numel = 1;
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0 || __builtin_mul_overflow(numel, (uint64_t)shape[i], &numel) ||
            numel > SIZE_MAX / 4)
            return err_set(YOLOC_ERR_INVALID, "%s: bad shape (dimension %d = %" PRId64 ")", path, i,
                           shape[i]);
    if (numel && !data) return err_set(YOLOC_ERR_INVALID, "%s: no data", path);

    /* numpy: "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }",
     * then 21 - len(str(shape[0])) spaces, then spaces and '\n' so that
     * 10 + header length is a multiple of 64 (64 spaces when it already is) */
    char hdr[512], sb[160];
    int k = snprintf(hdr, sizeof hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }",
                     npy_shape_str(ndim, shape, sb, sizeof sb));
    if (ndim > 0) {
        int digits = snprintf(NULL, 0, "%" PRId64, shape[0]);
        for (int i = digits; i < NPY_GROWTH_DIGITS; i++) hdr[k++] = ' ';
    }
    int pad = NPY_ALIGN - (NPY_MAGIC_LEN + 2 + 2 + k + 1) % NPY_ALIGN;
    for (int i = 0; i < pad; i++) hdr[k++] = ' ';
    hdr[k++] = '\n';
    unsigned char pre[10];
    memcpy(pre, NPY_MAGIC, NPY_MAGIC_LEN);
    pre[6] = 1;
    pre[7] = 0;
    pre[8] = (unsigned char)(k & 0xff);
    pre[9] = (unsigned char)(k >> 8);
    afile a;
    TRY(afile_open(&a, path));
    TRY(afile_write(&a, pre, sizeof pre));
    TRY(afile_write(&a, hdr, (size_t)k));
    TRY(afile_write(&a, data, (size_t)numel * sizeof(float)));
    return afile_commit(&a);
}
