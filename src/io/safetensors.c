/* safetensors reading (whole file in memory, every field validated) and
 * atomic writing.
 *
 * Layout: u64 little-endian N, N bytes of JSON header, data section. The
 * reader follows the reference implementation's rules (huggingface/
 * safetensors validate()): N in (0, 100 000 000], the header a JSON object
 * whose entries are {"dtype", "shape", "data_offsets"} plus an optional
 * "__metadata__" object of strings; each tensor's byte range lies inside
 * the data section and is exactly numel x dtype size long; sorted by offset
 * the ranges tile the data section with no overlap, hole or trailing bytes.
 *
 * The file image is placed in memory so that the data section starts on a
 * 64-byte boundary: with the 8-byte header padding every writer uses, each
 * tensor is then aligned for its dtype and st_data() can be cast directly.
 *
 * The writer emits the header compactly in the caller's order with
 * "__metadata__" first and pads it with spaces to a multiple of 8 bytes, as
 * the reference does; the file is written atomically with io/file.h (PATH.tmp,
 * flushed, fsync'ed, renamed over PATH), so PATH is either the old file or the
 * complete new one.
 *
 * Left out: dtypes yoloc has no use for (F64, I8, I16, U16, U32, U64, BOOL,
 * F8_*): they are reported as unsupported; memory mapping; big-endian hosts. */
#include "io/safetensors.h"

#include "io/file.h"
#include "io/json.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host (the file format is little-endian)"
#endif

#define ST_MAX_HEADER 100000000ull /* the reference implementation's limit */
#define ST_ALIGN      64

typedef struct {
    unsigned char *mem; /* the aligned allocation holding the file image */
    char *path;
    jdoc header;
    st_entry *entries;
    const char **meta; /* nmeta keys, then nmeta values */
} st_priv;

/* ---- messages ---- */

/* A name for messages: at most 100 bytes, non-printable bytes as '?'. */
static const char *st_show(const char *s, char *buf, size_t cap) {
    size_t k = 0, i = 0;
    for (; s[i] && k + 4 < cap && i < 100; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[k++] = (c >= 0x20 && c != 0x7f) ? (char)c : '?';
    }
    if (s[i] && k + 4 < cap) {
        memcpy(buf + k, "...", 3);
        k += 3;
    }
    buf[k] = 0;
    return buf;
}

static const char *st_shape_str(int ndim, const int64_t *shape, char *buf, size_t cap) {
    size_t k = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, i ? ", %" PRId64 : "%" PRId64, shape[i]);
    if (k < cap) snprintf(buf + k, cap - k, "]");
    return buf;
}

static const char *jkind_name(jkind k) {
    static const char *names[] = {"null",     "a boolean", "a number",
                                  "a string", "an array",  "an object"};
    return (k >= JSON_NULL && k <= JSON_OBJECT) ? names[k] : "?";
}

