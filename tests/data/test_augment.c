/* Augmentation: hand-derived letterbox / rect / resize numbers, the CutMix
 * box rule, HSV and mixup values, and the main property: after mosaic +
 * random perspective + flips the labels still sit on their objects.
 *
 * The property test renders images with solid rectangles in the 8 colours of
 * {0, 255}^3 on a grey (100) background. A bilinear blend of such a colour
 * with grey 100 or 114 is nearer to that colour than to any other colour or
 * grey exactly when the object covers more than half of the pixel, so
 * "pixels whose nearest colour is k" are the object's pixels at 50 %
 * coverage, to within a pixel. For every kept box whose colour was loaded
 * only once into the sample, those pixels must lie inside the box (any
 * transform) and the box must be tight to their extent (rotation-free). */
#include "data/augment.h"
#include "harness.h"

#include <stdint.h>

/* ---- an in-memory image source ---------------------------------------- */

#define MAX_ITEMS 32
#define MAX_OBJ   3

typedef struct {
    int x1, y1, x2, y2; /* pixels [x1, x2) x [y1, y2) */
    int cls;
} obj;

typedef struct {
    size_t n;
    image imgs[MAX_ITEMS];
    ds_image items[MAX_ITEMS];
    ds_box boxes[MAX_ITEMS][MAX_OBJ];
    obj objs[MAX_ITEMS][MAX_OBJ];
    size_t loads[64]; /* indices loaded since the last reset (single-threaded use) */
    int nloads;
} mem_source;

static mem_source MS;

static void class_colour(int cls, uint8_t rgb[3]) {
    /* the 8 colours of {0, 255}^3; cls < 8 */
    rgb[0] = (cls & 4) ? 255 : 0;
    rgb[1] = (cls & 2) ? 255 : 0;
    rgb[2] = (cls & 1) ? 255 : 0;
}

static status mem_load(const aug_source *src, size_t i, image *img) {
    const mem_source *m = src->ctx;
    if (MS.nloads < 64) MS.loads[MS.nloads++] = i;
    const image *s = &m->imgs[i];
    img->w = s->w;
    img->h = s->h;
    img->data = malloc((size_t)s->w * s->h * 3);
    if (!img->data) return err_set(YOLOC_ERR_NOMEM, "oom");
    memcpy(img->data, s->data, (size_t)s->w * s->h * 3);
    return YOLOC_OK;
}

/* Adds an image of w x h (background 100 grey) with the given objects. */
static void mem_add(int w, int h, const obj *objs, int nobj) {
    size_t i = MS.n++;
    image *im = &MS.imgs[i];
    im->w = w;
    im->h = h;
    im->data = malloc((size_t)w * h * 3);
    memset(im->data, 100, (size_t)w * h * 3);
    for (int k = 0; k < nobj; k++) {
        const obj *o = &objs[k];
        uint8_t c[3];
        class_colour(o->cls, c);
        for (int y = o->y1; y < o->y2; y++)
            for (int x = o->x1; x < o->x2; x++) memcpy(im->data + ((size_t)y * w + x) * 3, c, 3);
        MS.objs[i][k] = *o;
        MS.boxes[i][k] = (ds_box){o->cls, (o->x1 + o->x2) * 0.5f / w, (o->y1 + o->y2) * 0.5f / h,
                                  (float)(o->x2 - o->x1) / w, (float)(o->y2 - o->y1) / h};
    }
    MS.items[i] = (ds_image){"", "", w, h, (size_t)nobj, MS.boxes[i]};
}

static aug_source mem_source_get(void) {
    aug_source s = {MS.n, MS.items, mem_load, &MS, NULL};
    return s;
}

static void mem_free(void) {
    for (size_t i = 0; i < MS.n; i++) free(MS.imgs[i].data);
    memset(&MS, 0, sizeof MS);
}

/* 16 images, 2 objects each of distinct colours (i and i+3 mod 8), objects
 * >= 8 px from the borders and from each other. */
