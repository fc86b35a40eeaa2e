/* The check cache file (format in cache.h). */
#include "data/cache.h"

#include "io/file.h"
#include "io/json.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_MAGIC     "YOLOCCHK"
#define CACHE_MAX_BYTES ((size_t)1 << 31)

static uint64_t fnv1a(const unsigned char *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* ------------------------------------------------------------- writing -- */

static void put_u32(sbuf *s, uint32_t v) {
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    sbuf_append(s, (const char *)b, 4);
}
static void put_u64(sbuf *s, uint64_t v) {
    put_u32(s, (uint32_t)v);
    put_u32(s, (uint32_t)(v >> 32));
}
static void put_f32(sbuf *s, float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    put_u32(s, u);
}
static void put_str(sbuf *s, const char *str) {
    size_t n = strlen(str);
    put_u32(s, (uint32_t)n);
    sbuf_append(s, str, n);
}

/* 1 when the folder holding path is writable and not marked read-only. */
static int dir_writable(const char *path, char *why, size_t cap) {
    char *dir = strdup(path);
    if (!dir) return 0;
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    const char *d = slash ? (dir[0] ? dir : "/") : ".";
    struct stat st;
    int ok = 1;
    if (stat(d, &st) != 0) {
        snprintf(why, cap, "folder %s: %s", d, strerror(errno));
        ok = 0;
    } else if (!(st.st_mode & (S_IWUSR | S_IWGRP | S_IWOTH))) {
        snprintf(why, cap, "folder %s is read-only", d);
        ok = 0;
    } else if (access(d, W_OK) != 0) {
        snprintf(why, cap, "folder %s: %s", d, strerror(errno));
        ok = 0;
    }
    free(dir);
    return ok;
}

status cache_write(const char *path, int nc, const ds_entry *entries, size_t n) {
    char why[600];
    if (!dir_writable(path, why, sizeof why)) return err_set(YOLOC_ERR_IO, "%s", why);
    sbuf s;
    sbuf_init(&s);
    sbuf_append(&s, CACHE_MAGIC, 8);
    put_u32(&s, CACHE_VERSION);
    put_u32(&s, (uint32_t)nc);
    put_u32(&s, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        const ds_entry *e = &entries[i];
        put_str(&s, e->path);
        put_str(&s, e->label_path);
        put_u64(&s, (uint64_t)e->img.size);
        put_u64(&s, (uint64_t)e->img.mtime_ns);
        put_u64(&s, (uint64_t)e->lbl.size);
        put_u64(&s, (uint64_t)e->lbl.mtime_ns);
        put_u32(&s, (uint32_t)e->usable);
        put_u32(&s, (uint32_t)e->w);
        put_u32(&s, (uint32_t)e->h);
        put_u32(&s, (uint32_t)e->ndropped);
        put_u32(&s, (uint32_t)e->nboxes);
        for (size_t k = 0; k < e->nboxes; k++) {
            put_u32(&s, (uint32_t)e->boxes[k].cls);
            put_f32(&s, e->boxes[k].cx);
            put_f32(&s, e->boxes[k].cy);
            put_f32(&s, e->boxes[k].w);
            put_f32(&s, e->boxes[k].h);
        }
        put_u32(&s, (uint32_t)e->nprobs);
        for (size_t k = 0; k < e->nprobs; k++) {
            put_u32(&s, (uint32_t)e->probs[k].on_label);
            put_u32(&s, (uint32_t)e->probs[k].line);
            put_str(&s, e->probs[k].reason);
        }
    }
    if (s.failed) {
        sbuf_free(&s);
        return err_set(YOLOC_ERR_NOMEM, "out of memory writing %s", path);
    }
    put_u64(&s, fnv1a((const unsigned char *)s.buf, s.len));
    status st = s.failed ? err_set(YOLOC_ERR_NOMEM, "out of memory writing %s", path)
                         : file_write_atomic(path, s.buf, s.len);
    sbuf_free(&s);
    return st;
}

/* ------------------------------------------------------------- reading -- */

typedef struct {
    const unsigned char *p;
    size_t n, off;
    int bad;
} reader;

static uint32_t get_u32(reader *r) {
    if (r->bad || r->n - r->off < 4) {
        r->bad = 1;
        return 0;
    }
    const unsigned char *q = r->p + r->off;
    r->off += 4;
    return (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24;
}
static uint64_t get_u64(reader *r) {
    uint64_t lo = get_u32(r);
    return lo | (uint64_t)get_u32(r) << 32;
}
static float get_f32(reader *r) {
    uint32_t u = get_u32(r);
    float f;
    memcpy(&f, &u, 4);
    return f;
}
/* malloc'd string, NULL (and r->bad, unless out of memory) on failure. */
static char *get_str(reader *r) {
    uint32_t n = get_u32(r);
    if (r->bad || r->n - r->off < n) {
        r->bad = 1;
        return NULL;
    }
    char *s = malloc((size_t)n + 1);
    if (!s) {
        r->bad = 1;
        return NULL;
    }
    memcpy(s, r->p + r->off, n);
    s[n] = 0;
    r->off += n;
    return s;
}

static int entry_cmp(const void *a, const void *b) {
    return strcmp(((const ds_entry *)a)->path, ((const ds_entry *)b)->path);
}

status cache_read(const char *path, int nc, ds_entry **entries, size_t *n) {
    *entries = NULL;
    *n = 0;
    char *text;
    size_t len;
    status rd = file_read_all(path, CACHE_MAX_BYTES, &text, &len);
    if (rd == YOLOC_ERR_NOMEM) return rd;
    if (rd < 0) /* the message from file_read_all names the path and reason */
        return access(path, F_OK) == 0 ? YOLOC_ERR_PARSE : YOLOC_ERR_NOT_FOUND;
    const unsigned char *buf = (const unsigned char *)text;
    if (len < 28) {
        free(text);
        return err_set(YOLOC_ERR_PARSE, "%s: not a cache file", path);
    }
    reader r = {buf, len - 8, 0, 0};
    reader tail = {buf, len, len - 8, 0};
    if (memcmp(buf, CACHE_MAGIC, 8) != 0 || get_u64(&tail) != fnv1a(buf, len - 8)) {
        free(text);
        return err_set(YOLOC_ERR_PARSE, "%s: damaged cache file", path);
    }
    r.off = 8;
    uint32_t version = get_u32(&r), cnc = get_u32(&r), count = get_u32(&r);
    if (version != CACHE_VERSION || cnc != (uint32_t)nc || count > (r.n - r.off) / 16) {
        free(text);
        return err_set(YOLOC_ERR_PARSE, "%s: cache from another version or class count", path);
    }
    ds_entry *es = calloc(count ? count : 1, sizeof *es);
    if (!es) {
        free(text);
        return err_set(YOLOC_ERR_NOMEM, "out of memory reading %s", path);
    }
    size_t made = 0;
    for (; made < count && !r.bad; made++) {
        ds_entry *e = &es[made];
        e->path = get_str(&r);
        e->label_path = get_str(&r);
        e->img.size = (int64_t)get_u64(&r);
        e->img.mtime_ns = (int64_t)get_u64(&r);
        e->lbl.size = (int64_t)get_u64(&r);
        e->lbl.mtime_ns = (int64_t)get_u64(&r);
        e->usable = (int)get_u32(&r);
        e->w = (int)get_u32(&r);
        e->h = (int)get_u32(&r);
        e->ndropped = get_u32(&r);
        uint32_t nb = get_u32(&r);
        if (r.bad || nb > (r.n - r.off) / 20 || e->usable > 1) {
            r.bad = 1;
            break;
        }
        e->checked = 1;
        if (nb && !(e->boxes = malloc(nb * sizeof *e->boxes))) {
            r.bad = 1;
            break;
        }
        e->nboxes = nb;
        for (uint32_t k = 0; k < nb; k++) {
            ds_box *b = &e->boxes[k];
            b->cls = (int)get_u32(&r);
            b->cx = get_f32(&r), b->cy = get_f32(&r), b->w = get_f32(&r), b->h = get_f32(&r);
            if (b->cls < 0 || b->cls >= nc) r.bad = 1;
        }
        uint32_t np = get_u32(&r);
        if (r.bad || np > (r.n - r.off) / 12) {
            r.bad = 1;
            break;
        }
        if (np && !(e->probs = calloc(np, sizeof *e->probs))) {
            r.bad = 1;
            break;
        }
        for (uint32_t k = 0; k < np && !r.bad; k++) {
            e->probs[k].on_label = (int)get_u32(&r);
            e->probs[k].line = (int)get_u32(&r);
            e->probs[k].reason = get_str(&r);
            e->nprobs = k + 1;
        }
    }
    free(text);
    if (r.bad || r.off != r.n) {
        for (size_t i = 0; i < count; i++) entry_free(&es[i]);
        free(es);
        return err_set(YOLOC_ERR_PARSE, "%s: damaged cache file", path);
    }
    qsort(es, count, sizeof *es, entry_cmp);
    *entries = es;
    *n = count;
    return YOLOC_OK;
}
