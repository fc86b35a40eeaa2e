/* Augmentation: resize, letterbox, mosaic, random perspective, mixup, cutmix,
 * HSV and flips (see augment.h for the pipeline and its conventions).
 *
 * Images are 8-bit RGB HWC. Every function that allocates checks the
 * allocation and returns YOLOC_ERR_NOMEM with a message; nothing here aborts
 * on input. Parallel loops (OpenMP over output rows, `threads` of them) write
 * disjoint rows, so results never depend on the thread count. */
#include "data/augment.h"

#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <stdlib.h>
#include <string.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

void aug_params_default(aug_params *p) {
    memset(p, 0, sizeof *p);
    p->imgsz = 640;
    p->hsv_h = 0.015f;
    p->hsv_s = 0.7f;
    p->hsv_v = 0.4f;
    p->degrees = 0.0f;
    p->translate = 0.1f;
    p->scale = 0.5f;
    p->shear = 0.0f;
    p->perspective = 0.0f;
    p->flipud = 0.0f;
    p->fliplr = 0.5f;
    p->mosaic = 1.0f;
    p->mixup = 0.0f;
    p->cutmix = 0.0f;
    p->cutmix_beta = 1.0f;
    p->cutmix_visible = 0.1f;
    p->threads = 0;
}

static status check_range(const char *key, double v, double lo, double hi) {
    if (!(v >= lo && v <= hi))
        return err_set(YOLOC_ERR_INVALID,
                       "augmentation key '%s': expected a value in [%g, %g], got %g", key, lo, hi,
                       v);
    return YOLOC_OK;
}

status aug_params_check(const aug_params *p) {
    if (p->imgsz < 32 || p->imgsz > 8192 || p->imgsz % 32 != 0)
        return err_set(YOLOC_ERR_INVALID,
                       "augmentation key 'imgsz': expected a multiple of 32 in [32, 8192], got %d",
                       p->imgsz);
    TRY(check_range("hsv_h", p->hsv_h, 0, 1));
    TRY(check_range("hsv_s", p->hsv_s, 0, 1));
    TRY(check_range("hsv_v", p->hsv_v, 0, 1));
    TRY(check_range("degrees", p->degrees, 0, 180));
    TRY(check_range("translate", p->translate, 0, 1));
    TRY(check_range("scale", p->scale, 0, 1)); /* scale 1 allows a zero gain: boxes then vanish */
    TRY(check_range("shear", p->shear, 0, 89));
    TRY(check_range("perspective", p->perspective, 0, 0.001));
    TRY(check_range("flipud", p->flipud, 0, 1));
    TRY(check_range("fliplr", p->fliplr, 0, 1));
    TRY(check_range("bgr", p->bgr, 0, 1));
    TRY(check_range("mosaic", p->mosaic, 0, 1));
    TRY(check_range("mixup", p->mixup, 0, 1));
    TRY(check_range("cutmix", p->cutmix, 0, 1));
    /* rng_beta needs both parameters >= 1 */
    TRY(check_range("cutmix_beta", p->cutmix_beta, 1, 1000));
    TRY(check_range("cutmix_visible", p->cutmix_visible, 0, 1));
    if (p->threads < 0) return err_set(YOLOC_ERR_INVALID, "augmentation threads must be >= 0");
    return YOLOC_OK;
}

/* ---- small helpers ---------------------------------------------------- */

/* OpenMP thread count for a parallel loop: 0 means the runtime's default.
 * Loops use `if (threads != 1)` so that a serial caller (a loader worker)
 * never enters the OpenMP runtime. */
#define OMP_THREADS(t) ((t) > 0 ? (t) : omp_default_threads())

#ifdef _OPENMP
static int omp_default_threads(void) {
    return omp_get_max_threads();
}
#else
static int omp_default_threads(void) {
    return 1;
}
#endif

static status img_alloc(image *img, int w, int h) {
    img->w = w;
    img->h = h;
    img->data = NULL;
    if (w <= 0 || h <= 0 || (size_t)w * (size_t)h > ((size_t)1 << 28))
        return err_set(YOLOC_ERR_INVALID, "image size %dx%d out of range", w, h);
    img->data = malloc((size_t)w * (size_t)h * 3);
    if (!img->data) return err_set(YOLOC_ERR_NOMEM, "out of memory for a %dx%d image", w, h);
    return YOLOC_OK;
}

static void img_release(image *img) {
    free(img->data);
    img->data = NULL;
    img->w = img->h = 0;
}

static status img_fill(image *img, int w, int h, uint8_t v) {
    TRY(img_alloc(img, w, h));
    memset(img->data, v, (size_t)w * (size_t)h * 3);
    return YOLOC_OK;
}

static status boxes_reserve(aug_sample *s, size_t n) {
    if (n <= s->cap) return YOLOC_OK;
    size_t cap = s->cap ? s->cap : 8;
    while (cap < n) cap *= 2;
    aug_box *b = realloc(s->boxes, cap * sizeof *b);
    if (!b) return err_set(YOLOC_ERR_NOMEM, "out of memory for %zu boxes", n);
    s->boxes = b;
    s->cap = cap;
    return YOLOC_OK;
}

void aug_sample_free(aug_sample *s) {
    if (!s) return;
    img_release(&s->img);
    free(s->boxes);
    memset(s, 0, sizeof *s);
}

static inline uint8_t sat_u8(double v) {
    if (!(v > 0)) return 0;
    if (v >= 255) return 255;
    return (uint8_t)(v + 0.5);
}

static status split_load(const aug_source *src, size_t i, image *img) {
    return dataset_load_image((const dataset *)src->ctx, (const ds_split *)src->ctx2, i, img);
}

void aug_source_from_split(aug_source *src, const dataset *ds, const ds_split *sp) {
    memset(src, 0, sizeof *src);
    src->n = sp->nimages;
    src->items = sp->images;
    src->load = split_load;
    src->ctx = ds;
    src->ctx2 = sp;
}

