/* Training augmentation and validation letterboxing (Ultralytics v8 semantics).
 *
 * Implements, with the Ultralytics key names and defaults (RECIPE.md section 6):
 * load + resize so the long side is imgsz, LetterBox, rectangular batch shapes,
 * 4-image Mosaic, RandomPerspective (M = T.S.R.P.C, bilinear warp with 114
 * fill, box_candidates filtering), MixUp (ratio ~ Beta(32, 32)), CutMix,
 * RandomHSV (8-bit OpenCV HSV, LUTs, hue mod 180) and the two flips.
 * Leaves out: CopyPaste and segments/keypoints (detection only), 9-image
 * mosaic, Albumentations and `multi_scale`.
 *
 * Train pipeline of one sample (aug_train_sample), in this order:
 *   mosaic (p=mosaic) or load + letterbox(imgsz, scaleup) -> random perspective
 *   (border -imgsz/2 after mosaic, else 0) -> mixup (p) -> cutmix (p) -> HSV ->
 *   flipud (p) -> fliplr (p) -> bgr (p: red and blue swapped, as Ultralytics'
 *   Format feeds BGR with probability bgr; drawn only when bgr > 0).
 * The MixUp and CutMix partner goes through the same mosaic + perspective.
 * Validation (aug_val_sample): load + resize (area when shrinking) ->
 * letterbox to the square or rectangular batch shape (no scale-up).
 *
 * Determinism: every random choice is drawn from the rng the caller passes
 * (the loader seeds it from (seed, epoch, image index)); nothing here reads a
 * global RNG, and `threads` never changes a result (OpenMP over rows writes
 * disjoint rows).
 *
 * Coordinates: boxes are pixel xyxy in the sample's image; pixel (x, y) has
 * its centre at (x, y) for the warp (OpenCV convention) and covers
 * [x, x+1) for the flips, as in Ultralytics. */
#ifndef YOLOC_DATA_AUGMENT_H
#define YOLOC_DATA_AUGMENT_H

#include "core/rng.h"
#include "core/status.h"
#include "data/dataset.h"
#include "io/image.h"

#include <stddef.h>
#include <stdint.h>

#define AUG_PAD_VALUE 114 /* letterbox, mosaic canvas and warp fill (grey) */

/* Augmentation strengths; aug_params_default() gives the Ultralytics
 * defaults. Probabilities are in [0, 1]; hsv_* are gain amplitudes. */
typedef struct {
    int imgsz;            /* 640: output side of a training sample */
    float hsv_h;          /* 0.015 */
    float hsv_s;          /* 0.7 */
    float hsv_v;          /* 0.4 */
    float degrees;        /* 0: rotation U(-deg, deg) */
    float translate;      /* 0.1: T = U(0.5 - t, 0.5 + t) * size */
    float scale;          /* 0.5: U(1 - scale, 1 + scale) */
    float shear;          /* 0: degrees, U(-shear, shear) on each axis */
    float perspective;    /* 0: P[2][0], P[2][1] ~ U(-p, p) */
    float flipud;         /* 0 */
    float fliplr;         /* 0.5 */
    float mosaic;         /* 1.0 */
    float mixup;          /* 0 */
    float cutmix;         /* 0 */
    float bgr;            /* 0: probability of swapping the red and blue channels */
    float cutmix_beta;    /* 1.0: lambda ~ Beta(b, b), patch side = sqrt(1 - lambda) * side */
    float cutmix_visible; /* 0.1: a box is kept when >= this fraction of its area is visible */
    int threads;          /* OpenMP threads in warp/resize: 0 = OpenMP's default, 1 = serial */
} aug_params;

void aug_params_default(aug_params *p);
/* Checks ranges (imgsz a positive multiple of 32, probabilities in [0, 1],
 * non-negative strengths); the message names the key. */
status aug_params_check(const aug_params *p);

/* One object in pixel xyxy of a sample's image. */
typedef struct {
    int cls;
    float x1, y1, x2, y2;
} aug_box;

