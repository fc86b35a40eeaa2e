/* The official COCO bbox evaluation (pycocotools COCOeval, iouType "bbox")
 * on an eval_set, and COCO JSON input/output.
 *
 * What pycocotools computes, and yoloc with it (params: IoU thresholds
 * linspace(.5, .95, 10), 101 recall points linspace(0, 1, 101), maxDets
 * 1/10/100, areas all [0, 1e10], small [0, 32^2], medium [32^2, 96^2],
 * large [96^2, 1e10]):
 *  - images in ascending id, categories = every class of the set (also
 *    those without annotations); per (image, category) the detections in
 *    descending score (stable) cut to 100, IoU in double with crowd ground
 *    truths using the detection's area as the union;
 *  - per area range: a ground truth is ignored when crowd or its "area" is
 *    outside the range; greedy matching per threshold in score order, each
 *    detection to the best-IoU (>= t) unmatched non-ignored ground truth
 *    (crowd ones can be matched again; a match to an ignored one makes the
 *    detection ignored); unmatched detections whose w*h is outside the range
 *    are ignored;
 *  - accumulate per category, area and maxDets over all images (first maxDet
 *    detections of each image, merged by stable score sort): cumulative TP /
 *    FP, precision envelope, precision sampled at the 101 recall points
 *    (searchsorted left; points beyond the last recall are 0);
 *    a category with no non-ignored ground truth (or nothing at all) is -1
 *    and left out of the means;
 *  - stats[12]: AP, AP50, AP75, AP small/medium/large, AR@1, AR@10, AR@100,
 *    AR small/medium/large, each the mean over the defined entries (-1 when
 *    none), summed in NumPy's order.
 * Assumed: annotation ids are non-zero (pycocotools would count a match to
 * an annotation with id 0 as unmatched; yoloc's own ids start at 1).
 * Not here: segm/keypoints evaluation, useCats=0, custom params. */
#ifndef YOLOC_EVAL_COCO_H
#define YOLOC_EVAL_COCO_H

#include "core/status.h"
#include "eval/metrics.h"

typedef struct {
    double stats[12];
    int nc;
    double *ap;    /* [nc] AP .50:.95, area all, maxDets 100; -1 when undefined */
    double *ap50;  /* [nc] AP at IoU .50; -1 when undefined */
    double *ar100; /* [nc] AR maxDets 100, area all; -1 when undefined */
} coco_result;

/* YOLOC_ERR_NOMEM, or YOLOC_ERR_INVALID when two images share an id. */
status eval_coco(const eval_set *s, coco_result *r);
void coco_result_free(coco_result *r);

/* Writes the detections as a COCO results file: a JSON array of
 * {"image_id", "category_id" (s->cat_ids), "bbox": [x, y, w, h], "score"}
 * with values at full double precision. YOLOC_ERR_IO naming the path. */
status coco_write_results(const eval_set *s, const char *path);
/* The same as Ultralytics' validator writes predictions.json (save_json):
 * per detection {"image_id": the file's stem (a number when it is one, else
 * the stem as a string), "file_name", "category_id" (s->cat_ids), "bbox":
 * [x, y, w, h] clipped to the image and rounded to 3 decimals, "score"
 * rounded to 5}; file_names[i] is image i's path (its last component is
 * written; "" for an image without a file: image_id is then its id).
 * YOLOC_ERR_IO naming the path. */
status coco_write_predictions(const eval_set *s, const char *const *file_names, const char *path);
/* Writes the ground truth as a COCO annotations file (images with id,
 * width, height and file_name when file_names is not NULL; annotations
 * with ids 1..N, bbox, area, iscrowd; categories with names when names is
 * not NULL, else "0", "1", ...). YOLOC_ERR_IO naming the path. */
status coco_write_gt(const eval_set *s, const char *const *names, const char *const *file_names,
                     const char *path);

/* Reads a COCO annotations file and, when dt_path is not NULL, a results
 * file into s (initialised here; images in ascending id, classes = the
 * categories in ascending id, s->cat_ids set). Annotations and results of
 * categories not in the file's list are skipped (as pycocotools does); a
 * result for an image not in the annotations file is an error (pycocotools
 * asserts). *names (if not NULL) receives nc malloc'd category names (free
 * with coco_names_free). Errors name the file and the element at fault. */
status coco_load(eval_set *s, const char *gt_path, const char *dt_path, char ***names);
void coco_names_free(char **names, int nc);

#endif
