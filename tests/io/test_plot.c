/* Plots: tick rules (hand-derived), the drawing helpers' pixels, and the
 * dataset figures and line plots written as PNG and read back (size, where
 * images and boxes land, colours present), plus error paths. */
#include "io/image.h"
#include "io/plot.h"
#include "harness.h"

#include <unistd.h>

static char DIR_[64];

/* LeakSanitizer (make asan): fontconfig, which cairo's text functions use,
 * keeps caches it never frees. Suppress leaks allocated inside it; leaks
 * in yoloc or cairo still fail the test. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) {
    return "leak:libfontconfig.so\n";
}

static void px_canvas(const plot_canvas *c, int x, int y, int rgb[3]) {
    cairo_surface_flush(c->surface);
    const unsigned char *d = cairo_image_surface_get_data(c->surface);
    uint32_t v =
        *(const uint32_t *)(d + (size_t)y * cairo_image_surface_get_stride(c->surface) + 4 * x);
    rgb[0] = (v >> 16) & 255;
    rgb[1] = (v >> 8) & 255;
    rgb[2] = v & 255;
}

static int near_rgb(const int *p, int r, int g, int b, int tol) {
    return abs(p[0] - r) <= tol && abs(p[1] - g) <= tol && abs(p[2] - b) <= tol;
}

static void to_u8(plot_rgb c, int *r, int *g, int *b) {
    *r = (int)lround(c.r * 255);
    *g = (int)lround(c.g * 255);
    *b = (int)lround(c.b * 255);
}

static void palette_u8(int k, int *r, int *g, int *b) {
    plot_rgb c = plot_palette(k);
    *r = (int)lround(c.r * 255);
    *g = (int)lround(c.g * 255);
    *b = (int)lround(c.b * 255);
}

/* Pixels of an image near a colour. */
static size_t count_colour(const image *im, int r, int g, int b, int tol) {
    size_t n = 0;
    for (size_t i = 0; i < (size_t)im->w * im->h; i++) {
        const uint8_t *p = im->data + 3 * i;
        n += abs(p[0] - r) <= tol && abs(p[1] - g) <= tol && abs(p[2] - b) <= tol;
    }
    return n;
}

static void test_ticks(void) {
    double t[64];
    int n = plot_nice_ticks(0, 1, 6, t);
    CHECK_EQ_INT(n, 6);
    for (int i = 0; i < n; i++) CHECK_NEAR(t[i], 0.2 * i, 1e-12);
    n = plot_nice_ticks(0.013, 0.087, 5, t); /* step 0.02 */
    CHECK_EQ_INT(n, 4);
    CHECK_NEAR(t[0], 0.02, 1e-12);
    CHECK_NEAR(t[3], 0.08, 1e-12);
    n = plot_nice_ticks(-3, 297, 6, t); /* step 50: 0 .. 250 */
    CHECK_EQ_INT(n, 6);
    CHECK_NEAR(t[0], 0, 0);
    CHECK_NEAR(t[5], 250, 1e-9);
    n = plot_log_ticks(1e-4, 0.3, t, 64); /* 4 decades */
    CHECK_EQ_INT(n, 4);
    CHECK_NEAR(t[0], 1e-4, 1e-18);
    CHECK_NEAR(t[3], 0.1, 1e-15);
    n = plot_log_ticks(0.15, 3, t, 64); /* < 3 decades: 0.2 0.5 1 2 */
    CHECK_EQ_INT(n, 4);
    CHECK_NEAR(t[0], 0.2, 1e-12);
    CHECK_NEAR(t[3], 2, 1e-12);
    CHECK_EQ_INT(plot_log_ticks(0, 1, t, 64), 0);
}