static void build_colour_dataset(void) {
    static const int sizes[16][2] = {{200, 150}, {160, 240}, {300, 300}, {256, 128},
                                     {180, 200}, {220, 160}, {140, 260}, {240, 240},
                                     {320, 180}, {150, 150}, {210, 280}, {260, 200},
                                     {120, 90},  {90, 160},  {400, 220}, {230, 330}};
    for (int i = 0; i < 16; i++) {
        int w = sizes[i][0], h = sizes[i][1];
        obj o[2];
        o[0] = (obj){8 + (i * 7) % 20, 8 + (i * 5) % 15, w / 2 - 6, h / 2 - 4, i % 8};
        o[1] = (obj){w / 2 + 4, h / 2 + 2, w - 8 - (i * 3) % 10, h - 10, (i + 3) % 8};
        mem_add(w, h, o, 2);
    }
}

/* ---- checks ------------------------------------------------------------ */

/* Index of the nearest of the 8 colours (0..7), or -1 when a grey (100 or
 * 114) is nearer. */
static int nearest_colour(const uint8_t *p) {
    int best = -1;
    long bd = 0;
    for (int g = 0; g < 2; g++) {
        int v = g ? 114 : 100;
        long d = (long)(p[0] - v) * (p[0] - v) + (long)(p[1] - v) * (p[1] - v) +
                 (long)(p[2] - v) * (p[2] - v);
        if (g == 0 || d < bd) bd = d;
    }
    for (int k = 0; k < 8; k++) {
        uint8_t c[3];
        class_colour(k, c);
        long d = (long)(p[0] - c[0]) * (p[0] - c[0]) + (long)(p[1] - c[1]) * (p[1] - c[1]) +
                 (long)(p[2] - c[2]) * (p[2] - c[2]);
        if (d < bd) {
            bd = d;
            best = k;
        }
    }
    return best;
}

/* Extent [x0, x1) x [y0, y1) of the pixels of colour k (pixel x covers
 * [x, x+1)); returns their count. */
static int colour_extent(const image *im, int k, int *x0, int *y0, int *x1, int *y1) {
    int n = 0;
    *x0 = *y0 = 1 << 30;
    *x1 = *y1 = -1;
    for (int y = 0; y < im->h; y++)
        for (int x = 0; x < im->w; x++) {
            if (nearest_colour(im->data + ((size_t)y * im->w + x) * 3) != k) continue;
            n++;
            if (x < *x0) *x0 = x;
            if (y < *y0) *y0 = y;
            if (x + 1 > *x1) *x1 = x + 1;
            if (y + 1 > *y1) *y1 = y + 1;
        }
    return n;
}

typedef struct {
    int samples, boxes, empty, checked_tight;
    double worst_tight, worst_outside;
} prop_stats;

/* Runs the train pipeline nsamp times with p and checks boxes vs pixels:
 * pixels inside the box to within 1 px; with tight, each box edge within
 * tol of the pixels' extent and every box with pixels. */
