/* One image file of a split and the result of checking it (with its label
 * file). Shared by the dataset builder (dataset.c) and the check cache
 * (cache.c); not a public interface.
 *
 * The check of an entry is a pure function of the two files' contents and
 * the class count, which is what lets the cache key it by (size, mtime) of
 * both files. */
#ifndef YOLOC_DATA_CHECK_H
#define YOLOC_DATA_CHECK_H

#include "core/status.h"
#include "data/dataset.h"

#include <stdint.h>

/* Identity of a file for the cache: size and modification time. */
typedef struct {
    int64_t size;     /* -1 when the file does not exist */
    int64_t mtime_ns; /* 0 when the file does not exist */
} file_key;

typedef struct {
    int on_label; /* 1: about the label file, 0: about the image */
    int line;     /* 1-based label line; 0 for the whole file */
    char *reason; /* malloc'd */
} entry_problem;

typedef struct {
    char *path;       /* image file (malloc'd) */
    char *label_path; /* label file by the /images/ -> /labels/ rule (malloc'd) */
    file_key img, lbl;
    /* results of entry_check() (or of the cache) */
    int checked;   /* results below are valid */
    int usable;    /* image decodes and is at least 10x10 pixels */
    int w, h;      /* pixels after EXIF orientation (usable only) */
    ds_box *boxes; /* nboxes kept boxes (malloc'd) */
    size_t nboxes;
    size_t ndropped;      /* label lines dropped */
    entry_problem *probs; /* nprobs problems, in the order found (malloc'd) */
    size_t nprobs;
    int from_cache; /* results were read from the cache */
} ds_entry;

/* Smallest usable image side (Ultralytics refuses images under 10 pixels). */
#define CHECK_MIN_SIDE 10

/* Fills e->img and e->lbl from stat(). */
void entry_stat(ds_entry *e);
/* Decodes the image, parses the label file against nc classes and fills the
 * results. Thread-safe. Fails only with YOLOC_ERR_NOMEM: bad files become
 * problems. */
status entry_check(ds_entry *e, int nc);
/* Frees the results (not the paths) and marks the entry unchecked. */
void entry_clear_results(ds_entry *e);
/* Frees everything. */
void entry_free(ds_entry *e);
/* Appends a problem (reason copied). */
status entry_add_problem(ds_entry *e, int on_label, int line, const char *reason);

/* Label path of an image path: the last "/images/" becomes "/labels/" and
 * the extension ".txt" (Ultralytics img2label_paths). malloc'd or NULL. */
char *check_label_path(const char *image_path);
/* 1 for jpg/jpeg/png/bmp, 2 for image formats Ultralytics reads that yoloc
 * does not (webp, tif, tiff, dng, mpo, pfm, heic), 0 otherwise. Any case. */
int check_image_ext(const char *path);

#endif
