/* Image decoding and encoding: JPEG (libjpeg-turbo), PNG (libpng), BMP.
 *
 * Decoded images are 8-bit RGB, HWC, row-major (3 bytes per pixel).
 * Grayscale, grayscale+alpha, palette, RGBA, 16-bit and CMYK inputs are
 * converted to RGB (alpha dropped); JPEG EXIF orientation (tags 2-8) is
 * applied so that the pixels are upright as a viewer shows them. Corrupt or
 * truncated files are errors naming the file and the problem, never a crash. */
#ifndef YOLOC_IO_IMAGE_H
#define YOLOC_IO_IMAGE_H

#include "core/status.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int w, h;       /* pixels */
    uint8_t *data;  /* w*h*3 bytes, RGB, malloc'd (image_free) */
} image;

typedef enum { IMAGE_FMT_UNKNOWN = 0, IMAGE_FMT_JPEG, IMAGE_FMT_PNG, IMAGE_FMT_BMP } image_format;

/* Detects the format from the first bytes (not the file name). */
image_format image_sniff(const void *buf, size_t len);
/* Reads width/height (after EXIF orientation) without decoding the pixels
 * where the format allows; validates the header. */
status image_probe(const char *path, int *w, int *h, image_format *fmt);
/* Decodes a whole file. */
status image_load(const char *path, image *img);
/* Decodes from memory; name is used in messages. */
status image_decode(const void *buf, size_t len, const char *name, image *img);
void image_free(image *img);
/* Writes PNG (lossless) or JPEG (quality 1-100) by the extension of path
 * (.png / .jpg / .jpeg), atomically. */
status image_save(const char *path, const image *img, int jpeg_quality);

#endif
