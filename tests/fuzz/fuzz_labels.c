/* Fuzz target: parses arbitrary bytes as a YOLO label file (nc = 80) and
 * checks the parser's promises: kept boxes have a class in range and finite
 * coordinates in [0, 1] with positive size, and every dropped line has a
 * line number and a reason. */
#include "data/labels.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    label_result r;
    if (labels_parse((const char *)data, size, 80, &r) == YOLOC_OK) {
        for (size_t i = 0; i < r.nboxes; i++) {
            const ds_box *b = &r.boxes[i];
            if (b->cls < 0 || b->cls >= 80) abort();
            if (!(b->w > 0 && b->w <= 1 && b->h > 0 && b->h <= 1)) abort();
            if (!(b->cx >= 0 && b->cx <= 1 && b->cy >= 0 && b->cy <= 1)) abort();
        }
        for (size_t i = 0; i < r.nissues; i++)
            if (r.issues[i].line < 1 || !r.issues[i].reason[0]) abort();
    }
    labels_free(&r);
    return 0;
}