static void test_helpers(void) {
    plot_canvas c;
    CHECK(plot_canvas_init(&c, 0, 10) == YOLOC_ERR_INVALID);
    CHECK(plot_canvas_init(&c, 100, 80) == YOLOC_OK);
    int p[3], r, g, b;
    px_canvas(&c, 50, 40, p);
    CHECK(near_rgb(p, 255, 255, 255, 0));
    /* a 2 px line centred on y = 10 covers rows 9 and 10 */
    plot_draw_box(c.cr, 10, 10, 60, 50, plot_palette(0), 2, NULL, 12);
    palette_u8(0, &r, &g, &b);
    px_canvas(&c, 35, 10, p);
    CHECK_MSG(near_rgb(p, r, g, b, 1), "top edge %d,%d,%d", p[0], p[1], p[2]);
    px_canvas(&c, 10, 30, p);
    CHECK_MSG(near_rgb(p, r, g, b, 1), "left edge %d,%d,%d", p[0], p[1], p[2]);
    px_canvas(&c, 35, 30, p);
    CHECK(near_rgb(p, 255, 255, 255, 0)); /* not filled */
    /* a label tab above the top-left corner, in the box colour */
    plot_draw_box(c.cr, 70, 40, 95, 70, plot_palette(5), 1, "cat", 12);
    palette_u8(5, &r, &g, &b);
    px_canvas(&c, 70, 38, p);
    CHECK_MSG(near_rgb(p, r, g, b, 1), "label tab %d,%d,%d", p[0], p[1], p[2]);
    /* an RGB image at scale 1 lands pixel for pixel */
    uint8_t img[4 * 3 * 3];
    for (int i = 0; i < 36; i++) img[i] = (uint8_t)(i * 7);
    CHECK(plot_draw_rgb(c.cr, img, 4, 3, 20, 60, 1.0) == YOLOC_OK);
    px_canvas(&c, 21, 61, p); /* pixel (1, 1) = index 5 */
    CHECK(near_rgb(p, img[15], img[16], img[17], 0));
    /* CHW floats, clamped */
    float chw[3 * 2 * 1] = {0.5f, 2.0f, 0.0f, -1.0f, 1.0f, 0.25f}; /* w=2 h=1 */
    CHECK(plot_draw_chw(c.cr, chw, 2, 1, 40, 60, 1.0) == YOLOC_OK);
    px_canvas(&c, 40, 60, p);
    CHECK(near_rgb(p, 128, 0, 255, 0));
    px_canvas(&c, 41, 60, p);
    CHECK(near_rgb(p, 255, 0, 64, 0));
    /* saving into a folder that does not exist names the path */
    CHECK_EQ_INT(plot_canvas_save(&c, "/nonexistent-dir/x.png"), YOLOC_ERR_IO);
    CHECK_CONTAINS(yoloc_last_error(), "/nonexistent-dir/x.png");
    plot_canvas_free(&c);
}

static void test_batch(void) {
    enum { N = 5, H = 48, W = 64 };
    float *imgs = malloc(sizeof(float) * N * 3 * H * W);
    for (int i = 0; i < N; i++)
        for (int k = 0; k < 3 * H * W; k++)
            imgs[(size_t)i * 3 * H * W + k] = (40 * i + 20 * (k / (H * W))) / 255.0f;
    float tg[N * 6];
    for (int i = 0; i < N; i++) {
        const float t[6] = {(float)i, 2, 0.5f, 0.5f, 0.5f, 0.5f};
        memcpy(tg + 6 * i, t, sizeof t);
    }
    const char *names[3] = {"a", "b", "car"};
    const char *paths[N] = {"x/im0.jpg", "x/im1.jpg", "x/im2.jpg", "x/im3.jpg", "x/im4.jpg"};
    char path[128];
    snprintf(path, sizeof path, "%s/train_batch0.png", DIR_);
    CHECK(plot_batch(path, imgs, N, H, W, tg, N, names, 3, paths) == YOLOC_OK);
    image im = {0};
    CHECK(image_load(path, &im) == YOLOC_OK);
    CHECK_EQ_INT(im.w, 3 * W); /* 3 columns, 2 rows, scale 1 */
    CHECK_EQ_INT(im.h, 2 * H);
    if (im.data && im.w == 3 * W && im.h == 2 * H) {
        /* tile 4 (row 1, column 1): inside the box, away from edges and label */
        const uint8_t *q = im.data + ((size_t)(H + 30) * im.w + W + 40) * 3;
        CHECK_EQ_INT(q[0], 160);
        CHECK_EQ_INT(q[1], 180);
        CHECK_EQ_INT(q[2], 200);
        /* outside the box in tile 1 */
        q = im.data + ((size_t)(H - 5) * im.w + W + 5) * 3;
        CHECK_EQ_INT(q[0], 40);
        /* the box's left edge (x = 16) in tile 0 is drawn in a colour that is not the image's */
        q = im.data + ((size_t)30 * im.w + 16) * 3;
        CHECK_MSG(abs(q[0] - 0) + abs(q[1] - 20) + abs(q[2] - 40) > 60, "no box edge: %d,%d,%d",
                  q[0], q[1], q[2]);
        /* tile 5 does not exist: white */
        q = im.data + ((size_t)(H + 20) * im.w + 2 * W + 30) * 3;
        CHECK(q[0] == 255 && q[1] == 255 && q[2] == 255);
    }
    image_free(&im);
    /* a big batch is scaled to at most 1920 px and at most 16 images */
    enum { BN = 20, BH = 640, BW = 640 };
    float *big = calloc((size_t)BN * 3 * BH * BW, sizeof(float));
    CHECK(plot_batch(path, big, BN, BH, BW, NULL, 0, NULL, 0, NULL) == YOLOC_OK);
    CHECK(image_load(path, &im) == YOLOC_OK);
    CHECK_EQ_INT(im.w, 1920);
    CHECK_EQ_INT(im.h, 1920);
    image_free(&im);
    CHECK(plot_batch(path, big, 0, BH, BW, NULL, 0, NULL, 0, NULL) == YOLOC_ERR_INVALID);
    free(big);
    free(imgs);
    unlink(path);
}

