/* Zip archives, read-only (see zip.h). Record layouts from the PKWARE
 * APPNOTE: end of central directory (EOCD), its zip64 locator and record,
 * central directory headers, local headers, the zip64 extra field. */
#include "io/zip.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define SIG_EOCD 0x06054b50u
#define SIG_EOCD64 0x06064b50u
#define SIG_LOC64 0x07064b50u
#define SIG_CDIR 0x02014b50u
#define SIG_LOCAL 0x04034b50u

static uint16_t rd16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const unsigned char *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }

/* [off, off + n) inside [0, len) without overflow */
static int inside(uint64_t off, uint64_t n, size_t len) { return off <= len && n <= len - off; }

static status bad(const zip_archive *z, const char *what) {
    return err_set(YOLOC_ERR_PARSE, "%s: not a valid zip archive: %s", z->label, what);
}

static status find_eocd(const zip_archive *z, size_t *at) {
    if (z->len < 22) return bad(z, "shorter than an end-of-directory record");
    size_t lo = z->len > 22 + 65535 ? z->len - 22 - 65535 : 0;
    for (size_t p = z->len - 22 + 1; p-- > lo;) {
        if (rd32(z->buf + p) == SIG_EOCD && p + 22 + rd16(z->buf + p + 20) == z->len) {
            *at = p;
            return YOLOC_OK;
        }
    }
    return bad(z, "no end-of-directory record");
}

/* The zip64 extra field's values for the 0xFFFFFFFF fields, in order. */
static status zip64_extra(const zip_archive *z, const unsigned char *ex, size_t exlen, uint64_t *usize,
                          uint64_t *csize, uint64_t *off, const char *name) {
    int need_u = *usize == 0xFFFFFFFFu, need_c = *csize == 0xFFFFFFFFu, need_o = off && *off == 0xFFFFFFFFu;
    if (!need_u && !need_c && !need_o) return YOLOC_OK;
    size_t p = 0;
    while (p + 4 <= exlen) {
        uint16_t id = rd16(ex + p), sz = rd16(ex + p + 2);
        if (p + 4 + sz > exlen) break;
        if (id == 0x0001) {
            const unsigned char *v = ex + p + 4;
            size_t q = 0;
            if (need_u) {
                if (q + 8 > sz) break;
                *usize = rd64(v + q), q += 8;
            }
            if (need_c) {
                if (q + 8 > sz) break;
                *csize = rd64(v + q), q += 8;
            }
            if (need_o) {
                if (q + 8 > sz) break;
                *off = rd64(v + q), q += 8;
            }
            return YOLOC_OK;
        }
        p += 4 + (size_t)sz;
    }
    return err_set(YOLOC_ERR_PARSE, "%s: entry '%s': a size is 0xFFFFFFFF without its zip64 field", z->label, name);
}