/* ---- resize ----------------------------------------------------------- */

/* One axis of a bilinear resize: for each output index, the two source
 * indices and the weight of the second (OpenCV INTER_LINEAR rules). */
static void linear_taps(int src_n, int dst_n, int *i0, int *i1, float *a) {
    double scale = (double)src_n / dst_n;
    for (int d = 0; d < dst_n; d++) {
        double f = (d + 0.5) * scale - 0.5;
        int k = (int)floor(f);
        double w = f - k;
        if (k < 0) {
            k = 0;
            w = 0;
        }
        if (k >= src_n - 1) {
            k = src_n - 1;
            w = 0;
        }
        i0[d] = k;
        i1[d] = k + 1 < src_n ? k + 1 : k;
        a[d] = (float)w;
    }
}

static status resize_bilinear(const image *in, int w, int h, int threads, image *out) {
    status st = YOLOC_OK;
    int *xi = malloc((size_t)w * 2 * sizeof(int)), *yi = malloc((size_t)h * 2 * sizeof(int));
    float *xa = malloc((size_t)w * sizeof(float)), *ya = malloc((size_t)h * sizeof(float));
    if (!xi || !yi || !xa || !ya) {
        st = err_set(YOLOC_ERR_NOMEM, "out of memory resizing to %dx%d", w, h);
        goto fail;
    }
    TRY_GOTO(st, img_alloc(out, w, h));
    linear_taps(in->w, w, xi, xi + w, xa);
    linear_taps(in->h, h, yi, yi + h, ya);
    const uint8_t *src = in->data;
    const size_t stride = (size_t)in->w * 3;
#pragma omp parallel for if (threads != 1) num_threads(OMP_THREADS(threads)) schedule(static)
    for (int y = 0; y < h; y++) {
        const uint8_t *r0 = src + (size_t)yi[y] * stride, *r1 = src + (size_t)yi[h + y] * stride;
        float b = ya[y];
        uint8_t *o = out->data + (size_t)y * w * 3;
        for (int x = 0; x < w; x++) {
            int x0 = xi[x] * 3, x1 = xi[w + x] * 3;
            float a = xa[x];
            for (int c = 0; c < 3; c++) {
                float top = r0[x0 + c] + a * (r0[x1 + c] - r0[x0 + c]);
                float bot = r1[x0 + c] + a * (r1[x1 + c] - r1[x0 + c]);
                float v = top + b * (bot - top);
                o[x * 3 + c] = (uint8_t)(v + 0.5f);
            }
        }
    }
fail:
    free(xi);
    free(yi);
    free(xa);
    free(ya);
    return st;
}

/* One axis of an area resize: output d averages the source interval
 * [d s, (d+1) s) with s = src/dst >= 1; taps are (index, weight) pairs,
 * first[d]..first[d+1] index them. Weights sum to 1. */
static status area_taps(int src_n, int dst_n, int **first, int **idx, float **wt) {
    double s = (double)src_n / dst_n;
    size_t cap = (size_t)dst_n * ((size_t)ceil(s) + 2);
    *first = malloc(((size_t)dst_n + 1) * sizeof(int));
    *idx = malloc(cap * sizeof(int));
    *wt = malloc(cap * sizeof(float));
    if (!*first || !*idx || !*wt) return err_set(YOLOC_ERR_NOMEM, "out of memory for area resize");
    size_t n = 0;
    for (int d = 0; d < dst_n; d++) {
        double a = d * s, b = (d + 1) * s;
        if (b > src_n) b = src_n;
        (*first)[d] = (int)n;
        for (int k = (int)floor(a); k < src_n && k < b; k++) {
            double lo = k > a ? k : a, hi = k + 1 < b ? k + 1 : b;
            if (hi - lo <= 1e-12) continue;
            YOLOC_ASSERT(n < cap);
            (*idx)[n] = k;
            (*wt)[n] = (float)((hi - lo) / s);
            n++;
        }
    }
    (*first)[dst_n] = (int)n;
    return YOLOC_OK;
}

static status resize_area(const image *in, int w, int h, int threads, image *out) {
    status st = YOLOC_OK;
    int *xf = NULL, *xk = NULL, *yf = NULL, *yk = NULL;
    float *xw = NULL, *yw = NULL, *tmp = NULL;
    TRY_GOTO(st, area_taps(in->w, w, &xf, &xk, &xw));
    TRY_GOTO(st, area_taps(in->h, h, &yf, &yk, &yw));
    /* horizontal pass: every source row -> w outputs (float), then vertical */
    tmp = malloc((size_t)in->h * w * 3 * sizeof(float));
    if (!tmp) {
        st = err_set(YOLOC_ERR_NOMEM, "out of memory for area resize");
        goto fail;
    }
    TRY_GOTO(st, img_alloc(out, w, h));
#pragma omp parallel for if (threads != 1) num_threads(OMP_THREADS(threads)) schedule(static)
    for (int y = 0; y < in->h; y++) {
        const uint8_t *r = in->data + (size_t)y * in->w * 3;
        float *t = tmp + (size_t)y * w * 3;
        for (int x = 0; x < w; x++) {
            float acc[3] = {0, 0, 0};
            for (int j = xf[x]; j < xf[x + 1]; j++) {
                const uint8_t *p = r + (size_t)xk[j] * 3;
                acc[0] += xw[j] * p[0];
                acc[1] += xw[j] * p[1];
                acc[2] += xw[j] * p[2];
            }
            t[x * 3] = acc[0];
            t[x * 3 + 1] = acc[1];
            t[x * 3 + 2] = acc[2];
        }
    }
#pragma omp parallel for if (threads != 1) num_threads(OMP_THREADS(threads)) schedule(static)
    for (int y = 0; y < h; y++) {
        uint8_t *o = out->data + (size_t)y * w * 3;
        for (int x = 0; x < w * 3; x++) {
            float acc = 0;
            for (int j = yf[y]; j < yf[y + 1]; j++) acc += yw[j] * tmp[(size_t)yk[j] * w * 3 + x];
            o[x] = sat_u8(acc);
        }
    }
fail:
    free(xf);
    free(xk);
    free(xw);
    free(yf);
    free(yk);
    free(yw);
    free(tmp);
    return st;
}