static void check_boxes_on_objects(const char *name, const aug_params *p, int nsamp, int tight,
                                   double tol) {
    aug_source src = mem_source_get();
    prop_stats S = {0};
    for (int k = 0; k < nsamp; k++) {
        rng r;
        rng_seed_keys(&r, 1234, 7, (uint64_t)k, 0);
        MS.nloads = 0;
        aug_sample s;
        status st = aug_train_sample(&src, (size_t)k % MS.n, p, &r, &s);
        CHECK_MSG(st == YOLOC_OK, "%s sample %d: %s", name, k, yoloc_last_error());
        if (st < 0) continue;
        CHECK_EQ_INT(s.img.w, p->imgsz);
        CHECK_EQ_INT(s.img.h, p->imgsz);
        /* how often each colour was loaded into this sample (mosaic: 4 images) */
        int loaded[8] = {0};
        for (int a = 0; a < MS.nloads; a++)
            for (int o = 0; o < 2; o++) loaded[MS.objs[MS.loads[a]][o].cls]++;
        S.samples++;
        for (size_t q = 0; q < s.nboxes; q++) {
            const aug_box *b = &s.boxes[q];
            CHECK(b->x1 >= 0 && b->y1 >= 0 && b->x2 <= s.img.w && b->y2 <= s.img.h);
            CHECK(b->x2 - b->x1 > 2 && b->y2 - b->y1 > 2);
            if (loaded[b->cls] != 1) continue; /* ambiguous colour */
            int x0, y0, x1, y1;
            int n = colour_extent(&s.img, b->cls, &x0, &y0, &x1, &y1);
            S.boxes++;
            if (n == 0) {
                /* rotation: the clipped bounding box of a rotated object can
                 * hold only a corner of empty space (as in Ultralytics) */
                S.empty++;
                CHECK_MSG(
                    !tight,
                    "%s sample %d class %d: box %.1f,%.1f,%.1f,%.1f has no pixels of its colour",
                    name, k, b->cls, b->x1, b->y1, b->x2, b->y2);
                continue;
            }
            double out = 0; /* how far the pixels poke out of the box */
            out = fmax(out, b->x1 - x0);
            out = fmax(out, b->y1 - y0);
            out = fmax(out, x1 - b->x2);
            out = fmax(out, y1 - b->y2);
            if (out > S.worst_outside) S.worst_outside = out;
            CHECK_MSG(out <= 1.0,
                      "%s sample %d class %d: pixels [%d,%d)x[%d,%d) outside box "
                      "%.2f,%.2f,%.2f,%.2f by %.2f px",
                      name, k, b->cls, x0, x1, y0, y1, b->x1, b->y1, b->x2, b->y2, out);
            if (tight) {
                double d = fmax(fmax(fabs(b->x1 - x0), fabs(b->y1 - y0)),
                                fmax(fabs(b->x2 - x1), fabs(b->y2 - y1)));
                if (d > S.worst_tight) S.worst_tight = d;
                S.checked_tight++;
                CHECK_MSG(d <= tol,
                          "%s sample %d class %d: box %.2f,%.2f,%.2f,%.2f vs pixels "
                          "[%d,%d)x[%d,%d): %.2f px > %.1f",
                          name, k, b->cls, b->x1, b->y1, b->x2, b->y2, x0, x1, y0, y1, d, tol);
            }
        }
        aug_sample_free(&s);
    }
    CHECK_MSG(S.boxes > nsamp, "%s: only %d boxes checked in %d samples", name, S.boxes, nsamp);
    printf("  %-34s %d samples, %d boxes checked (%d without pixels), worst outside %.2f px, "
           "worst tight %.2f px\n",
           name, S.samples, S.boxes, S.empty, S.worst_outside, S.worst_tight);
}

static void test_box_property(void) {
    build_colour_dataset();
    aug_params p;
    aug_params_default(&p);
    p.imgsz = 256;
    p.hsv_h = p.hsv_s = p.hsv_v = 0;
    p.threads = 1;
    /* scale + translate + both flips, mosaic always */
    p.flipud = 0.5f;
    check_boxes_on_objects("mosaic+scale+translate+flips", &p, 80, 1, 2.0);
    /* the letterbox path (mosaic off, as after close_mosaic) */
    p.mosaic = 0;
    check_boxes_on_objects("letterbox+scale+translate+flips", &p, 40, 1, 2.0);
    /* half the samples with mosaic, larger scale range */
    p.mosaic = 0.5f;
    p.scale = 0.9f;
    check_boxes_on_objects("mosaic 0.5, scale 0.9", &p, 40, 1, 2.0);
    /* rotation, shear and perspective: boxes must contain their objects */
    p.mosaic = 1;
    p.scale = 0.5f;
    p.degrees = 30;
    p.shear = 8;
    check_boxes_on_objects("mosaic+rotate 30+shear 8", &p, 80, 0, 0);
    p.perspective = 0.0005f;
    check_boxes_on_objects("mosaic+rotate+shear+perspective", &p, 40, 0, 0);
    mem_free();
}