status zip_open_memory(zip_archive *z, const void *buf, size_t len, const char *label) {
    memset(z, 0, sizeof *z);
    z->buf = buf;
    z->len = len;
    snprintf(z->label, sizeof z->label, "%s", label ? label : "zip");
    size_t e = 0;
    TRY(find_eocd(z, &e));
    const unsigned char *q = z->buf + e;
    uint64_t n = rd16(q + 10), cd_size = rd32(q + 12), cd_off = rd32(q + 16);
    if (rd16(q + 4) != 0 || rd16(q + 6) != 0 || rd16(q + 8) != rd16(q + 10))
        return bad(z, "a multi-disk archive");
    if (e >= 20 && rd32(z->buf + e - 20) == SIG_LOC64) { /* zip64 */
        uint64_t r = rd64(z->buf + e - 20 + 8);
        if (!inside(r, 56, z->len) || rd32(z->buf + r) != SIG_EOCD64) return bad(z, "a broken zip64 end record");
        const unsigned char *r64 = z->buf + r;
        n = rd64(r64 + 32);
        cd_size = rd64(r64 + 40);
        cd_off = rd64(r64 + 48);
        if (rd64(r64 + 24) != n) return bad(z, "a multi-disk archive");
    }
    if (!inside(cd_off, cd_size, z->len)) return bad(z, "the central directory lies outside the file");
    if (n > cd_size / 46) return bad(z, "more entries than the central directory can hold");
    z->entries = calloc(n ? n : 1, sizeof *z->entries);
    z->names = malloc(cd_size + 1);
    if (!z->entries || !z->names) {
        zip_close(z);
        return err_set(YOLOC_ERR_NOMEM, "%s: out of memory for %llu entries", label, (unsigned long long)n);
    }
    size_t p = (size_t)cd_off, end = (size_t)(cd_off + cd_size), nameat = 0;
    status st = YOLOC_OK;
    for (uint64_t i = 0; i < n; i++) {
        if (p + 46 > end || rd32(z->buf + p) != SIG_CDIR) {
            st = bad(z, "a broken central directory entry");
            break;
        }
        const unsigned char *c = z->buf + p;
        size_t nl = rd16(c + 28), xl = rd16(c + 30), cl = rd16(c + 32);
        if (p + 46 + nl + xl + cl > end) {
            st = bad(z, "a central directory entry runs past the directory");
            break;
        }
        zip_entry *ze = &z->entries[i];
        memcpy(z->names + nameat, c + 46, nl);
        z->names[nameat + nl] = 0;
        ze->name = z->names + nameat;
        if (memchr(ze->name, 0, nl)) {
            st = err_set(YOLOC_ERR_PARSE, "%s: entry %llu: a NUL byte in its name", label, (unsigned long long)i);
            break;
        }
        nameat += nl + 1;
        uint16_t flags = rd16(c + 8);
        ze->method = rd16(c + 10);
        ze->crc = rd32(c + 16);
        ze->csize = rd32(c + 20);
        ze->usize = rd32(c + 24);
        uint64_t loff = rd32(c + 42);
        if ((st = zip64_extra(z, c + 46 + nl, xl, &ze->usize, &ze->csize, &loff, ze->name)) < 0) break;
        if (flags & 1) {
            st = err_set(YOLOC_ERR_UNSUPPORTED, "%s: entry '%s' is encrypted", label, ze->name);
            break;
        }
        if (!inside(loff, 30, z->len) || rd32(z->buf + loff) != SIG_LOCAL) {
            st = err_set(YOLOC_ERR_PARSE, "%s: entry '%s': its local header is missing", label, ze->name);
            break;
        }
        const unsigned char *l = z->buf + loff;
        uint64_t data = loff + 30 + (uint64_t)rd16(l + 26) + rd16(l + 28);
        if (!inside(data, ze->csize, z->len)) {
            st = err_set(YOLOC_ERR_PARSE, "%s: entry '%s': its %llu bytes run past the end of the file", label,
                         ze->name, (unsigned long long)ze->csize);
            break;
        }
        if (ze->method == 0 && ze->csize != ze->usize) {
            st = err_set(YOLOC_ERR_PARSE, "%s: entry '%s': stored with two different sizes (%llu, %llu)", label,
                         ze->name, (unsigned long long)ze->csize, (unsigned long long)ze->usize);
            break;
        }
        ze->data_off = data;
        p += 46 + nl + xl + cl;
        z->n++;
    }
    if (st < 0) zip_close(z);
    return st;
}

void zip_close(zip_archive *z) {
    free(z->entries);
    free(z->names);
    z->entries = NULL;
    z->names = NULL;
    z->n = 0;
}

const zip_entry *zip_find(const zip_archive *z, const char *name) {
    for (size_t i = 0; i < z->n; i++)
        if (strcmp(z->entries[i].name, name) == 0) return &z->entries[i];
    return NULL;
}

static uint32_t crc_of(const unsigned char *b, uint64_t n) {
    uLong crc = crc32(0L, Z_NULL, 0);
    for (uint64_t done = 0; done < n;) {
        uInt k = n - done > UINT_MAX ? UINT_MAX : (uInt)(n - done);
        crc = crc32(crc, b + done, k);
        done += k;
    }
    return (uint32_t)crc;
}