status aug_resize(const image *in, int w, int h, int area, int threads, image *out) {
    out->data = NULL;
    out->w = out->h = 0;
    if (!in->data || in->w <= 0 || in->h <= 0)
        return err_set(YOLOC_ERR_INVALID, "resize: empty input image");
    if (w <= 0 || h <= 0) return err_set(YOLOC_ERR_INVALID, "resize: bad output size %dx%d", w, h);
    if (w == in->w && h == in->h) {
        TRY(img_alloc(out, w, h));
        memcpy(out->data, in->data, (size_t)w * h * 3);
        return YOLOC_OK;
    }
    if (area && w <= in->w && h <= in->h) return resize_area(in, w, h, threads, out);
    return resize_bilinear(in, w, h, threads, out);
}

/* ---- load + letterbox -------------------------------------------------- */

status aug_load_resized(const aug_source *src, size_t i, int imgsz, int augment, int threads,
                        aug_sample *out) {
    memset(out, 0, sizeof *out);
    if (i >= src->n)
        return err_set(YOLOC_ERR_INVALID, "image index %zu out of range (%zu)", i, src->n);
    const ds_image *it = &src->items[i];
    image im = {0};
    status st = src->load(src, i, &im);
    if (st < 0) {
        /* make sure the message names the file */
        const char *msg = yoloc_last_error();
        if (it->path && it->path[0] && !strstr(msg, it->path))
            err_prefix(st, "loading '%s'", it->path);
        return st;
    }
    if (!im.data || im.w <= 0 || im.h <= 0) {
        image_free(&im);
        return err_set(YOLOC_ERR_INTERNAL, "loading '%s': the source returned an empty image",
                       it->path ? it->path : "");
    }
    const int w0 = im.w, h0 = im.h;
    double r = (double)imgsz / (w0 > h0 ? w0 : h0);
    out->orig_w = w0;
    out->orig_h = h0;
    if (r != 1.0) {
        int w = (int)ceil(w0 * r), h = (int)ceil(h0 * r);
        if (w > imgsz) w = imgsz;
        if (h > imgsz) h = imgsz;
        if (w < 1) w = 1;
        if (h < 1) h = 1;
        image rs;
        st = aug_resize(&im, w, h, 0, threads, &rs);
        image_free(&im);
        if (st < 0) return st;
        im = rs;
    }
    out->img = im;
    out->ratio_w = (float)im.w / w0;
    out->ratio_h = (float)im.h / h0;
    st = boxes_reserve(out, it->nboxes);
    if (st < 0) {
        aug_sample_free(out);
        return st;
    }
    for (size_t k = 0; k < it->nboxes; k++) {
        const ds_box *b = &it->boxes[k];
        aug_box *o = &out->boxes[k];
        o->cls = b->cls;
        o->x1 = (b->cx - b->w * 0.5f) * im.w;
        o->x2 = (b->cx + b->w * 0.5f) * im.w;
        o->y1 = (b->cy - b->h * 0.5f) * im.h;
        o->y2 = (b->cy + b->h * 0.5f) * im.h;
    }
    out->nboxes = it->nboxes;
    return YOLOC_OK;
}

void aug_letterbox_compute(int w, int h, int new_w, int new_h, int scaleup, int center,
                           aug_letterbox_geom *g) {
    double r = fmin((double)new_h / h, (double)new_w / w);
    if (!scaleup) r = fmin(r, 1.0);
    g->r = r;
    /* Python round(): half to even, which nearbyint gives in the default mode */
    g->unpad_w = (int)nearbyint(w * r);
    g->unpad_h = (int)nearbyint(h * r);
    double dw = new_w - g->unpad_w, dh = new_h - g->unpad_h;
    if (center) {
        dw /= 2;
        dh /= 2;
        g->left = (int)nearbyint(dw - 0.1);
        g->top = (int)nearbyint(dh - 0.1);
    } else {
        g->left = g->top = 0;
    }
    g->right = (int)nearbyint(dw + 0.1);
    g->bottom = (int)nearbyint(dh + 0.1);
}

status aug_letterbox(aug_sample *s, int new_w, int new_h, int scaleup, int threads) {
    if (new_w <= 0 || new_h <= 0)
        return err_set(YOLOC_ERR_INVALID, "letterbox: bad shape %dx%d", new_w, new_h);
    aug_letterbox_geom g;
    aug_letterbox_compute(s->img.w, s->img.h, new_w, new_h, scaleup, 1, &g);
    YOLOC_ASSERT(g.left + g.unpad_w + g.right == new_w && g.top + g.unpad_h + g.bottom == new_h);
    image rs = {0}, out;
    const image *body = &s->img;
    if (g.unpad_w != s->img.w || g.unpad_h != s->img.h) {
        TRY(aug_resize(&s->img, g.unpad_w, g.unpad_h, 0, threads, &rs));
        body = &rs;
    }
    status st = img_fill(&out, new_w, new_h, AUG_PAD_VALUE);
    if (st < 0) {
        img_release(&rs);
        return st;
    }
    for (int y = 0; y < body->h; y++)
        memcpy(out.data + ((size_t)(y + g.top) * new_w + g.left) * 3,
               body->data + (size_t)y * body->w * 3, (size_t)body->w * 3);
    img_release(&rs);
    img_release(&s->img);
    s->img = out;
    const float r = (float)g.r;
    for (size_t k = 0; k < s->nboxes; k++) {
        aug_box *b = &s->boxes[k];
        b->x1 = b->x1 * r + g.left;
        b->x2 = b->x2 * r + g.left;
        b->y1 = b->y1 * r + g.top;
        b->y2 = b->y2 * r + g.top;
    }
    s->ratio_w *= r;
    s->ratio_h *= r;
    s->pad_w = s->pad_w * r + g.left;
    s->pad_h = s->pad_h * r + g.top;
    return YOLOC_OK;
}