static void test_letterbox_numbers(void) {
    aug_letterbox_geom g;
    /* 810x1080 into 640: r = 640/1080, 480x640, 160 px split 80/80 */
    aug_letterbox_compute(810, 1080, 640, 640, 1, 1, &g);
    CHECK_NEAR(g.r, 640.0 / 1080.0, 1e-12);
    CHECK_EQ_INT(g.unpad_w, 480);
    CHECK_EQ_INT(g.unpad_h, 640);
    CHECK_EQ_INT(g.left, 80);
    CHECK_EQ_INT(g.right, 80);
    CHECK_EQ_INT(g.top, 0);
    CHECK_EQ_INT(g.bottom, 0);
    /* 335x500 into 640: r = 1.28, w = round(428.8) = 429, odd padding 211:
     * left = round(105.5 - 0.1) = 105, right = round(105.5 + 0.1) = 106 */
    aug_letterbox_compute(335, 500, 640, 640, 1, 1, &g);
    CHECK_EQ_INT(g.unpad_w, 429);
    CHECK_EQ_INT(g.left, 105);
    CHECK_EQ_INT(g.right, 106);
    /* half to even: 13 * 0.5 = 6.5 -> 6 (lround would give 7); 3 * 2.5 = 7.5 -> 8 */
    aug_letterbox_compute(13, 20, 10, 10, 1, 1, &g);
    CHECK_EQ_INT(g.unpad_w, 6);
    CHECK_EQ_INT(g.unpad_h, 10);
    CHECK_EQ_INT(g.left, 2);
    CHECK_EQ_INT(g.right, 2);
    aug_letterbox_compute(3, 4, 10, 10, 1, 1, &g);
    CHECK_EQ_INT(g.unpad_w, 8);
    CHECK_EQ_INT(g.left, 1);
    CHECK_EQ_INT(g.right, 1);
    /* no scale-up: 320x240 stays, padding 160 + 160 and 200 + 200 */
    aug_letterbox_compute(320, 240, 640, 640, 0, 1, &g);
    CHECK_NEAR(g.r, 1.0, 0);
    CHECK_EQ_INT(g.unpad_w, 320);
    CHECK_EQ_INT(g.left, 160);
    CHECK_EQ_INT(g.top, 200);
    CHECK_EQ_INT(g.bottom, 200);
    /* not centred: everything right/bottom */
    aug_letterbox_compute(320, 240, 640, 640, 0, 0, &g);
    CHECK_EQ_INT(g.left, 0);
    CHECK_EQ_INT(g.right, 320);
    CHECK_EQ_INT(g.bottom, 400);

    /* aug_letterbox on a sample: pixels and boxes */
    aug_sample s = {0};
    s.img.w = 40;
    s.img.h = 20;
    s.img.data = malloc(40 * 20 * 3);
    memset(s.img.data, 7, 40 * 20 * 3);
    s.boxes = malloc(sizeof(aug_box));
    s.cap = s.nboxes = 1;
    s.boxes[0] = (aug_box){3, 4, 2, 12, 10};
    s.ratio_w = s.ratio_h = 1;
    CHECK(aug_letterbox(&s, 64, 64, 0, 1) == YOLOC_OK); /* 40x20, pad 12/12, 22/22 */
    CHECK_EQ_INT(s.img.w, 64);
    CHECK_EQ_INT(s.img.data[0], 114);
    CHECK_EQ_INT(s.img.data[((size_t)22 * 64 + 12) * 3], 7);
    CHECK_EQ_INT(s.img.data[((size_t)21 * 64 + 12) * 3], 114);
    CHECK_EQ_INT(s.img.data[((size_t)22 * 64 + 11) * 3], 114);
    CHECK_NEAR(s.boxes[0].x1, 16, 0);
    CHECK_NEAR(s.boxes[0].y1, 24, 0);
    CHECK_NEAR(s.pad_w, 12, 0);
    CHECK_NEAR(s.pad_h, 22, 0);
    CHECK(aug_letterbox(&s, 32, 32, 1, 1) == YOLOC_OK); /* 64 -> 32: r = 0.5, no padding */
    CHECK_NEAR(s.boxes[0].x1, 8, 0);
    CHECK_NEAR(s.ratio_w, 0.5, 0);
    CHECK_NEAR(s.pad_w, 6, 0);
    aug_sample_free(&s);
}