status zip_stored(const zip_archive *z, const zip_entry *e, const unsigned char **out) {
    *out = NULL;
    if (e->method != 0)
        return err_set(YOLOC_ERR_INVALID, "%s: entry '%s' is compressed, not stored", z->label, e->name);
    if (crc_of(z->buf + e->data_off, e->usize) != e->crc)
        return err_set(YOLOC_ERR_PARSE, "%s: entry '%s': CRC-32 mismatch (the file is damaged)", z->label, e->name);
    *out = z->buf + e->data_off;
    return YOLOC_OK;
}

status zip_extract(const zip_archive *z, const zip_entry *e, size_t max_bytes, unsigned char **out) {
    *out = NULL;
    if (e->usize > max_bytes || e->usize >= SIZE_MAX)
        return err_set(YOLOC_ERR_INVALID, "%s: entry '%s': %llu bytes, more than the %zu allowed", z->label, e->name,
                       (unsigned long long)e->usize, max_bytes);
    if (e->method != 0 && e->method != 8)
        return err_set(YOLOC_ERR_UNSUPPORTED, "%s: entry '%s': compression method %d (stored and deflated are read)",
                       z->label, e->name, e->method);
    unsigned char *b = malloc((size_t)e->usize + 1);
    if (!b) return err_set(YOLOC_ERR_NOMEM, "%s: entry '%s': out of memory for %llu bytes", z->label, e->name,
                           (unsigned long long)e->usize);
    const unsigned char *src = z->buf + e->data_off;
    if (e->method == 0) {
        if (e->usize) memcpy(b, src, (size_t)e->usize);
    } else {
        z_stream s;
        memset(&s, 0, sizeof s);
        if (inflateInit2(&s, -MAX_WBITS) != Z_OK) {
            free(b);
            return err_set(YOLOC_ERR_NOMEM, "%s: entry '%s': zlib could not start", z->label, e->name);
        }
        uint64_t in_left = e->csize, out_done = 0;
        int rc = Z_OK;
        while (rc == Z_OK) {
            uInt chunk_in = in_left > UINT_MAX ? UINT_MAX : (uInt)in_left;
            uint64_t out_left = e->usize - out_done;
            s.next_in = (Bytef *)(uintptr_t)(src + (e->csize - in_left));
            s.avail_in = chunk_in;
            s.next_out = b + out_done;
            s.avail_out = out_left > UINT_MAX ? UINT_MAX : (uInt)out_left;
            uInt ai = s.avail_in, ao = s.avail_out;
            rc = inflate(&s, Z_NO_FLUSH);
            in_left -= ai - s.avail_in;
            out_done += ao - s.avail_out;
            if (rc == Z_OK && ai == s.avail_in && ao == s.avail_out) rc = Z_BUF_ERROR; /* no progress */
        }
        inflateEnd(&s);
        if (rc != Z_STREAM_END || out_done != e->usize) {
            free(b);
            return err_set(YOLOC_ERR_PARSE, "%s: entry '%s': a corrupt deflate stream (%s)", z->label, e->name,
                           rc == Z_STREAM_END ? "shorter than declared" : "truncated or damaged");
        }
    }
    b[e->usize] = 0;
    if (crc_of(b, e->usize) != e->crc) {
        free(b);
        return err_set(YOLOC_ERR_PARSE, "%s: entry '%s': CRC-32 mismatch (the file is damaged)", z->label, e->name);
    }
    *out = b;
    return YOLOC_OK;
}

/* ---- writing */

void zip_writer_init(zip_writer *w) { memset(w, 0, sizeof *w); }

void zip_writer_free(zip_writer *w) {
    for (size_t i = 0; i < w->n; i++) free(w->ents[i].name);
    free(w->ents);
    free(w->buf);
    memset(w, 0, sizeof *w);
}