typedef struct {
    double ar;
    uint32_t i;
} ar_key;

static int cmp_ar(const void *pa, const void *pb) {
    const ar_key *a = pa, *b = pb;
    if (a->ar < b->ar) return -1;
    if (a->ar > b->ar) return 1;
    return (a->i > b->i) - (a->i < b->i);
}

status aug_rect_order(const ds_image *items, size_t n, uint32_t *order) {
    if (n == 0) return YOLOC_OK;
    ar_key *k = malloc(n * sizeof *k);
    if (!k) return err_set(YOLOC_ERR_NOMEM, "out of memory sorting %zu images by aspect ratio", n);
    for (size_t i = 0; i < n; i++) {
        k[i].ar = items[i].width > 0 ? (double)items[i].height / items[i].width : 1.0;
        k[i].i = (uint32_t)i;
    }
    qsort(k, n, sizeof *k, cmp_ar);
    for (size_t i = 0; i < n; i++) order[i] = k[i].i;
    free(k);
    return YOLOC_OK;
}

void aug_rect_shape(const ds_image *items, const uint32_t *idx, size_t n, int imgsz, int stride,
                    double pad, int *out_h, int *out_w) {
    double mini = INFINITY, maxi = -INFINITY;
    for (size_t k = 0; k < n; k++) {
        const ds_image *it = &items[idx[k]];
        double a = it->width > 0 ? (double)it->height / it->width : 1.0;
        if (a < mini) mini = a;
        if (a > maxi) maxi = a;
    }
    double sh = 1, sw = 1;
    if (n > 0 && maxi < 1)
        sh = maxi;
    else if (n > 0 && mini > 1)
        sw = 1 / mini;
    *out_h = (int)ceil(sh * imgsz / stride + pad) * stride;
    *out_w = (int)ceil(sw * imgsz / stride + pad) * stride;
}

/* ---- warp ------------------------------------------------------------- */

static int mat3_inverse(const double m[9], double inv[9]) {
    double c00 = m[4] * m[8] - m[5] * m[7], c01 = m[5] * m[6] - m[3] * m[8],
           c02 = m[3] * m[7] - m[4] * m[6];
    double det = m[0] * c00 + m[1] * c01 + m[2] * c02;
    if (!(fabs(det) > 1e-12) || !isfinite(det)) return -1;
    double id = 1.0 / det;
    inv[0] = c00 * id;
    inv[1] = (m[2] * m[7] - m[1] * m[8]) * id;
    inv[2] = (m[1] * m[5] - m[2] * m[4]) * id;
    inv[3] = c01 * id;
    inv[4] = (m[0] * m[8] - m[2] * m[6]) * id;
    inv[5] = (m[2] * m[3] - m[0] * m[5]) * id;
    inv[6] = c02 * id;
    inv[7] = (m[1] * m[6] - m[0] * m[7]) * id;
    inv[8] = (m[0] * m[4] - m[1] * m[3]) * id;
    return 0;
}

static void mat3_mul(const double a[9], const double b[9], double out[9]) {
    double t[9];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            t[i * 3 + j] = a[i * 3] * b[j] + a[i * 3 + 1] * b[3 + j] + a[i * 3 + 2] * b[6 + j];
    memcpy(out, t, sizeof t);
}

status aug_warp(const image *in, const double M[9], int perspective, int out_w, int out_h,
                int threads, image *out) {
    out->data = NULL;
    double inv[9];
    if (mat3_inverse(M, inv) < 0)
        return err_set(YOLOC_ERR_INVALID, "warp: the transformation matrix is singular");
    TRY(img_alloc(out, out_w, out_h));
    const int W = in->w, H = in->h;
    const uint8_t *src = in->data;
#pragma omp parallel for if (threads != 1) num_threads(OMP_THREADS(threads)) schedule(static)
    for (int y = 0; y < out_h; y++) {
        uint8_t *o = out->data + (size_t)y * out_w * 3;
        /* the row's part of M^-1 (x, y, 1), hoisted out of the x loop */
        const double rx = inv[1] * y + inv[2], ry = inv[4] * y + inv[5], rz = inv[7] * y + inv[8];
        for (int x = 0; x < out_w; x++) {
            double sx = inv[0] * x + rx;
            double sy = inv[3] * x + ry;
            if (perspective) {
                double z = inv[6] * x + rz;
                if (z == 0) {
                    sx = sy = -10; /* maps to nothing: fill */
                } else {
                    sx /= z;
                    sy /= z;
                }
            }
            uint8_t *px = o + (size_t)x * 3;
            if (!(sx > -1.0 && sx < W && sy > -1.0 && sy < H)) {
                px[0] = px[1] = px[2] = AUG_PAD_VALUE;
                continue;
            }
            int x0 = (int)(sx + 1.0) - 1, y0 = (int)(sy + 1.0) - 1; /* floor: sx, sy > -1 */
            float fx = (float)(sx - x0), fy = (float)(sy - y0);
            float w00 = (1 - fx) * (1 - fy), w01 = fx * (1 - fy), w10 = (1 - fx) * fy,
                  w11 = fx * fy;
            if (x0 >= 0 && y0 >= 0 && x0 + 1 < W && y0 + 1 < H) {
                const uint8_t *p0 = src + ((size_t)y0 * W + x0) * 3, *p1 = p0 + (size_t)W * 3;
                for (int c = 0; c < 3; c++) {
                    float v = w00 * p0[c] + w01 * p0[3 + c] + w10 * p1[c] + w11 * p1[3 + c];
                    px[c] = (uint8_t)(v + 0.5f);
                }
            } else {
                /* at the edge: missing neighbours are the constant border */
                for (int c = 0; c < 3; c++) {
                    float v = 0;
                    for (int k = 0; k < 4; k++) {
                        int xx = x0 + (k & 1), yy = y0 + (k >> 1);
                        float wk = k == 0 ? w00 : k == 1 ? w01 : k == 2 ? w10 : w11;
                        int inside = xx >= 0 && yy >= 0 && xx < W && yy < H;
                        v += wk * (inside ? src[((size_t)yy * W + xx) * 3 + c] : AUG_PAD_VALUE);
                    }
                    px[c] = sat_u8(v);
                }
            }
        }
    }
    return YOLOC_OK;
}