static void test_rect_shapes(void) {
    ds_image it[6] = {{"", "", 640, 480, 0, NULL}, {"", "", 800, 400, 0, NULL},
                      {"", "", 300, 300, 0, NULL}, {"", "", 400, 600, 0, NULL},
                      {"", "", 200, 400, 0, NULL}, {"", "", 500, 500, 0, NULL}};
    int h, w;
    /* a = 0.75, 0.5: shape [0.75, 1] -> ceil(15.5) * 32 = 512, ceil(20.5) * 32 = 672 */
    uint32_t wide[2] = {0, 1};
    aug_rect_shape(it, wide, 2, 640, 32, 0.5, &h, &w);
    CHECK_EQ_INT(h, 512);
    CHECK_EQ_INT(w, 672);
    /* a = 1.5, 2: shape [1, 1/1.5] -> 672 x ceil(13.83) * 32 = 448 */
    uint32_t tall[2] = {3, 4};
    aug_rect_shape(it, tall, 2, 640, 32, 0.5, &h, &w);
    CHECK_EQ_INT(h, 672);
    CHECK_EQ_INT(w, 448);
    /* mixed -> [1, 1] */
    uint32_t mixed[3] = {0, 2, 3};
    aug_rect_shape(it, mixed, 3, 640, 32, 0.5, &h, &w);
    CHECK_EQ_INT(h, 672);
    CHECK_EQ_INT(w, 672);
    /* pad 0: a = 0.5 -> 320 x 640 */
    uint32_t one[1] = {1};
    aug_rect_shape(it, one, 1, 640, 32, 0.0, &h, &w);
    CHECK_EQ_INT(h, 320);
    CHECK_EQ_INT(w, 640);
    uint32_t order[6];
    CHECK(aug_rect_order(it, 6, order) == YOLOC_OK);
    /* a: 0.75, 0.5, 1, 1.5, 2, 1 -> 1, 0, 2, 5, 3, 4 (ties in dataset order) */
    const uint32_t want[6] = {1, 0, 2, 5, 3, 4};
    for (int i = 0; i < 6; i++) CHECK_EQ_INT(order[i], want[i]);
}

static void test_resize(void) {
    /* bilinear 2 -> 4 of [0, 255]: OpenCV gives 0, 64, 191, 255 */
    uint8_t px[6] = {0, 0, 0, 255, 255, 255};
    image in = {2, 1, px}, out;
    CHECK(aug_resize(&in, 4, 1, 0, 1, &out) == YOLOC_OK);
    const int want[4] = {0, 64, 191, 255};
    for (int i = 0; i < 4; i++) CHECK_EQ_INT(out.data[i * 3], want[i]);
    free(out.data);
    /* area 4 -> 2 averages pairs; 3 -> 2 weights 1, 0.5 | 0.5, 1 */
    uint8_t q[12] = {10, 10, 10, 30, 30, 30, 100, 100, 100, 200, 200, 200};
    image in4 = {4, 1, q};
    CHECK(aug_resize(&in4, 2, 1, 1, 1, &out) == YOLOC_OK);
    CHECK_EQ_INT(out.data[0], 20);
    CHECK_EQ_INT(out.data[3], 150);
    free(out.data);
    image in3 = {3, 1, q};
    CHECK(aug_resize(&in3, 2, 1, 1, 1, &out) == YOLOC_OK);
    CHECK_EQ_INT(out.data[0], 17); /* (10 + 0.5 * 30) / 1.5 = 16.67 */
    CHECK_EQ_INT(out.data[3], 77); /* (0.5 * 30 + 100) / 1.5 = 76.67 */
    free(out.data);
    /* load: long side to imgsz (ceil), 500x375 -> 640x480, 1000x500 -> 320x160 */
    mem_add(500, 375, NULL, 0);
    mem_add(1000, 500, NULL, 0);
    aug_source src = mem_source_get();
    aug_sample s;
    CHECK(aug_load_resized(&src, 0, 640, 1, 1, &s) == YOLOC_OK);
    CHECK_EQ_INT(s.img.w, 640);
    CHECK_EQ_INT(s.img.h, 480);
    CHECK_NEAR(s.ratio_w, 1.28, 1e-6);
    aug_sample_free(&s);
    CHECK(aug_load_resized(&src, 1, 320, 0, 1, &s) == YOLOC_OK);
    CHECK_EQ_INT(s.img.w, 320);
    CHECK_EQ_INT(s.img.h, 160);
    CHECK_EQ_INT(s.orig_w, 1000);
    CHECK_EQ_INT(s.img.data[0], 100);
    aug_sample_free(&s);
    mem_free();
}

