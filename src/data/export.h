/* Writing a dataset in YOLO format (`yoloc data export`): for each split,
 * OUT/images/<split>/<index>.png (6-digit index, so the sorted order is the
 * dataset's order), OUT/labels/<split>/<index>.txt (`class cx cy w h`, %.6f;
 * an empty file for a background) and OUT/data.yaml (path ".", the splits,
 * nc, names). Opening OUT/data.yaml gives back the same images and boxes
 * (to the 1e-6 of the label format). Existing files are overwritten. */
#ifndef YOLOC_DATA_EXPORT_H
#define YOLOC_DATA_EXPORT_H

#include "core/status.h"
#include "data/dataset.h"

/* Writes ds under dir (created when missing). Images are decoded or
 * rendered and saved in parallel. Errors name the file. */
status dataset_export(const dataset *ds, const char *dir);

#endif
