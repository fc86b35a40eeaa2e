/* Image decoding and encoding: JPEG (libjpeg-turbo), PNG (libpng), BMP.
 *
 * Decoded images are 8-bit RGB, HWC, row-major (3 bytes per pixel).
 * Grayscale, grayscale+alpha, palette, RGBA, 16-bit and CMYK inputs are
 * converted to RGB (alpha dropped); JPEG EXIF orientation (tags 2-8) is
 * applied so that the pixels are upright as a viewer shows them. Corrupt or
 * truncated files are errors naming the file and the problem, never a crash.
 *
 * Damaged JPEGs, the rule (Ultralytics keeps a JPEG whose end marker is
 * missing: "corrupt JPEG restored and saved"; PIL and OpenCV decode JPEGs with
 * recoverable corruption):
 *  - a JPEG whose only damage is a missing end-of-image marker (FFD9) is
 *    decoded and kept: the entropy-coded data is complete (decoding it with
 *    FFD9 appended raises no warning). image_notes.no_eoi says so.
 *  - a JPEG whose data ends early (truncated inside the scan) is an error:
 *    libjpeg-turbo would fill the missing rows with grey.
 *  - a complete JPEG (ends with FFD9) that libjpeg-turbo decodes with a
 *    warning (e.g. extraneous bytes before a marker) is kept;
 *    image_notes.corrupt_data says so.
 * BMP: uncompressed 24/32-bit (BI_RGB, or BI_BITFIELDS with the standard
 * masks) and 8-bit palette, bottom-up or top-down; anything else is
 * YOLOC_ERR_UNSUPPORTED. Images over IMAGE_MAX_PIXELS are refused.
 * Every function here is thread-safe (no shared state). */
#ifndef YOLOC_IO_IMAGE_H
#define YOLOC_IO_IMAGE_H

#include "core/status.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int w, h;       /* pixels */
    uint8_t *data;  /* w*h*3 bytes, RGB, malloc'd (image_free) */
} image;

/* Largest decodable image (w*h); guards against hostile headers. */
#define IMAGE_MAX_PIXELS ((size_t)1 << 27)

/* Damage a decoder recovered from: the pixels are usable (see the rule above). */
typedef struct {
    int no_eoi;       /* JPEG: end-of-image marker missing, data otherwise complete */
    int corrupt_data; /* JPEG: decoded with a libjpeg-turbo warning */
    char msg[160];    /* what was recovered from; "" when nothing */
} image_notes;

typedef enum { IMAGE_FMT_UNKNOWN = 0, IMAGE_FMT_JPEG, IMAGE_FMT_PNG, IMAGE_FMT_BMP } image_format;

/* Detects the format from the first bytes (not the file name). */
image_format image_sniff(const void *buf, size_t len);
/* Reads width/height (after EXIF orientation) without decoding the pixels
 * where the format allows; validates the header. */
status image_probe(const char *path, int *w, int *h, image_format *fmt);
/* Decodes a whole file. */
status image_load(const char *path, image *img);
/* Decodes from memory; name is used in messages ("<name>: <problem>"; just
 * "<problem>" when name is NULL or ""). */
status image_decode(const void *buf, size_t len, const char *name, image *img);
/* Same, also reporting recovered damage in *notes (may be NULL). */
status image_decode_ex(const void *buf, size_t len, const char *name, image *img,
                       image_notes *notes);
/* Reads a whole file into a malloc'd buffer (*len bytes; free() it). Errors
 * name the path: cannot open, empty file, larger than 1 GiB. */
status image_read_file(const char *path, unsigned char **buf, size_t *len);
void image_free(image *img);
/* Writes PNG (lossless) or JPEG (quality 1-100; 4:4:4 chroma at quality >= 90,
 * else 4:2:0) by the extension of path (.png / .jpg / .jpeg, any case),
 * atomically: a temporary file in the same folder renamed over path. */
status image_save(const char *path, const image *img, int jpeg_quality);

#endif