int aug_box_candidate(double w1, double h1, double w2, double h2, double area_thr) {
    const double eps = 1e-16;
    double ar = fmax(w2 / (h2 + eps), h2 / (w2 + eps));
    return w2 > 2 && h2 > 2 && w2 * h2 / (w1 * h1 + eps) > area_thr && ar < 100;
}

void aug_affine_draw(const aug_params *p, int in_w, int in_h, int out_w, int out_h, rng *r,
                     double M[9], double *scale) {
    double C[9] = {1, 0, -in_w / 2.0, 0, 1, -in_h / 2.0, 0, 0, 1};
    double P[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    P[6] = rng_range(r, -p->perspective, p->perspective);
    P[7] = rng_range(r, -p->perspective, p->perspective);
    double a = rng_range(r, -p->degrees, p->degrees) * M_PI / 180.0;
    double s = rng_range(r, 1 - p->scale, 1 + p->scale);
    /* OpenCV getRotationMatrix2D(centre 0, angle, scale) */
    double R[9] = {s * cos(a), s * sin(a), 0, -s * sin(a), s * cos(a), 0, 0, 0, 1};
    double S[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    S[1] = tan(rng_range(r, -p->shear, p->shear) * M_PI / 180.0);
    S[3] = tan(rng_range(r, -p->shear, p->shear) * M_PI / 180.0);
    double T[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    T[2] = rng_range(r, 0.5 - p->translate, 0.5 + p->translate) * out_w;
    T[5] = rng_range(r, 0.5 - p->translate, 0.5 + p->translate) * out_h;
    /* M = T S R P C: C first (centre at the origin), T last */
    mat3_mul(P, C, M);
    mat3_mul(R, M, M);
    mat3_mul(S, M, M);
    mat3_mul(T, M, M);
    *scale = s;
}

status aug_apply_affine(aug_sample *s, const double M[9], double scale, int perspective, int out_w,
                        int out_h, int threads) {
    static const double I[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    int identity = out_w == s->img.w && out_h == s->img.h && memcmp(M, I, sizeof I) == 0;
    if (!identity) {
        image o;
        TRY(aug_warp(&s->img, M, perspective, out_w, out_h, threads, &o));
        img_release(&s->img);
        s->img = o;
    }
    size_t kept = 0;
    for (size_t k = 0; k < s->nboxes; k++) {
        const aug_box b = s->boxes[k];
        const double cx[4] = {b.x1, b.x2, b.x1, b.x2}, cy[4] = {b.y1, b.y2, b.y2, b.y1};
        double x1 = INFINITY, y1 = INFINITY, x2 = -INFINITY, y2 = -INFINITY;
        for (int c = 0; c < 4; c++) {
            double X = M[0] * cx[c] + M[1] * cy[c] + M[2];
            double Y = M[3] * cx[c] + M[4] * cy[c] + M[5];
            if (perspective) {
                double Z = M[6] * cx[c] + M[7] * cy[c] + M[8];
                X /= Z;
                Y /= Z;
            }
            x1 = fmin(x1, X);
            x2 = fmax(x2, X);
            y1 = fmin(y1, Y);
            y2 = fmax(y2, Y);
        }
        x1 = fmin(fmax(x1, 0), out_w);
        x2 = fmin(fmax(x2, 0), out_w);
        y1 = fmin(fmax(y1, 0), out_h);
        y2 = fmin(fmax(y2, 0), out_h);
        if (!isfinite(x1 + x2 + y1 + y2)) continue;
        double w1 = ((double)b.x2 - b.x1) * scale, h1 = ((double)b.y2 - b.y1) * scale;
        if (!aug_box_candidate(w1, h1, x2 - x1, y2 - y1, 0.10)) continue;
        s->boxes[kept++] = (aug_box){b.cls, (float)x1, (float)y1, (float)x2, (float)y2};
    }
    s->nboxes = kept;
    return YOLOC_OK;
}

status aug_random_perspective(aug_sample *s, const aug_params *p, int border, rng *r) {
    int out_w = s->img.w + 2 * border, out_h = s->img.h + 2 * border;
    if (out_w <= 0 || out_h <= 0)
        return err_set(YOLOC_ERR_INVALID, "random perspective: border %d leaves no image", border);
    double M[9], scale;
    aug_affine_draw(p, s->img.w, s->img.h, out_w, out_h, r, M, &scale);
    return aug_apply_affine(s, M, scale, p->perspective != 0, out_w, out_h, p->threads);
}

/* ---- mosaic, mixup, cutmix -------------------------------------------- */

static inline int imin(int a, int b) {
    return a < b ? a : b;
}
static inline int imax(int a, int b) {
    return a > b ? a : b;
}

status aug_mosaic4(const aug_source *src, size_t idx, int imgsz, rng *r, int threads,
                   aug_sample *out) {
    memset(out, 0, sizeof *out);
    if (src->n == 0) return err_set(YOLOC_ERR_INVALID, "mosaic: empty image source");
    const int s = imgsz;
    /* centre U(s/2, 3s/2), y first as in Ultralytics */
    int yc = (int)rng_range(r, s / 2, 2 * s - s / 2);
    int xc = (int)rng_range(r, s / 2, 2 * s - s / 2);
    size_t ids[4] = {idx, 0, 0, 0};
    for (int k = 1; k < 4; k++) ids[k] = rng_below(r, (uint32_t)src->n);
    status st = img_fill(&out->img, 2 * s, 2 * s, AUG_PAD_VALUE);
    if (st < 0) return st;
    for (int k = 0; k < 4; k++) {
        aug_sample t;
        TRY_GOTO(st, aug_load_resized(src, ids[k], imgsz, 1, threads, &t));
        const int w = t.img.w, h = t.img.h;
        int x1a, y1a, x2a, y2a, x1b, y1b, x2b, y2b;
        if (k == 0) { /* top left: bottom-right corner at the centre */
            x1a = imax(xc - w, 0), y1a = imax(yc - h, 0), x2a = xc, y2a = yc;
            x1b = w - (x2a - x1a), y1b = h - (y2a - y1a), x2b = w, y2b = h;
        } else if (k == 1) { /* top right */
            x1a = xc, y1a = imax(yc - h, 0), x2a = imin(xc + w, 2 * s), y2a = yc;
            x1b = 0, y1b = h - (y2a - y1a), x2b = imin(w, x2a - x1a), y2b = h;
        } else if (k == 2) { /* bottom left */
            x1a = imax(xc - w, 0), y1a = yc, x2a = xc, y2a = imin(2 * s, yc + h);
            x1b = w - (x2a - x1a), y1b = 0, x2b = w, y2b = imin(y2a - y1a, h);
        } else { /* bottom right */
            x1a = xc, y1a = yc, x2a = imin(xc + w, 2 * s), y2a = imin(2 * s, yc + h);
            x1b = 0, y1b = 0, x2b = imin(w, x2a - x1a), y2b = imin(y2a - y1a, h);
        }
        YOLOC_ASSERT(x2a - x1a == x2b - x1b && y2a - y1a == y2b - y1b);
        for (int y = 0; y < y2a - y1a; y++)
            memcpy(out->img.data + ((size_t)(y1a + y) * 2 * s + x1a) * 3,
                   t.img.data + ((size_t)(y1b + y) * w + x1b) * 3, (size_t)(x2a - x1a) * 3);
        const float padw = (float)(x1a - x1b), padh = (float)(y1a - y1b);
        st = boxes_reserve(out, out->nboxes + t.nboxes);
        if (st < 0) {
            aug_sample_free(&t);
            goto fail;
        }
        for (size_t j = 0; j < t.nboxes; j++) {
            aug_box b = t.boxes[j];
            b.x1 = fminf(fmaxf(b.x1 + padw, 0), 2.0f * s);
            b.x2 = fminf(fmaxf(b.x2 + padw, 0), 2.0f * s);
            b.y1 = fminf(fmaxf(b.y1 + padh, 0), 2.0f * s);
            b.y2 = fminf(fmaxf(b.y2 + padh, 0), 2.0f * s);
            if ((b.x2 - b.x1) * (b.y2 - b.y1) > 0) out->boxes[out->nboxes++] = b;
        }
        if (k == 0) {
            out->orig_w = t.orig_w;
            out->orig_h = t.orig_h;
        }
        aug_sample_free(&t);
    }
    return YOLOC_OK;
fail:
    aug_sample_free(out);
    return st;
}

status aug_mixup(aug_sample *a, const aug_sample *b, double ratio) {
    if (a->img.w != b->img.w || a->img.h != b->img.h)
        return err_set(YOLOC_ERR_SHAPE, "mixup: image sizes differ (%dx%d vs %dx%d)", a->img.w,
                       a->img.h, b->img.w, b->img.h);
    TRY(boxes_reserve(a, a->nboxes + b->nboxes));
    size_t n = (size_t)a->img.w * a->img.h * 3;
    for (size_t k = 0; k < n; k++) {
        double v = a->img.data[k] * ratio + b->img.data[k] * (1 - ratio);
        a->img.data[k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v); /* numpy astype: truncation */
    }
    memcpy(a->boxes + a->nboxes, b->boxes, b->nboxes * sizeof *b->boxes);
    a->nboxes += b->nboxes;
    return YOLOC_OK;
}

status aug_cutmix(aug_sample *a, const aug_sample *b, int x1, int y1, int x2, int y2,
                  float min_visible) {
    if (a->img.w != b->img.w || a->img.h != b->img.h)
        return err_set(YOLOC_ERR_SHAPE, "cutmix: image sizes differ (%dx%d vs %dx%d)", a->img.w,
                       a->img.h, b->img.w, b->img.h);
    const int W = a->img.w, H = a->img.h;
    x1 = imax(0, imin(x1, W));
    x2 = imax(0, imin(x2, W));
    y1 = imax(0, imin(y1, H));
    y2 = imax(0, imin(y2, H));
    if (x2 <= x1 || y2 <= y1) return YOLOC_OK; /* empty patch: nothing changes */
    TRY(boxes_reserve(a, a->nboxes + b->nboxes));
    for (int y = y1; y < y2; y++)
        memcpy(a->img.data + ((size_t)y * W + x1) * 3, b->img.data + ((size_t)y * W + x1) * 3,
               (size_t)(x2 - x1) * 3);
    const float px1 = (float)x1, py1 = (float)y1, px2 = (float)x2, py2 = (float)y2;
    /* boxes of a: what the patch hides */
    size_t kept = 0;
    for (size_t k = 0; k < a->nboxes; k++) {
        aug_box bx = a->boxes[k];
        double area = ((double)bx.x2 - bx.x1) * ((double)bx.y2 - bx.y1);
        double iw = fmin(bx.x2, px2) - fmax(bx.x1, px1), ih = fmin(bx.y2, py2) - fmax(bx.y1, py1);
        double inter = iw > 0 && ih > 0 ? iw * ih : 0;
        if (inter > 0) {
            double visible = area > 0 ? 1 - inter / area : 0;
            if (visible <= 0 || visible < min_visible) continue;
            int spans_y = py1 <= bx.y1 && py2 >= bx.y2, spans_x = px1 <= bx.x1 && px2 >= bx.x2;
            if (spans_y) { /* a vertical band: the visible part is left and/or right of it */
                if (px1 <= bx.x1)
                    bx.x1 = px2;
                else if (px2 >= bx.x2)
                    bx.x2 = px1;
            } else if (spans_x) { /* a horizontal band */
                if (py1 <= bx.y1)
                    bx.y1 = py2;
                else if (py2 >= bx.y2)
                    bx.y2 = py1;
            }
        }
        a->boxes[kept++] = bx;
    }
    a->nboxes = kept;
    /* boxes of b: cut to the patch */
    for (size_t k = 0; k < b->nboxes; k++) {
        aug_box bx = b->boxes[k];
        double area = ((double)bx.x2 - bx.x1) * ((double)bx.y2 - bx.y1);
        aug_box c = {bx.cls, fmaxf(bx.x1, px1), fmaxf(bx.y1, py1), fminf(bx.x2, px2),
                     fminf(bx.y2, py2)};
        double inter = ((double)c.x2 - c.x1) * ((double)c.y2 - c.y1);
        if (c.x2 <= c.x1 || c.y2 <= c.y1 || !(area > 0) || inter / area < min_visible) continue;
        a->boxes[a->nboxes++] = c;
    }
    return YOLOC_OK;
}

/* ---- HSV and flips ---------------------------------------------------- */

/* OpenCV's 8-bit RGB -> HSV (H in [0, 180), S and V in [0, 255]), in its
 * fixed-point form (12 fractional bits); sdiv[v] = round(255 * 2^12 / v),
 * hdiv[d] = round(180 * 2^12 / (6 d)) (0 at 0). */
enum { HSV_SHIFT = 12 };

static void hsv_tables(int sdiv[256], int hdiv[256]) {
    sdiv[0] = hdiv[0] = 0;
    for (int i = 1; i < 256; i++) {
        sdiv[i] = (int)nearbyint((255 << HSV_SHIFT) / (double)i);
        hdiv[i] = (int)nearbyint((180 << HSV_SHIFT) / (6.0 * i));
    }
}

static inline void rgb_to_hsv8(int r, int g, int b, const int *sdiv, const int *hdiv, int *H,
                               int *S, int *V) {
    int v = imax(imax(r, g), b), vmin = imin(imin(r, g), b), diff = v - vmin;
    int s = (diff * sdiv[v] + (1 << (HSV_SHIFT - 1))) >> HSV_SHIFT;
    int h;
    if (v == r)
        h = g - b;
    else if (v == g)
        h = b - r + 2 * diff;
    else
        h = r - g + 4 * diff;
    h = (h * hdiv[diff] + (1 << (HSV_SHIFT - 1))) >> HSV_SHIFT;
    if (h < 0) h += 180;
    *H = h;
    *S = s;
    *V = v;
}

/* OpenCV's 8-bit HSV -> RGB (through float, H in [0, 180)). */
static inline void hsv8_to_rgb(int H, int S, int V, uint8_t *rgb) {
    float h = H * (6.0f / 180.0f), s = S * (1.0f / 255.0f), v = V * (1.0f / 255.0f);
    float r, g, b;
    if (s == 0) {
        r = g = b = v;
    } else {
        while (h >= 6) h -= 6;
        int sector = (int)floorf(h);
        h -= sector;
        if (sector < 0 || sector >= 6) sector = 0, h = 0;
        float tab[4] = {v, v * (1 - s), v * (1 - s * h), v * (1 - s * (1 - h))};
        /* per sector: indices of (r, g, b) into tab */
        static const int sec[6][3] = {{0, 3, 1}, {2, 0, 1}, {1, 0, 3},
                                      {1, 2, 0}, {3, 1, 0}, {0, 1, 2}};
        r = tab[sec[sector][0]];
        g = tab[sec[sector][1]];
        b = tab[sec[sector][2]];
    }
    rgb[0] = sat_u8(r * 255.0);
    rgb[1] = sat_u8(g * 255.0);
    rgb[2] = sat_u8(b * 255.0);
}

void aug_hsv(image *img, double gh, double gs, double gv, int threads) {
    uint8_t lh[256], ls[256], lv[256];
    int sdiv[256], hdiv[256];
    hsv_tables(sdiv, hdiv);
    for (int x = 0; x < 256; x++) {
        double hh = fmod(x * gh, 180.0);
        if (hh < 0) hh += 180.0; /* Python's % is never negative */
        lh[x] = (uint8_t)hh;
        double ss = fmin(fmax(x * gs, 0), 255), vv = fmin(fmax(x * gv, 0), 255);
        ls[x] = (uint8_t)ss;
        lv[x] = (uint8_t)vv;
    }
    const int H = img->h, W = img->w;
#pragma omp parallel for if (threads != 1) num_threads(OMP_THREADS(threads)) schedule(static)
    for (int y = 0; y < H; y++) {
        uint8_t *p = img->data + (size_t)y * W * 3;
        for (int x = 0; x < W; x++, p += 3) {
            int h, s, v;
            rgb_to_hsv8(p[0], p[1], p[2], sdiv, hdiv, &h, &s, &v);
            hsv8_to_rgb(lh[h], ls[s], lv[v], p);
        }
    }
}

void aug_flip_lr(aug_sample *s) {
    const int W = s->img.w;
    for (int y = 0; y < s->img.h; y++) {
        uint8_t *row = s->img.data + (size_t)y * W * 3;
        for (int a = 0, b = W - 1; a < b; a++, b--)
            for (int c = 0; c < 3; c++) {
                uint8_t t = row[a * 3 + c];
                row[a * 3 + c] = row[b * 3 + c];
                row[b * 3 + c] = t;
            }
    }
    for (size_t k = 0; k < s->nboxes; k++) {
        float x1 = s->boxes[k].x1;
        s->boxes[k].x1 = W - s->boxes[k].x2;
        s->boxes[k].x2 = W - x1;
    }
}

void aug_flip_ud(aug_sample *s) {
    const int W = s->img.w, H = s->img.h;
    const size_t rb = (size_t)W * 3;
    uint8_t *d = s->img.data;
    for (int a = 0, b = H - 1; a < b; a++, b--)
        for (size_t k = 0; k < rb; k++) {
            uint8_t t = d[(size_t)a * rb + k];
            d[(size_t)a * rb + k] = d[(size_t)b * rb + k];
            d[(size_t)b * rb + k] = t;
        }
    for (size_t k = 0; k < s->nboxes; k++) {
        float y1 = s->boxes[k].y1;
        s->boxes[k].y1 = H - s->boxes[k].y2;
        s->boxes[k].y2 = H - y1;
    }
}

/* ---- pipelines -------------------------------------------------------- */

/* Mosaic (p) or load + letterbox, then the random perspective: Ultralytics'
 * pre_transform, shared by the sample and its MixUp/CutMix partner. */
static status pre_transform(const aug_source *src, size_t idx, const aug_params *p, rng *r,
                            aug_sample *out) {
    const int s = p->imgsz;
    int border = 0;
    status st;
    if (rng_uniform(r) < p->mosaic) {
        TRY(aug_mosaic4(src, idx, s, r, p->threads, out));
        border = -s / 2;
    } else {
        TRY(aug_load_resized(src, idx, s, 1, p->threads, out));
        TRY_GOTO(st, aug_letterbox(out, s, s, 1, p->threads));
    }
    TRY_GOTO(st, aug_random_perspective(out, p, border, r));
    return YOLOC_OK;
fail:
    aug_sample_free(out);
    return st;
}

/* A partner image for MixUp/CutMix: a random item, augmented with its own
 * stream derived from r (so its draws do not shift the caller's). */
static status partner_sample(const aug_source *src, const aug_params *p, rng *r, aug_sample *out) {
    size_t j = rng_below(r, (uint32_t)src->n);
    rng child;
    rng_seed_keys(&child, rng_u64(r), 0x50415254 /* "PART" */, j, 0);
    return pre_transform(src, j, p, &child, out);
}

status aug_train_sample(const aug_source *src, size_t idx, const aug_params *p, rng *r,
                        aug_sample *out) {
    memset(out, 0, sizeof *out);
    if (src->n == 0 || idx >= src->n)
        return err_set(YOLOC_ERR_INVALID, "image index %zu out of range (%zu images)", idx, src->n);
    status st;
    TRY(pre_transform(src, idx, p, r, out));
    aug_sample other = {0};
    if (rng_uniform(r) < p->mixup) {
        TRY_GOTO(st, partner_sample(src, p, r, &other));
        double ratio = rng_beta(r, 32.0, 32.0);
        st = aug_mixup(out, &other, ratio);
        aug_sample_free(&other);
        if (st < 0) goto fail;
    }
    if (rng_uniform(r) < p->cutmix) {
        TRY_GOTO(st, partner_sample(src, p, r, &other));
        const int W = out->img.w, H = out->img.h;
        double lam = rng_beta(r, p->cutmix_beta, p->cutmix_beta);
        double cut = sqrt(1 - lam);
        int cw = (int)(W * cut), ch = (int)(H * cut);
        int cx = (int)rng_below(r, (uint32_t)W), cy = (int)rng_below(r, (uint32_t)H);
        st = aug_cutmix(out, &other, cx - cw / 2, cy - ch / 2, cx + cw / 2, cy + ch / 2,
                        p->cutmix_visible);
        aug_sample_free(&other);
        if (st < 0) goto fail;
    }
    if (p->hsv_h != 0 || p->hsv_s != 0 || p->hsv_v != 0) {
        double gh = rng_range(r, -1, 1) * p->hsv_h + 1;
        double gs = rng_range(r, -1, 1) * p->hsv_s + 1;
        double gv = rng_range(r, -1, 1) * p->hsv_v + 1;
        aug_hsv(&out->img, gh, gs, gv, p->threads);
    }
    if (rng_uniform(r) < p->flipud) aug_flip_ud(out);
    if (rng_uniform(r) < p->fliplr) aug_flip_lr(out);
    if (p->bgr > 0 && rng_uniform(r) < p->bgr) { /* no draw at 0: the other samples' streams stay as they were */
        uint8_t *px = out->img.data;
        for (size_t k = 0, n = (size_t)out->img.w * out->img.h; k < n; k++) {
            uint8_t t = px[3 * k];
            px[3 * k] = px[3 * k + 2];
            px[3 * k + 2] = t;
        }
    }
    out->ratio_w = out->ratio_h = out->pad_w = out->pad_h = 0;
    return YOLOC_OK;
fail:
    aug_sample_free(out);
    return st;
}

status aug_val_sample(const aug_source *src, size_t idx, int imgsz, int out_w, int out_h,
                      int threads, aug_sample *out) {
    TRY(aug_load_resized(src, idx, imgsz, 0, threads, out));
    status st = aug_letterbox(out, out_w, out_h, 0, threads);
    if (st < 0) aug_sample_free(out);
    return st;
}
