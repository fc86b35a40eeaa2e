/* YOLO label files: parsing and checking one `class cx cy w h` text file.
 *
 * labels_parse() is a pure function of the bytes (no file access), shared
 * by the dataset checker and the fuzz target. Each line is one of:
 *  - blank (only whitespace): ignored, not a problem;
 *  - 5 fields `class cx cy w h`: a box;
 *  - an odd number >= 7 of fields `class x1 y1 x2 y2 x3 y3 ...`: a polygon
 *    (Ultralytics segment labels), kept as its bounding box;
 *  - anything else: dropped with a reason.
 * A line is dropped (and recorded with its 1-based number and a reason) when
 * it has the wrong field count, a field that is not a number (decimal as
 * Python's float() reads it; hex floats are refused), a NaN or infinity, a
 * class id that is not an integer or not in [0, nc), a coordinate outside
 * [-LABELS_TOLERANCE, 1 + LABELS_TOLERANCE], a box of zero width or height
 * (after clipping), or when it repeats an earlier kept box exactly (same
 * class and float32 values; Ultralytics removes duplicates the same way).
 * Coordinates within the tolerance are clipped into [0, 1], and a box
 * whose corners stick out of the image by rounding is clipped to it.
 * Ultralytics drops the whole image when one line is bad; yoloc drops only
 * the line. */
#ifndef YOLOC_DATA_LABELS_H
#define YOLOC_DATA_LABELS_H

#include "core/status.h"
#include "data/dataset.h"

#include <stddef.h>

/* How far outside [0, 1] a coordinate may be and still be clipped. */
#define LABELS_TOLERANCE 0.01

typedef struct {
    int line;        /* 1-based */
    char reason[96]; /* e.g. "class id 7 is out of range [0, 3)" */
} label_issue;

typedef struct {
    ds_box *boxes; /* nboxes kept boxes, in file order (malloc'd) */
    size_t nboxes;
    label_issue *issues; /* one per dropped line, in file order (malloc'd) */
    size_t nissues;
} label_result;

/* Parses len bytes (need not be NUL-terminated) for a dataset of nc classes.
 * Only fails with YOLOC_ERR_NOMEM; bad lines become issues. *out is zeroed
 * first and must be released with labels_free() (also after a failure). */
status labels_parse(const char *text, size_t len, int nc, label_result *out);
void labels_free(label_result *r);

#endif
