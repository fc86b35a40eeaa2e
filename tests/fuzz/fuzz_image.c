/* Fuzz target: decodes arbitrary bytes as an image (the format is sniffed
 * from the content, so JPEG, PNG and BMP parsers, the EXIF reader and the
 * orientation code are all reached). Any outcome but a crash or a sanitizer
 * report is fine; a success must describe a consistent image. */
#include "io/image.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    image img;
    image_notes notes;
    if (image_decode_ex(data, size, "fuzz", &img, &notes) == YOLOC_OK) {
        if (!img.data || img.w <= 0 || img.h <= 0) abort();
        /* touch the first and last pixel: the buffer must be w*h*3 bytes */
        volatile uint8_t sink = (uint8_t)(img.data[0] ^ img.data[(size_t)img.w * img.h * 3 - 1]);
        (void)sink;
        image_free(&img);
    }
    return 0;
}