static void test_labels(void) {
    enum { N = 300 };
    float *lab = malloc(sizeof(float) * N * 5);
    for (int i = 0; i < N; i++) {
        lab[5 * i] = (float)(i % 7 == 0 ? 2 : i % 2); /* class 0/1 many, class 2 few */
        lab[5 * i + 1] = 0.1f + 0.8f * (float)((i * 37) % 100) / 100;
        lab[5 * i + 2] = 0.1f + 0.8f * (float)((i * 53) % 100) / 100;
        lab[5 * i + 3] = 0.05f + 0.3f * (float)((i * 11) % 10) / 10;
        lab[5 * i + 4] = 0.05f + 0.3f * (float)((i * 7) % 10) / 10;
    }
    const char *names[3] = {"person", "bicycle", "traffic light"};
    char path[128];
    snprintf(path, sizeof path, "%s/labels.png", DIR_);
    CHECK(plot_labels(path, lab, N, names, 3) == YOLOC_OK);
    image im = {0};
    CHECK(image_load(path, &im) == YOLOC_OK);
    CHECK_EQ_INT(im.w, 1200);
    CHECK_EQ_INT(im.h, 1200);
    if (im.data) {
        int r, g, b;
        palette_u8(0, &r, &g, &b);
        size_t bar0 = count_colour(&im, r, g, b, 2);
        palette_u8(2, &r, &g, &b);
        size_t bar2 = count_colour(&im, r, g, b, 2);
        /* bars are filled in class colours; class 0 has ~3x the instances of class 2 */
        CHECK_MSG(bar0 > 2000 && bar2 > 200 && bar0 > 2 * bar2, "bar pixels %zu, %zu", bar0, bar2);
        size_t white = count_colour(&im, 255, 255, 255, 0);
        CHECK_MSG(white < (size_t)im.w * im.h * 95 / 100, "almost blank: %zu white pixels", white);
    }
    image_free(&im);
    CHECK(plot_labels(path, lab, N, NULL, 0) == YOLOC_ERR_INVALID);
    /* 80 classes, no names, no boxes: still a figure */
    CHECK(plot_labels(path, lab, 0, NULL, 80) == YOLOC_OK);
    free(lab);
    unlink(path);
}

static void test_lines(void) {
    double x[50], y1[50], y2[50];
    for (int i = 0; i < 50; i++) {
        x[i] = i;
        y1[i] = exp(-i / 10.0);
        y2[i] = i % 10 == 3 ? 0 : 0.5 * exp(-i / 20.0); /* zeros: gaps on a log axis */
    }
    y2[7] = NAN;
    const plot_series s[2] = {{"train/box_loss", x, y1, 50}, {"val/box_loss", x, y2, 50}};
    plot_axes ax = {"loss", "epoch", "value", 1, 1, 0};
    char path[128];
    snprintf(path, sizeof path, "%s/results.png", DIR_);
    CHECK(plot_lines_png(path, 640, 480, s, 2, &ax) == YOLOC_OK);
    image im = {0};
    CHECK(image_load(path, &im) == YOLOC_OK);
    CHECK_EQ_INT(im.w, 640);
    CHECK_EQ_INT(im.h, 480);
    if (im.data) {
        int r, g, b;
        to_u8(plot_series_colour(0), &r, &g, &b);
        size_t c0 = count_colour(&im, r, g, b, 10);
        to_u8(plot_series_colour(1), &r, &g, &b);
        size_t c1 = count_colour(&im, r, g, b, 10);
        CHECK_MSG(c0 > 200 && c1 > 150, "series pixels %zu, %zu", c0, c1);
    }
    image_free(&im);
    /* linear axis, markers, a constant series, an empty one */
    const double flat[3] = {2, 2, 2};
    const plot_series s2[2] = {{"lr", NULL, flat, 3}, {NULL, NULL, flat, 0}};
    plot_axes ax2 = {NULL, NULL, NULL, 0, 1, 1};
    CHECK(plot_lines_png(path, 300, 200, s2, 2, &ax2) == YOLOC_OK);
    CHECK(plot_lines_png(path, 300, 200, NULL, 0, NULL) == YOLOC_OK);
    unlink(path);
}

int main(void) {
    snprintf(DIR_, sizeof DIR_, "/tmp/yoloc_plot_XXXXXX");
    if (!mkdtemp(DIR_)) {
        fprintf(stderr, "mkdtemp failed\n");
        return 1;
    }
    test_ticks();
    test_helpers();
    test_batch();
    test_labels();
    test_lines();
    rmdir(DIR_);
    cairo_debug_reset_static_data(); /* cairo's own caches: freed, so leak checks see yoloc only */
    return test_finish("test_plot");
}
