/* Zip archives, read-only, from memory: what PyTorch's checkpoints (.pt)
 * are. The central directory is read (zip64 records included), every entry
 * is checked against the buffer (its local header, name and data inside
 * it), and an entry's bytes come out stored or inflated (zlib, method 8)
 * with their CRC-32 checked. Encrypted entries, other methods, multi-disk
 * archives and entries whose declared size would exceed `max_entry` are
 * refused with a message naming the archive and the entry.
 *
 * Nothing here trusts the file: sizes and offsets are checked before use,
 * inflation stops at the declared size, and an archive that declares more
 * entries than its directory can hold is refused. */
#ifndef YOLOC_IO_ZIP_H
#define YOLOC_IO_ZIP_H

#include "core/status.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *name;  /* NUL-terminated copy of the entry's name */
    uint64_t csize;    /* bytes in the archive */
    uint64_t usize;    /* bytes once extracted */
    uint64_t data_off; /* offset of the (compressed) data in the buffer */
    uint32_t crc;
    int method; /* 0 stored, 8 deflated */
} zip_entry;

typedef struct {
    const unsigned char *buf; /* the archive (not owned) */
    size_t len;
    size_t n;          /* entries, in directory order */
    zip_entry *entries;
    char *names;       /* private: the names' storage */
    char label[256];   /* for messages: the file's path */
} zip_archive;

/* Opens the archive in buf[0..len) (kept, not copied: it must outlive z).
 * label names it in messages. On failure z is left empty. */
status zip_open_memory(zip_archive *z, const void *buf, size_t len, const char *label);
void zip_close(zip_archive *z);
/* The entry of that exact name, or NULL. */
const zip_entry *zip_find(const zip_archive *z, const char *name);
/* Extracts an entry: *out (malloc'd, plus a NUL byte after the data) holds
 * e->usize bytes; YOLOC_ERR_PARSE for a corrupt stream or a CRC mismatch,
 * YOLOC_ERR_UNSUPPORTED for a method other than stored or deflated,
 * YOLOC_ERR_INVALID when usize exceeds max_bytes. */
status zip_extract(const zip_archive *z, const zip_entry *e, size_t max_bytes, unsigned char **out);

/* Writing: an archive of stored (uncompressed) entries, built in memory,
 * each entry's data starting at a multiple of `align` bytes of the file
 * (the padding goes into the local header's extra field, as PyTorch does
 * for its storages). Archives up to 4 GiB (no zip64 records). */
typedef struct {
    unsigned char *buf;
    size_t len, cap;
    struct zip_went {
        char *name;
        uint32_t crc;
        uint64_t size, off;
    } *ents;
    size_t n, ecap;
    int failed; /* out of memory or over 4 GiB: zip_writer_finish fails */
} zip_writer;

void zip_writer_init(zip_writer *w);
void zip_writer_add(zip_writer *w, const char *name, const void *data, size_t len, size_t align);
/* Appends the central directory; then buf[0..len) is the archive. */
status zip_writer_finish(zip_writer *w, const char *label);
void zip_writer_free(zip_writer *w);

/* A stored (method 0) entry's bytes in place, its CRC-32 checked. */
status zip_stored(const zip_archive *z, const zip_entry *e, const unsigned char **out);

#endif
