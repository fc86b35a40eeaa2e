/* Evaluating YOLO-format prediction files against a dataset split, and the
 * summary `yoloc eval` prints and writes.
 *
 * Prediction files: one text file per image, named after the image's stem
 * (000000000139.jpg -> 000000000139.txt), one detection per line
 * "class cx cy w h conf" with the box normalised to the image (Ultralytics'
 * save_txt + save_conf format); a missing file means no detections. Lines
 * that are malformed (not 6 numbers), name a class outside [0, nc), hold a
 * non-finite value, a negative size or a confidence outside [0, 1] are
 * reported with file and line (log_warn) and skipped; .txt files that match
 * no image of the split are reported and skipped; other files are ignored.
 * Detections with conf <= the threshold are dropped silently (counted);
 * with EVAL_CONF_NONE every detection is kept, as pycocotools scores every
 * detection it is given.
 * Ground truth comes from the split's labels (crowd never set). Boxes are
 * converted to pixels of the original image (ds_image width/height). Image
 * ids: the stems as integers when every stem is a distinct number (COCO
 * style file names), else the image's position in the split.
 *
 * The summary holds the Ultralytics P and R (always) and mAP50 / mAP50-95
 * from the chosen method: Ultralytics (trapezoid, what its validator
 * prints) or COCO (pycocotools; YOLO labels carry no segmentation, so the
 * area ranges use box areas). */
#ifndef YOLOC_EVAL_YOLO_EVAL_H
#define YOLOC_EVAL_YOLO_EVAL_H

#include "core/status.h"
#include "data/dataset.h"
#include "eval/coco.h"
#include "eval/metrics.h"

#include <stdio.h>

typedef struct {
    size_t files_read;    /* prediction files used */
    size_t files_skipped; /* .txt files matching no image, or unreadable */
    size_t lines_read;    /* non-blank lines in the files used */
    size_t lines_skipped; /* bad lines */
    size_t dets_kept;
    size_t dets_below_conf;
} pred_report;

/* conf for "no threshold": keep every detection of the files. */
#define EVAL_CONF_NONE (-1.0)

/* Builds s (initialised here) from the split's images and labels and the
 * prediction files in pred_dir. Errors: YOLOC_ERR_IO / YOLOC_ERR_NOT_FOUND
 * when pred_dir cannot be listed, YOLOC_ERR_INVALID for nc < 1 or conf
 * outside [0, 1], YOLOC_ERR_NOMEM. Bad prediction lines and files are not
 * errors (see above); rep counts them. */
status eval_load_yolo(eval_set *s, const ds_image *images, size_t nimages, int nc,
                      const char *pred_dir, double conf, pred_report *rep);

typedef enum { EVAL_METRIC_ULTRALYTICS = 0, EVAL_METRIC_COCO } eval_metric;

typedef struct {
    eval_metric metric;
    int nc;
    const char *const *names; /* not owned */
    size_t nimages, ninstances;
    double mp, mr, map50, map5095;   /* the row "all" */
    double *p, *r, *ap50, *ap5095;   /* [nc]; NaN for classes without instances */
    size_t *instances, *images_with; /* [nc] */
    int has_coco;
    double coco_stats[12];
    pred_report preds;
    ul_metrics ul;
} eval_summary;

/* Computes the summary of s (names: nc class names, kept by pointer).
 * YOLOC_ERR_NOMEM. */
status eval_summarize(const eval_set *s, eval_metric metric, const char *const *names,
                      eval_summary *e);
void eval_summary_free(eval_summary *e);
/* The validator's table: header, "all", one row per class with instances
 * (Ultralytics formats: %22s then %11i / %11.3g); with the COCO method also
 * pycocotools' 12-line summary. */
void eval_summary_print(const eval_summary *e, FILE *f);
/* {"metric", "images", "all": {P, R, mAP50, mAP50-95, instances},
 *  "classes": {name: {...}} (classes with instances), "coco": {AP, AP50, ...}
 *  (COCO method), "skipped": {files, lines}} at full precision.
 * YOLOC_ERR_IO naming the path. */
status eval_summary_write_json(const eval_summary *e, const char *path);

#endif
