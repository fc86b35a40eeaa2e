/* The built-in synthetic detection dataset: `data=synth` or
 * `data=synth:classes=3,images=512,val=128,test=0,imgsz=320,seed=0[,plain=1]`.
 *
 * Each image is a pure function of (seed, split, index): a textured
 * background (flat, gradient or stripes, plus noise) with 0-8 shapes, one
 * class per kind of shape (rectangle, ellipse, triangle, cross, ring, star,
 * hexagon, arrow; the first `classes` kinds are used), filled, filled with an
 * outline, or hollow, sized from 8 px to 60 % of the image, with random
 * colours kept in contrast with the background. Shapes may overlap, but a
 * new shape never covers more than a quarter of an earlier one's box, so
 * every box stays mostly visible. Boxes are exact: computed from the
 * geometry (vertices, ellipse radii, plus half the stroke width with round
 * joins), not from the pixels. Images are rendered with cairo on demand;
 * rendering is thread-safe. */
#ifndef YOLOC_DATA_SYNTH_H
#define YOLOC_DATA_SYNTH_H

#include "core/status.h"
#include "data/dataset.h"
#include "io/image.h"

#include <stddef.h>
#include <stdint.h>

#define SYNTH_MAX_CLASSES 8
#define SYNTH_MAX_OBJECTS 8

typedef struct {
    int classes;   /* 1..8 (default 3) */
    size_t ntrain; /* `images` (default 512) */
    size_t nval;   /* `val` (default images/4, at least 1) */
    size_t ntest;  /* `test` (default 0) */
    int imgsz;     /* square images, 32..4096 (default 320) */
    uint64_t seed; /* default 0 */
    int plain;     /* `plain=1`: flat background, no noise (tests, inspection) */
} synth_params;

/* 1 when a data= value names the synthetic dataset ("synth" or "synth:..."). */
int synth_is_spec(const char *data);
/* Parses "synth" or "synth:k=v,k=v". YOLOC_ERR_INVALID naming the key. */
status synth_parse(const char *spec, synth_params *p);
/* Class name ("rectangle", ...) for 0 <= cls < SYNTH_MAX_CLASSES. */
const char *synth_class_name(int cls);
/* The boxes of image `index` of split (0 train, 1 val, 2 test) into out
 * (room for SYNTH_MAX_OBJECTS); returns how many. */
size_t synth_boxes(const synth_params *p, int split, size_t index, ds_box *out);
/* Renders image `index` of split (imgsz x imgsz RGB). */
status synth_render(const synth_params *p, int split, size_t index, image *img);

#endif