static void test_warp(void) {
    /* integer translation by (+3, +2): exact copy, 114 where nothing maps */
    image in = {8, 6, malloc(8 * 6 * 3)}, out;
    for (int i = 0; i < 8 * 6 * 3; i++) in.data[i] = (uint8_t)(i * 7);
    const double M[9] = {1, 0, 3, 0, 1, 2, 0, 0, 1};
    CHECK(aug_warp(&in, M, 0, 8, 6, 1, &out) == YOLOC_OK);
    int bad = 0;
    for (int y = 0; y < 6; y++)
        for (int x = 0; x < 8; x++)
            for (int c = 0; c < 3; c++) {
                int sx = x - 3, sy = y - 2;
                int want = sx >= 0 && sy >= 0 ? in.data[((sy * 8) + sx) * 3 + c] : 114;
                bad += out.data[(y * 8 + x) * 3 + c] != want;
            }
    CHECK_EQ_INT(bad, 0);
    free(out.data);
    /* half-pixel shift: averages neighbours, 114 blends in at the border */
    const double H[9] = {1, 0, 0.5, 0, 1, 0, 0, 0, 1};
    CHECK(aug_warp(&in, H, 0, 8, 6, 1, &out) == YOLOC_OK);
    CHECK_EQ_INT(out.data[3], (int)(0.5 * in.data[0] + 0.5 * in.data[3] + 0.5));
    CHECK_EQ_INT(out.data[0], (int)(0.5 * 114 + 0.5 * in.data[0] + 0.5));
    free(out.data);
    const double Z[9] = {0, 0, 0, 0, 0, 0, 0, 0, 1};
    CHECK(aug_warp(&in, Z, 0, 8, 6, 1, &out) == YOLOC_ERR_INVALID);
    free(in.data);
    /* box_candidates */
    CHECK(aug_box_candidate(10, 10, 5, 5, 0.1));
    CHECK(!aug_box_candidate(10, 10, 2, 5, 0.1));     /* w <= 2 px */
    CHECK(!aug_box_candidate(100, 100, 30, 30, 0.1)); /* area ratio 0.09 */
    CHECK(!aug_box_candidate(1000, 10, 500, 3, 0.1)); /* aspect 167 */
    CHECK(aug_box_candidate(1000, 10, 450, 5, 0.1));  /* aspect 90 */
}

static aug_sample make_sample(int w, int h, uint8_t fill, const aug_box *b, size_t n) {
    aug_sample s = {0};
    s.img.w = w;
    s.img.h = h;
    s.img.data = malloc((size_t)w * h * 3);
    memset(s.img.data, fill, (size_t)w * h * 3);
    s.boxes = malloc((n ? n : 1) * sizeof *b);
    if (n) memcpy(s.boxes, b, n * sizeof *b);
    s.nboxes = s.cap = n;
    return s;
}

static int find_box(const aug_sample *s, int cls, aug_box *out) {
    for (size_t i = 0; i < s->nboxes; i++)
        if (s->boxes[i].cls == cls) {
            *out = s->boxes[i];
            return 1;
        }
    return 0;
}

#define CHECK_BOX(s, cls, X1, Y1, X2, Y2)                                                          \
    do {                                                                                           \
        aug_box b_;                                                                                \
        int f_ = find_box(s, cls, &b_);                                                            \
        CHECK_MSG(f_, "class %d missing", cls);                                                    \
        if (f_)                                                                                    \
            CHECK_MSG(b_.x1 == (X1) && b_.y1 == (Y1) && b_.x2 == (X2) && b_.y2 == (Y2),            \
                      "class %d: got %g,%g,%g,%g want %g,%g,%g,%g", cls, b_.x1, b_.y1, b_.x2,      \
                      b_.y2, (double)(X1), (double)(Y1), (double)(X2), (double)(Y2));              \
    } while (0)