/* An image with its boxes. ratio/pad map the original image into this one
 * (x_here = x_orig * ratio_w + pad_w) for the letterbox path; they are 0 for
 * training samples (mosaic and the warp make them meaningless). */
typedef struct {
    image img;      /* owned (image_free) */
    aug_box *boxes; /* owned, nboxes (cap allocated) */
    size_t nboxes, cap;
    int orig_w, orig_h; /* size of the decoded original */
    float ratio_w, ratio_h, pad_w, pad_h;
} aug_sample;

void aug_sample_free(aug_sample *s);

/* Where images come from: n items (path, original size and normalised
 * boxes) and a thread-safe loader of the pixels of item i into *img (the
 * caller frees it). aug_source_from_split() wraps a dataset split; tests
 * build in-memory sources. ctx/ctx2 belong to the loader function. */
typedef struct aug_source aug_source;
struct aug_source {
    size_t n;
    const ds_image *items;
    status (*load)(const aug_source *src, size_t i, image *img);
    const void *ctx, *ctx2;
};
void aug_source_from_split(aug_source *src, const dataset *ds, const ds_split *sp);

/* ---- geometry -------------------------------------------------------- */

/* Resizes to w x h. area=0: bilinear (OpenCV INTER_LINEAR: half-pixel
 * centres, edge clamp). area=1: box-filter average over each output pixel's
 * footprint (OpenCV INTER_AREA) when shrinking both axes; it falls back to
 * bilinear otherwise. Errors: bad size, out of memory. */
status aug_resize(const image *in, int w, int h, int area, int threads, image *out);

/* Loads item i and resizes it so its long side is imgsz (Ultralytics
 * load_image: r = imgsz / max(w0, h0); w = min(ceil(w0 r), imgsz); bilinear
 * when augment or r > 1, area otherwise). Boxes become pixel xyxy of the
 * resized image; ratio = resized / original, pad 0. Errors from the source
 * are prefixed with the item's path. */
status aug_load_resized(const aug_source *src, size_t i, int imgsz, int augment, int threads,
                        aug_sample *out);

/* LetterBox numbers for a w x h image into new_w x new_h (Ultralytics
 * LetterBox with auto=False): r = min(new_h/h, new_w/w), capped at 1 unless
 * scaleup; unpadded size = round(w r), round(h r) (half to even); the padding
 * dw, dh is split as left = round(dw/2 - 0.1), right = round(dw/2 + 0.1)
 * when centred, else all of it right/bottom. */
typedef struct {
    double r;
    int unpad_w, unpad_h;
    int left, top, right, bottom;
} aug_letterbox_geom;
void aug_letterbox_compute(int w, int h, int new_w, int new_h, int scaleup, int center,
                           aug_letterbox_geom *g);
/* Letterboxes a sample in place to new_w x new_h (bilinear resize when the
 * size changes, 114 padding, centred): boxes x -> x r + left; ratio *= r,
 * pad = (left, top). */
status aug_letterbox(aug_sample *s, int new_w, int new_h, int scaleup, int threads);

/* Rectangular batches (Ultralytics set_rectangle): order[0..n) = the items
 * sorted by aspect ratio h/w (stable, so ties keep dataset order). */
status aug_rect_order(const ds_image *items, size_t n, uint32_t *order);
/* Shape of one batch holding items idx[0..n): with a = h/w of each item,
 * shape = [max a, 1] when all a < 1, [1, 1/min a] when all a > 1, else
 * [1, 1]; out = ceil(shape * imgsz / stride + pad) * stride (pad 0.5 for
 * validation). */
void aug_rect_shape(const ds_image *items, const uint32_t *idx, size_t n, int imgsz, int stride,
                    double pad, int *out_h, int *out_w);

/* Bilinear warp of in by the 3x3 row-major matrix M (source -> destination;
 * each destination pixel samples M^-1 (x, y, 1), divided by z when
 * perspective), out_w x out_h, with neighbours outside the source taking
 * the value 114 (OpenCV BORDER_CONSTANT). Errors: singular M, no memory. */
