/* YOLO-format datasets: data.yaml discovery, checked images and labels.
 *
 * dataset_open() reads a data.yaml (keys path, train, val, optional test,
 * names as a list or {id: name} map, optional nc), resolves each split to a
 * list of images (a folder, a .txt list of paths, or a list of those; a
 * relative `path` is relative to the yaml's folder; labels are found by
 * swapping the last /images/ for /labels/ and the extension for .txt) and
 * checks every image and label line once, caching the result next to the
 * labels (keyed by file sizes and mtimes, rebuilt when stale). Bad images and
 * label lines are skipped as Ultralytics does and each problem is recorded
 * with file and line. `data=synth[:k=v,...]` names the built-in synthetic
 * dataset instead of a file. */
#ifndef YOLOC_DATA_DATASET_H
#define YOLOC_DATA_DATASET_H

#include "core/status.h"
#include "io/image.h"

#include <stddef.h>

/* One object: class and normalised centre/size in [0, 1]. */
typedef struct {
    int cls;
    float cx, cy, w, h;
} ds_box;

/* One usable image of a split. */
typedef struct {
    const char *path;       /* image file ("" for synthetic images) */
    const char *label_path; /* its label file (may not exist: background) */
    int width, height;      /* original size in pixels, after EXIF orientation */
    size_t nboxes;
    const ds_box *boxes;    /* nboxes, after dropping bad lines */
} ds_image;

/* One problem found while checking. */
typedef struct {
    const char *file;  /* image or label file */
    int line;          /* 1-based label line, 0 for a whole file */
    const char *reason;
} ds_problem;

typedef struct {
    const char *name;    /* "train", "val", "test" */
    size_t nimages;      /* usable images */
    ds_image *images;
    size_t nbackgrounds; /* usable images without boxes */
    size_t ncorrupt;     /* images skipped */
    size_t nboxes;       /* boxes kept */
    size_t ndropped;     /* label lines dropped */
    size_t nproblems;
    ds_problem *problems;
    size_t ncache_hits;  /* images whose check result was read from the cache */
    const char *cache_path; /* the split's check cache file; NULL when not used */
} ds_split;

typedef struct {
    const char *yaml_path; /* NULL for synthetic */
    const char *root;      /* resolved `path` */
    int nc;
    const char **names;    /* nc class names */
    ds_split train, val, test; /* a split not given in the yaml has nimages 0 and name NULL */
    void *priv;
} dataset;

typedef struct dataset_options {
    int use_cache;  /* read/write the check cache next to the labels (default 1) */
    int quiet;      /* do not log each problem (they are still recorded) */
    /* Ultralytics' selection keys, applied in its order after the check:
     * the first round(train_fraction x images) training images (0 or 1: all),
     * then only the labels of `classes` (nclasses of them; 0: all), then
     * with single_cls every label becomes class 0 of one class, "item". */
    double train_fraction;
    const int *classes;
    int nclasses;
    int single_cls;
} dataset_options;

/* Opens a dataset (opt NULL: cache on, problems logged). Errors: a yaml that
 * cannot be read or parsed, a missing required key (train, val, names or
 * nc), names and nc that disagree, a split path that does not exist or holds
 * no image files (the message names the path and the yaml key and line).
 * A split whose image files are all corrupt opens with nimages 0; the
 * problems say why. Each split's summary is logged with log_info, each
 * problem with log_warn unless opt->quiet. The path rules and the cache are
 * described in dataset.c, cache.h and labels.h (label-line rules). */
status dataset_open(dataset *ds, const char *data, const dataset_options *opt);
void dataset_close(dataset *ds);
/* "train"/"val"/"test" -> the split, or NULL when it is not in the dataset. */
const ds_split *dataset_split(const dataset *ds, const char *name);
/* The pixels of image i of a split: decodes the file, or renders the
 * synthetic image. Safe to call from several threads at once. */
status dataset_load_image(const dataset *ds, const ds_split *sp, size_t i, image *img);

#endif