static void test_cutmix_rule(void) {
    /* patch P = [20, 60) x [20, 60); keep threshold 0.1 */
    const aug_box A[] = {
        {0, 10, 30, 30, 50}, /* spans P's height, right half covered -> x2 = 20 */
        {1, 25, 25, 35, 35}, /* inside P -> dropped */
        {2, 55, 55, 75, 75}, /* corner covered (6 %) -> unchanged */
        {3, 22, 10, 58, 30}, /* spans P's width, bottom half covered -> y2 = 20 */
        {4, 21, 15, 59, 59}, /* 5/44 = 11 % visible -> kept as y2 = 20 */
        {5, 21, 18, 59, 59}, /* 2/41 = 5 % visible -> dropped */
        {6, 30, 10, 50, 90}, /* P across the middle -> unchanged */
        {7, 70, 70, 90, 90}, /* untouched */
    };
    const aug_box Bb[] = {
        {10, 0, 0, 40, 40},     /* 25 % inside -> [20, 40) */
        {11, 55, 55, 100, 100}, /* 1.2 % inside -> dropped */
        {12, 30, 30, 50, 50},   /* inside -> kept */
        {13, 0, 0, 10, 10},     /* outside -> dropped */
    };
    aug_sample a = make_sample(100, 100, 10, A, 8), b = make_sample(100, 100, 200, Bb, 4);
    CHECK(aug_cutmix(&a, &b, 20, 20, 60, 60, 0.1f) == YOLOC_OK);
    CHECK_EQ_INT(a.nboxes, 6 + 2);
    aug_box tmp;
    CHECK_BOX(&a, 0, 10, 30, 20, 50);
    CHECK(!find_box(&a, 1, &tmp));
    CHECK_BOX(&a, 2, 55, 55, 75, 75);
    CHECK_BOX(&a, 3, 22, 10, 58, 20);
    CHECK_BOX(&a, 4, 21, 15, 59, 20);
    CHECK(!find_box(&a, 5, &tmp));
    CHECK_BOX(&a, 6, 30, 10, 50, 90);
    CHECK_BOX(&a, 7, 70, 70, 90, 90);
    CHECK_BOX(&a, 10, 20, 20, 40, 40);
    CHECK(!find_box(&a, 11, &tmp));
    CHECK_BOX(&a, 12, 30, 30, 50, 50);
    CHECK(!find_box(&a, 13, &tmp));
    /* pixels: b inside the patch, a outside */
    CHECK_EQ_INT(a.img.data[(20 * 100 + 20) * 3], 200);
    CHECK_EQ_INT(a.img.data[(59 * 100 + 59) * 3], 200);
    CHECK_EQ_INT(a.img.data[(60 * 100 + 59) * 3], 10);
    CHECK_EQ_INT(a.img.data[(19 * 100 + 30) * 3], 10);
    aug_sample_free(&a);
    aug_sample_free(&b);
}

static void test_colour_mix_flip(void) {
    /* HSV: red with saturation x0.5 -> (255, 128, 128); green with hue x1.5
     * (60 -> 90) -> cyan; grey is unchanged by hue and saturation gains */
    uint8_t px[9] = {255, 0, 0, 0, 255, 0, 114, 114, 114};
    image im = {3, 1, px};
    aug_hsv(&im, 1.0, 0.5, 1.0, 1);
    CHECK_EQ_INT(px[0], 255);
    CHECK_EQ_INT(px[1], 128);
    CHECK_EQ_INT(px[2], 128);
    uint8_t g[6] = {0, 255, 0, 114, 114, 114};
    image im2 = {2, 1, g};
    aug_hsv(&im2, 1.5, 1.3, 0.5, 1);
    CHECK_EQ_INT(g[0], 0);
    CHECK_EQ_INT(g[1], 127); /* H 60 -> 90 (cyan), V 255 -> trunc(127.5) */
    CHECK_EQ_INT(g[2], 127);
    CHECK_EQ_INT(g[3], 57);
    CHECK_EQ_INT(g[4], 57);
    CHECK_EQ_INT(g[5], 57);
    /* unit gains: the 8-bit HSV round trip moves no channel by more than 3 */
    uint8_t all[64 * 3];
    for (int i = 0; i < 64 * 3; i++) all[i] = (uint8_t)(i * 37 + 11);
    uint8_t orig[64 * 3];
    memcpy(orig, all, sizeof all);
    image im3 = {64, 1, all};
    aug_hsv(&im3, 1, 1, 1, 1);
    int worst = 0;
    for (int i = 0; i < 64 * 3; i++)
        worst = abs(all[i] - orig[i]) > worst ? abs(all[i] - orig[i]) : worst;
    CHECK_MSG(worst <= 3, "HSV round trip moved a channel by %d", worst);

    /* mixup: trunc(100 r + 201 (1 - r)) at r = 0.5 -> 150; boxes appended */
    const aug_box ba = {1, 0, 0, 5, 5}, bb = {2, 1, 1, 6, 6};
    aug_sample a = make_sample(4, 4, 100, &ba, 1), b = make_sample(4, 4, 201, &bb, 1);
    CHECK(aug_mixup(&a, &b, 0.5) == YOLOC_OK);
    CHECK_EQ_INT(a.img.data[0], 150);
    CHECK_EQ_INT(a.nboxes, 2);
    CHECK_EQ_INT(a.boxes[1].cls, 2);
    aug_sample c = make_sample(5, 4, 0, NULL, 0);
    CHECK(aug_mixup(&a, &c, 0.5) == YOLOC_ERR_SHAPE);
    aug_sample_free(&a);
    aug_sample_free(&b);
    aug_sample_free(&c);

    /* flips: pixel column x -> W-1-x, box [x1, x2) -> [W-x2, W-x1) */
    const aug_box fb = {0, 1, 2, 3, 5};
    aug_sample f = make_sample(10, 8, 0, &fb, 1);
    f.img.data[(2 * 10 + 1) * 3] = 9;
    aug_flip_lr(&f);
    CHECK_EQ_INT(f.img.data[(2 * 10 + 8) * 3], 9);
    CHECK_NEAR(f.boxes[0].x1, 7, 0);
    CHECK_NEAR(f.boxes[0].x2, 9, 0);
    aug_flip_ud(&f);
    CHECK_EQ_INT(f.img.data[(5 * 10 + 8) * 3], 9);
    CHECK_NEAR(f.boxes[0].y1, 3, 0);
    CHECK_NEAR(f.boxes[0].y2, 6, 0);
    aug_sample_free(&f);
}