/* "<file>: tensor '<name>': <message>" as YOLOC_ERR_PARSE (or st). */
static status st_bad_tensor(status st, const char *file, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static status st_bad_tensor(status st, const char *file, const char *name, const char *fmt, ...) {
    char msg[768], sb[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return err_set(st, "%s: tensor '%s': %s", file, st_show(name, sb, sizeof sb), msg);
}

/* ---- reading ---- */

static uint64_t rd_le64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* Bytes of padding in front of the file image so that its data section
 * (at 8 + N) lands on an ST_ALIGN boundary; any N works, even a bogus one. */
static size_t st_image_shift(const unsigned char *first8, size_t len) {
    if (len < 8) return 0;
    uint64_t n = rd_le64(first8);
    return (size_t)((ST_ALIGN - (8 + n % ST_ALIGN) % ST_ALIGN) % ST_ALIGN);
}

/* Starts an open: zeroes f, allocates priv, the path copy and an aligned
 * block for a len-byte image; *image is where the file's bytes go. */
static status st_begin(safetensors *f, const char *name, size_t len, size_t shift,
                       unsigned char **image) {
    memset(f, 0, sizeof *f);
    st_priv *p = calloc(1, sizeof *p);
    if (!p) return err_set(YOLOC_ERR_NOMEM, "%s: out of memory", name);
    f->priv = p;
    p->path = strdup(name);
    if (!p->path || len > SIZE_MAX - shift - ST_ALIGN ||
        posix_memalign((void **)&p->mem, ST_ALIGN, len + shift + 1) != 0) {
        p->mem = NULL;
        st_close(f);
        return err_set(YOLOC_ERR_NOMEM, "%s: out of memory for a %zu-byte file", name, len);
    }
    f->path = p->path;
    *image = p->mem + shift;
    return YOLOC_OK;
}

/* Checks one header entry and fills e (e->name already set). */
static status st_check_entry(const char *file, const jnode *v, st_entry *e, size_t data_len) {
    const char *name = e->name;
    if (v->kind != JSON_OBJECT)
        return st_bad_tensor(YOLOC_ERR_PARSE, file, name, "entry is %s, expected an object",
                             jkind_name(v->kind));
    const jnode *jd = jnode_get(v, "dtype"), *js = jnode_get(v, "shape"),
                *jo = jnode_get(v, "data_offsets");
    if (!jd) return st_bad_tensor(YOLOC_ERR_PARSE, file, name, "missing \"dtype\"");
    if (!js) return st_bad_tensor(YOLOC_ERR_PARSE, file, name, "missing \"shape\"");
    if (!jo) return st_bad_tensor(YOLOC_ERR_PARSE, file, name, "missing \"data_offsets\"");
    if (jd->kind != JSON_STRING)
        return st_bad_tensor(YOLOC_ERR_PARSE, file, name, "\"dtype\" is %s, expected a string",
                             jkind_name(jd->kind));
    if (js->kind != JSON_ARRAY)
        return st_bad_tensor(YOLOC_ERR_PARSE, file, name, "\"shape\" is %s, expected an array",
                             jkind_name(js->kind));
    if (jo->kind != JSON_ARRAY || jo->n != 2)
        return st_bad_tensor(YOLOC_ERR_PARSE, file, name,
                             "\"data_offsets\" must be an array [begin, end]");

    char sb[128];
    int dt = dtype_from_name(jd->text);
    if (dt < 0) {
        static const char *const other[] = {"F64", "I8",   "I16",     "U16",    "U32",
                                            "U64", "BOOL", "F8_E5M2", "F8_E4M3"};
        for (size_t i = 0; i < sizeof other / sizeof *other; i++)
            if (!strcmp(jd->text, other[i]))
                return st_bad_tensor(YOLOC_ERR_UNSUPPORTED, file, name,
                                     "dtype %s is not supported (F32, BF16, F16, I64, I32, U8 are)",
                                     other[i]);
        return st_bad_tensor(YOLOC_ERR_PARSE, file, name, "unknown dtype '%s'",
                             st_show(jd->text, sb, sizeof sb));
    }
    e->dt = (dtype)dt;

    if (js->n > TENSOR_MAX_DIMS)
        return st_bad_tensor(YOLOC_ERR_UNSUPPORTED, file, name,
                             "shape has %zu dimensions (at most %d supported)", js->n,
                             TENSOR_MAX_DIMS);
    e->ndim = (int)js->n;
    uint64_t nbytes = dtype_size(e->dt);
    int overflow = 0;
    for (size_t i = 0; i < js->n; i++) {
        uint64_t d;
        const jnode *x = js->items[i];
        if (jnode_u64(x, &d) != 0)
            return st_bad_tensor(
                YOLOC_ERR_PARSE, file, name, "shape[%zu] is not a non-negative integer (%s)", i,
                x->kind == JSON_NUMBER ? st_show(x->text, sb, sizeof sb) : jkind_name(x->kind));
        if (d > (uint64_t)INT64_MAX)
            return st_bad_tensor(YOLOC_ERR_PARSE, file, name,
                                 "shape[%zu] = %" PRIu64 " is too large", i, d);
        e->shape[i] = (int64_t)d;
        overflow |= __builtin_mul_overflow(nbytes, d, &nbytes);
    }
    if (overflow)
        return st_bad_tensor(YOLOC_ERR_PARSE, file, name,
                             "shape %s x %s overflows a 64-bit byte count",
                             st_shape_str(e->ndim, e->shape, sb, sizeof sb), dtype_name(e->dt));
    /* like the reference, an overflowing partial product is an error even
     * when a later zero dimension would make the tensor empty */

    if (jnode_u64(jo->items[0], &e->begin) != 0 || jnode_u64(jo->items[1], &e->end) != 0)
        return st_bad_tensor(YOLOC_ERR_PARSE, file, name,
                             "\"data_offsets\" must be two non-negative integers");
    if (e->begin > e->end)
        return st_bad_tensor(YOLOC_ERR_PARSE, file, name,
                             "data_offsets [%" PRIu64 ", %" PRIu64 "]: begin after end", e->begin,
                             e->end);
    if (e->end > data_len)
        return st_bad_tensor(YOLOC_ERR_PARSE, file, name,
                             "data_offsets [%" PRIu64 ", %" PRIu64
                             "] outside the data section (%zu bytes)",
                             e->begin, e->end, data_len);
    if (e->end - e->begin != nbytes)
        return st_bad_tensor(YOLOC_ERR_PARSE, file, name,
                             "data_offsets [%" PRIu64 ", %" PRIu64
                             "] do not match shape %s x %s (%" PRIu64 " bytes)",
                             e->begin, e->end, st_shape_str(e->ndim, e->shape, sb, sizeof sb),
                             dtype_name(e->dt), nbytes);
    return YOLOC_OK;
}

static int st_range_cmp(const void *a, const void *b) {
    const st_entry *x = *(const st_entry *const *)a, *y = *(const st_entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return x < y ? -1 : x > y; /* header order breaks ties */
}

/* Sorted by range, each tensor must start where the previous one ended,
 * the first at 0, and the last must end at the end of the data section. */
static status st_check_coverage(const char *file, st_entry *entries, size_t n, size_t data_len) {
    if (!n) {
        if (data_len)
            return err_set(YOLOC_ERR_PARSE,
                           "%s: the data section has %zu bytes but the header lists no tensors",
                           file, data_len);
        return YOLOC_OK;
    }
    const st_entry **order = malloc(n * sizeof *order);
    if (!order) return err_set(YOLOC_ERR_NOMEM, "%s: out of memory", file);
    for (size_t i = 0; i < n; i++) order[i] = &entries[i];
    qsort(order, n, sizeof *order, st_range_cmp);
    status st = YOLOC_OK;
    uint64_t at = 0;
    const st_entry *prev = NULL;
    char sa[128], sb[128];
    for (size_t i = 0; i < n && st >= 0; i++) {
        const st_entry *e = order[i];
        if (e->begin < at)
            st = err_set(YOLOC_ERR_PARSE,
                         "%s: tensors '%s' [%" PRIu64 ", %" PRIu64 "] and '%s' [%" PRIu64
                         ", %" PRIu64 "] overlap",
                         file, st_show(prev->name, sa, sizeof sa), prev->begin, prev->end,
                         st_show(e->name, sb, sizeof sb), e->begin, e->end);
        else if (e->begin > at)
            st = err_set(YOLOC_ERR_PARSE,
                         "%s: bytes [%" PRIu64 ", %" PRIu64
                         ") of the data section belong to no tensor (a hole before '%s')",
                         file, at, e->begin, st_show(e->name, sb, sizeof sb));
        at = e->end;
        prev = e;
    }
    if (st >= 0 && at != data_len)
        st = err_set(YOLOC_ERR_PARSE,
                     "%s: bytes [%" PRIu64
                     ", %zu) at the end of the data section belong to no tensor",
                     file, at, data_len);
    free(order);
    return st;
}

/* Validates the len-byte image at `img` and fills f. */
static status st_parse(safetensors *f, const unsigned char *img, size_t len) {
    st_priv *p = f->priv;
    const char *file = p->path;
    if (len < 8)
        return err_set(
            YOLOC_ERR_PARSE,
            "%s: too short for a safetensors file (%zu bytes, the header length alone is 8)", file,
            len);
    uint64_t hlen = rd_le64(img);
    if (hlen == 0) return err_set(YOLOC_ERR_PARSE, "%s: header length is 0", file);
    if (hlen > ST_MAX_HEADER)
        return err_set(YOLOC_ERR_PARSE,
                       "%s: header length %" PRIu64 " exceeds the limit of %llu bytes", file, hlen,
                       ST_MAX_HEADER);
    if (hlen > len - 8)
        return err_set(YOLOC_ERR_PARSE,
                       "%s: truncated: header says %" PRIu64
                       " bytes but the file has %zu after the length field",
                       file, hlen, len - 8);
    f->data = img + 8 + hlen;
    f->data_len = len - 8 - (size_t)hlen;

    char jname[1200];
    snprintf(jname, sizeof jname, "%s: header", file);
    TRY(jdoc_parse(&p->header, (const char *)img + 8, (size_t)hlen, jname));
    const jnode *root = p->header.root;
    if (root->kind != JSON_OBJECT)
        return err_set(YOLOC_ERR_PARSE, "%s: header is %s, expected a JSON object", file,
                       jkind_name(root->kind));

    const jnode *meta = jnode_get(root, "__metadata__");
    size_t ntensors = root->n - (meta ? 1 : 0);
    if (ntensors) {
        p->entries = calloc(ntensors, sizeof *p->entries);
        if (!p->entries) return err_set(YOLOC_ERR_NOMEM, "%s: out of memory", file);
    }
    f->entries = p->entries;
    if (meta) {
        char sb[128];
        if (meta->kind != JSON_OBJECT)
            return err_set(YOLOC_ERR_PARSE, "%s: __metadata__ is %s, expected an object of strings",
                           file, jkind_name(meta->kind));
        if (meta->n) {
            p->meta = malloc(2 * meta->n * sizeof *p->meta);
            if (!p->meta) return err_set(YOLOC_ERR_NOMEM, "%s: out of memory", file);
        }
        for (size_t i = 0; i < meta->n; i++) {
            if (meta->items[i]->kind != JSON_STRING)
                return err_set(
                    YOLOC_ERR_PARSE, "%s: __metadata__ value of '%s' is %s, expected a string",
                    file, st_show(meta->keys[i], sb, sizeof sb), jkind_name(meta->items[i]->kind));
            p->meta[i] = meta->keys[i];
            p->meta[meta->n + i] = meta->items[i]->text;
        }
        f->nmeta = meta->n;
        f->meta_keys = p->meta;
        f->meta_vals = p->meta ? p->meta + meta->n : NULL;
    }
    for (size_t i = 0; i < root->n; i++) {
        if (root->items[i] == meta) continue;
        st_entry *e = &p->entries[f->n];
        e->name = root->keys[i];
        TRY(st_check_entry(file, root->items[i], e, f->data_len));
        f->n++;
    }
    return st_check_coverage(file, p->entries, f->n, f->data_len);
}

status st_open_memory(safetensors *f, const void *buf, size_t len, const char *name) {
    if (!name) name = "<safetensors>";
    unsigned char *img;
    TRY(st_begin(f, name, len, st_image_shift(buf, len), &img));
    if (len) memcpy(img, buf, len);
    status st = st_parse(f, img, len);
    if (st < 0) st_close(f);
    return st;
}

status st_open(safetensors *f, const char *path) {
    memset(f, 0, sizeof *f);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return err_set(YOLOC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return err_set(YOLOC_ERR_IO, "%s: cannot read: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return err_set(YOLOC_ERR_IO, "%s: cannot read: not a regular file", path);
    }
    if ((uint64_t)sb.st_size > SIZE_MAX / 2) {
        close(fd);
        return err_set(YOLOC_ERR_NOMEM, "%s: file too large (%lld bytes)", path,
                       (long long)sb.st_size);
    }
    size_t len = (size_t)sb.st_size;
    unsigned char first8[8] = {0};
    if (len >= 8 && pread(fd, first8, 8, 0) != 8) {
        int e = errno;
        close(fd);
        return err_set(YOLOC_ERR_IO, "%s: cannot read: %s", path, strerror(e));
    }
    unsigned char *img;
    status st = st_begin(f, path, len, st_image_shift(first8, len), &img);
    if (st < 0) {
        close(fd);
        return st;
    }
    size_t got = 0;
    while (got < len) {
        ssize_t r = pread(fd, img + got, len - got, (off_t)got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            st = err_set(YOLOC_ERR_IO, "%s: cannot read: %s", path,
                         r < 0 ? strerror(errno) : "the file shrank while being read");
            break;
        }
        got += (size_t)r;
    }
    close(fd);
    if (st >= 0) st = st_parse(f, img, len);
    if (st < 0) st_close(f);
    return st;
}

void st_close(safetensors *f) {
    if (!f) return;
    st_priv *p = f->priv;
    if (p) {
        jdoc_free(&p->header);
        free(p->entries);
        free(p->meta);
        free(p->mem);
        free(p->path);
        free(p);
    }
    memset(f, 0, sizeof *f);
}

const st_entry *st_find(const safetensors *f, const char *name) {
    for (size_t i = 0; i < f->n; i++)
        if (!strcmp(f->entries[i].name, name)) return &f->entries[i];
    return NULL;
}

const char *st_meta(const safetensors *f, const char *key) {
    for (size_t i = 0; i < f->nmeta; i++)
        if (!strcmp(f->meta_keys[i], key)) return f->meta_vals[i];
    return NULL;
}

/* ---- writing ---- */

static int st_tensor_cmp(const void *a, const void *b) {
    return strcmp((*(const st_tensor *const *)a)->name, (*(const st_tensor *const *)b)->name);
}

/* Argument checks: names present, valid UTF-8, unique and not the reserved
 * "__metadata__"; dtype, ndim and shape valid; sizes without overflow. */
static status st_write_check(const char *path, const st_tensor *t, size_t n, const char *const *mk,
                             const char *const *mv, size_t nmeta, uint64_t *total) {
    char sb[128];
    *total = 0;
    for (size_t i = 0; i < n; i++) {
        const st_tensor *x = &t[i];
        if (!x->name || !json_utf8_valid(x->name, strlen(x->name)) ||
            !strcmp(x->name, "__metadata__"))
            return err_set(YOLOC_ERR_INVALID, "%s: tensor %zu: missing, reserved or non-UTF-8 name",
                           path, i);
        if ((int)x->dt < 0 || x->dt >= DT_COUNT || x->ndim < 0 || x->ndim > TENSOR_MAX_DIMS)
            return err_set(YOLOC_ERR_INVALID, "%s: tensor '%s': bad dtype or ndim %d", path,
                           st_show(x->name, sb, sizeof sb), x->ndim);
        uint64_t nb = dtype_size(x->dt);
        for (int d = 0; d < x->ndim; d++)
            if (x->shape[d] < 0 || __builtin_mul_overflow(nb, (uint64_t)x->shape[d], &nb))
                return err_set(YOLOC_ERR_INVALID, "%s: tensor '%s': bad shape", path,
                               st_show(x->name, sb, sizeof sb));
        if (nb && !x->data)
            return err_set(YOLOC_ERR_INVALID, "%s: tensor '%s': no data", path,
                           st_show(x->name, sb, sizeof sb));
        if (__builtin_add_overflow(*total, nb, total))
            return err_set(YOLOC_ERR_INVALID, "%s: total size overflows", path);
    }
    for (size_t i = 0; i < nmeta; i++) {
        if (!mk[i] || !mv[i] || !json_utf8_valid(mk[i], strlen(mk[i])) ||
            !json_utf8_valid(mv[i], strlen(mv[i])))
            return err_set(YOLOC_ERR_INVALID, "%s: metadata pair %zu: missing or non-UTF-8 text",
                           path, i);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(mk[i], mk[j]))
                return err_set(YOLOC_ERR_INVALID, "%s: metadata key '%s' given twice", path,
                               st_show(mk[i], sb, sizeof sb));
    }
    if (n < 2) return YOLOC_OK;
    const st_tensor **sorted = malloc(n * sizeof *sorted);
    if (!sorted) return err_set(YOLOC_ERR_NOMEM, "%s: out of memory", path);
    for (size_t i = 0; i < n; i++) sorted[i] = &t[i];
    qsort(sorted, n, sizeof *sorted, st_tensor_cmp);
    status st = YOLOC_OK;
    for (size_t i = 1; i < n && st >= 0; i++)
        if (!strcmp(sorted[i]->name, sorted[i - 1]->name))
            st = err_set(YOLOC_ERR_INVALID, "%s: tensor '%s' given twice", path,
                         st_show(sorted[i]->name, sb, sizeof sb));
    free(sorted);
    return st;
}

/* The header JSON, space-padded to a multiple of 8 bytes. */
static void st_build_header(sbuf *h, const st_tensor *t, size_t n, const char *const *mk,
                            const char *const *mv, size_t nmeta) {
    sbuf_append(h, "{", 1);
    if (nmeta) {
        sbuf_append(h, "\"__metadata__\":{", 16);
        for (size_t i = 0; i < nmeta; i++) {
            if (i) sbuf_append(h, ",", 1);
            sbuf_json_string(h, mk[i]);
            sbuf_append(h, ":", 1);
            sbuf_json_string(h, mv[i]);
        }
        sbuf_append(h, "}", 1);
    }
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        if (i || nmeta) sbuf_append(h, ",", 1);
        sbuf_json_string(h, t[i].name);
        sbuf_printf(h, ":{\"dtype\":\"%s\",\"shape\":[", dtype_name(t[i].dt));
        uint64_t nb = dtype_size(t[i].dt);
        for (int d = 0; d < t[i].ndim; d++) {
            sbuf_printf(h, d ? ",%" PRId64 : "%" PRId64, t[i].shape[d]);
            nb *= (uint64_t)t[i].shape[d];
        }
        sbuf_printf(h, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", off, off + nb);
        off += nb;
    }
    sbuf_append(h, "}", 1);
    while (!h->failed && h->len % 8) sbuf_append(h, " ", 1);
}

static size_t st_tensor_bytes(const st_tensor *t) {
    return dtype_size(t->dt) * (size_t)shape_numel(t->ndim, t->shape);
}

/* What st_write and st_open_tensors both lay out: the checks, the JSON
 * header (h, initialised here; free it when YOLOC_OK) with its 8-byte
 * little-endian length, and the data bytes that follow. */
static status st_prepare(const char *name, const st_tensor *tensors, size_t n, const char *const *meta_keys,
                         const char *const *meta_vals, size_t nmeta, sbuf *h, unsigned char len8[8],
                         uint64_t *total) {
    TRY(st_write_check(name, tensors, n, meta_keys, meta_vals, nmeta, total));
    sbuf_init(h);
    st_build_header(h, tensors, n, meta_keys, meta_vals, nmeta);
    if (h->failed) {
        sbuf_free(h);
        return err_set(YOLOC_ERR_NOMEM, "%s: out of memory building the header", name);
    }
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)h->len >> (8 * i));
    return YOLOC_OK;
}

status st_write(const char *path, const st_tensor *tensors, size_t n, const char *const *meta_keys,
                const char *const *meta_vals, size_t nmeta) {
    uint64_t total;
    sbuf h;
    unsigned char len8[8];
    TRY(st_prepare(path, tensors, n, meta_keys, meta_vals, nmeta, &h, len8, &total));
    afile a;
    status st = afile_open(&a, path);
    if (st >= 0) st = afile_write(&a, len8, 8);
    if (st >= 0) st = afile_write(&a, h.buf, h.len);
    for (size_t i = 0; i < n && st >= 0; i++) st = afile_write(&a, tensors[i].data, st_tensor_bytes(&tensors[i]));
    if (st >= 0) st = afile_commit(&a);
    sbuf_free(&h);
    return st;
}

status st_open_tensors(safetensors *f, const st_tensor *tensors, size_t n, const char *const *meta_keys,
                       const char *const *meta_vals, size_t nmeta, const char *name) {
    memset(f, 0, sizeof *f);
    if (!name) name = "<safetensors>";
    uint64_t total;
    sbuf h;
    unsigned char len8[8];
    TRY(st_prepare(name, tensors, n, meta_keys, meta_vals, nmeta, &h, len8, &total));
    size_t len = 8 + h.len + (size_t)total;
    unsigned char *img;
    status st = st_begin(f, name, len, st_image_shift(len8, len), &img);
    if (st < 0) {
        sbuf_free(&h);
        return st;
    }
    memcpy(img, len8, 8);
    memcpy(img + 8, h.buf, h.len);
    size_t at = 8 + h.len;
    for (size_t i = 0; i < n; i++) {
        size_t nb = st_tensor_bytes(&tensors[i]);
        if (nb) memcpy(img + at, tensors[i].data, nb);
        at += nb;
    }
    sbuf_free(&h);
    st = st_parse(f, img, len);
    if (st < 0) st_close(f);
    return st;
}