status aug_warp(const image *in, const double M[9], int perspective, int out_w, int out_h,
                int threads, image *out);

/* Ultralytics box_candidates: w2, h2 > 2 px, w2 h2 / (w1 h1) > area_thr
 * (0.1), aspect max(w2/h2, h2/w2) < 100. (w1, h1) is the box before the
 * warp times the random scale, (w2, h2) after the warp and clipping. */
int aug_box_candidate(double w1, double h1, double w2, double h2, double area_thr);

/* Draws M = T.S.R.P.C for an in_w x in_h input and out_w x out_h output, in
 * Ultralytics' draw order (perspective x, y; angle; scale; shear x, y;
 * translate x, y); *scale gets the drawn scale. */
void aug_affine_draw(const aug_params *p, int in_w, int in_h, int out_w, int out_h, rng *r,
                     double M[9], double *scale);
/* Applies M to the sample: image warped to out_w x out_h (skipped when M is
 * the identity and the size is unchanged), each box's 4 corners mapped and
 * re-boxed, clipped to the output, and filtered with box_candidates. */
status aug_apply_affine(aug_sample *s, const double M[9], double scale, int perspective, int out_w,
                        int out_h, int threads);
/* RandomPerspective: draws M and applies it; border < 0 crops (after mosaic:
 * -imgsz/2, giving an imgsz x imgsz output from a 2 imgsz canvas). */
status aug_random_perspective(aug_sample *s, const aug_params *p, int border, rng *r);

/* ---- mixing ---------------------------------------------------------- */

/* 4-image mosaic of item idx plus 3 items drawn uniformly from the source,
 * on a 2s x 2s canvas (s = imgsz, 114 fill) meeting at a centre
 * U(s/2, 3s/2); boxes shifted, clipped to the canvas, zero-area ones dropped. */
status aug_mosaic4(const aug_source *src, size_t idx, int imgsz, rng *r, int threads,
                   aug_sample *out);
/* MixUp: a = trunc(a ratio + b (1 - ratio)) pixel-wise, boxes of b
 * appended. The images must have the same size. */
status aug_mixup(aug_sample *a, const aug_sample *b, double ratio);
/* CutMix with a given rectangle [x1, x2) x [y1, y2) (clipped to the image):
 * the pixels of b inside it replace those of a. A box of a loses the area
 * the patch covers: it is dropped when the visible fraction of its area is
 * below min_visible, otherwise it becomes the bounding box of its visible
 * part (clipped on a side the patch covers across the box's full extent,
 * unchanged when the patch only covers a corner or the middle). A box of b
 * is cut to the patch and kept when that keeps >= min_visible of its area.
 * (Ultralytics instead only pastes rectangles that overlap no box of a, and
 * keeps b's boxes with IoA >= 0.1: the same threshold as the default here.)
 * The images must have the same size. */
status aug_cutmix(aug_sample *a, const aug_sample *b, int x1, int y1, int x2, int y2,
                  float min_visible);

/* ---- colour and flips ------------------------------------------------ */

/* RandomHSV with given gains (1 = unchanged): OpenCV 8-bit RGB->HSV (H in
 * [0, 180)), LUTs hue = trunc((x gh) mod 180), sat/val = trunc(clip(x g, 0,
 * 255)), back to RGB. */
void aug_hsv(image *img, double gh, double gs, double gv, int threads);
void aug_flip_lr(aug_sample *s);
void aug_flip_ud(aug_sample *s);

/* ---- pipelines ------------------------------------------------------- */

/* One training sample of item idx: the pipeline described at the top, all
 * draws from r. Output imgsz x imgsz. */
status aug_train_sample(const aug_source *src, size_t idx, const aug_params *p, rng *r,
                        aug_sample *out);
/* One validation sample: load (long side imgsz, no augmentation) and
 * letterbox to out_w x out_h without scale-up; ratio/pad describe the map
 * from the original image. */
status aug_val_sample(const aug_source *src, size_t idx, int imgsz, int out_w, int out_h,
                      int threads, aug_sample *out);

#endif