/* Same rng -> same bytes, whatever the OpenMP thread count. */
static void test_determinism(void) {
    build_colour_dataset();
    aug_source src = mem_source_get();
    aug_params p;
    aug_params_default(&p);
    p.imgsz = 192;
    p.mixup = 0.5f;
    p.cutmix = 0.5f;
    p.degrees = 10;
    int diffs = 0;
    for (int k = 0; k < 8; k++) {
        aug_sample s[2];
        for (int t = 0; t < 2; t++) {
            p.threads = t == 0 ? 1 : 3;
            rng r;
            rng_seed_keys(&r, 5, 0, (uint64_t)k, 0);
            CHECK(aug_train_sample(&src, (size_t)k, &p, &r, &s[t]) == YOLOC_OK);
        }
        diffs += s[0].nboxes != s[1].nboxes ||
                 memcmp(s[0].img.data, s[1].img.data, (size_t)192 * 192 * 3) != 0 ||
                 memcmp(s[0].boxes, s[1].boxes, s[0].nboxes * sizeof(aug_box)) != 0;
        aug_sample_free(&s[0]);
        aug_sample_free(&s[1]);
    }
    CHECK_EQ_INT(diffs, 0);
    /* bgr=1: the same sample with red and blue swapped (the draw comes last);
     * bgr=0 draws nothing (the streams stay as before the key existed) */
    int changed = 0; /* some sample has red != blue somewhere (a grey one cannot show the swap) */
    for (int k = 0; k < 4; k++) {
        aug_sample s[2];
        for (int t = 0; t < 2; t++) {
            p.bgr = (float)t;
            rng r;
            rng_seed_keys(&r, 6, 0, (uint64_t)k, 0);
            CHECK(aug_train_sample(&src, (size_t)k, &p, &r, &s[t]) == YOLOC_OK);
        }
        int swapped = s[0].nboxes == s[1].nboxes;
        for (size_t q = 0; q < (size_t)192 * 192; q++) {
            const uint8_t *a = s[0].img.data + 3 * q, *b = s[1].img.data + 3 * q;
            swapped &= a[0] == b[2] && a[1] == b[1] && a[2] == b[0];
            changed |= a[0] != a[2];
        }
        CHECK_MSG(swapped, "bgr=1: sample %d is not the bgr=0 one with red and blue swapped", k);
        aug_sample_free(&s[0]);
        aug_sample_free(&s[1]);
    }
    CHECK(changed);
    p.bgr = 0;
    /* bad parameters are refused with the key's name */
    p.mosaic = 1.5f;
    CHECK(aug_params_check(&p) == YOLOC_ERR_INVALID);
    CHECK_CONTAINS(yoloc_last_error(), "mosaic");
    mem_free();
}

int main(void) {
    test_letterbox_numbers();
    test_rect_shapes();
    test_resize();
    test_warp();
    test_cutmix_rule();
    test_colour_mix_flip();
    test_determinism();
    test_box_property();
    return test_finish("test_augment");
}