static void put(zip_writer *w, const void *p, size_t n) {
    if (w->failed) return;
    if (w->len + n > 0xFFFFFFFFu) {
        w->failed = 1;
        return;
    }
    if (w->len + n > w->cap) {
        size_t nc = w->cap ? 2 * w->cap : 65536;
        while (nc < w->len + n) nc *= 2;
        unsigned char *b = realloc(w->buf, nc);
        if (!b) {
            w->failed = 1;
            return;
        }
        w->buf = b;
        w->cap = nc;
    }
    if (n) memcpy(w->buf + w->len, p, n);
    w->len += n;
}

static void put16(zip_writer *w, unsigned v) {
    unsigned char b[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
    put(w, b, 2);
}
static void put32(zip_writer *w, uint32_t v) {
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16), (unsigned char)(v >> 24)};
    put(w, b, 4);
}

void zip_writer_add(zip_writer *w, const char *name, const void *data, size_t len, size_t align) {
    if (w->failed) return;
    if (w->n == w->ecap) {
        size_t nc = w->ecap ? 2 * w->ecap : 64;
        struct zip_went *e = realloc(w->ents, nc * sizeof *e);
        if (!e) {
            w->failed = 1;
            return;
        }
        w->ents = e;
        w->ecap = nc;
    }
    size_t nl = strlen(name);
    char *nm = malloc(nl + 1);
    if (!nm || nl > 0xFFFF) {
        free(nm);
        w->failed = 1;
        return;
    }
    memcpy(nm, name, nl + 1);
    /* data at off + 30 + nl + extra: pad the extra field up to the alignment
     * (an extra block needs 4 bytes of header) */
    size_t extra = 0;
    if (align > 1) {
        size_t at = w->len + 30 + nl;
        size_t pad = (align - at % align) % align;
        if (pad && pad < 4) pad += align;
        extra = pad;
    }
    uint32_t crc = crc_of(data, len);
    w->ents[w->n++] = (struct zip_went){nm, crc, len, w->len};
    put32(w, SIG_LOCAL);
    put16(w, 20), put16(w, 0), put16(w, 0), put16(w, 0), put16(w, 0x21); /* version, flags, stored, time, date */
    put32(w, crc), put32(w, (uint32_t)len), put32(w, (uint32_t)len);
    put16(w, (unsigned)nl), put16(w, (unsigned)extra);
    put(w, name, nl);
    if (extra) {
        put16(w, 0xCAFE), put16(w, (unsigned)(extra - 4)); /* a private padding block */
        static const unsigned char zeros[256];
        for (size_t k = extra - 4; k > 0;) {
            size_t c = k > sizeof zeros ? sizeof zeros : k;
            put(w, zeros, c);
            k -= c;
        }
    }
    put(w, data, len);
}

status zip_writer_finish(zip_writer *w, const char *label) {
    size_t cd = w->len;
    for (size_t i = 0; i < w->n; i++) {
        const struct zip_went *e = &w->ents[i];
        size_t nl = strlen(e->name);
        put32(w, SIG_CDIR);
        put16(w, 20), put16(w, 20), put16(w, 0), put16(w, 0), put16(w, 0), put16(w, 0x21);
        put32(w, e->crc), put32(w, (uint32_t)e->size), put32(w, (uint32_t)e->size);
        put16(w, (unsigned)nl), put16(w, 0), put16(w, 0), put16(w, 0), put16(w, 0);
        put32(w, 0), put32(w, (uint32_t)e->off);
        put(w, e->name, nl);
    }
    size_t cd_size = w->len - cd;
    if (w->n > 0xFFFF) w->failed = 1;
    put32(w, SIG_EOCD);
    put16(w, 0), put16(w, 0), put16(w, (unsigned)w->n), put16(w, (unsigned)w->n);
    put32(w, (uint32_t)cd_size), put32(w, (uint32_t)cd), put16(w, 0);
    if (w->failed)
        return err_set(YOLOC_ERR_NOMEM, "%s: cannot build the archive (out of memory, or over 4 GiB / 65535 entries)",
                       label);
    return YOLOC_OK;
}
