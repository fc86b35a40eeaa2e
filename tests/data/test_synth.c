/* The synthetic dataset: spec parsing, determinism (same seed -> same boxes
 * and pixels, also when rendered from several threads at once), box
 * tightness against the rendered pixels (plain background), the spread of
 * sizes and classes, and the export -> dataset_open round trip. */
#include "harness.h"

#include "data/dataset.h"
#include "data/export.h"
#include "data/synth.h"

#include <omp.h>
#include <stdint.h>

static void test_parse(void) {
    synth_params p;
    CHECK_EQ_INT(synth_parse("synth", &p), YOLOC_OK);
    CHECK(p.classes == 3 && p.ntrain == 512 && p.nval == 128 && p.ntest == 0 && p.imgsz == 320 &&
          p.seed == 0 && p.plain == 0);
    CHECK_EQ_INT(synth_parse("synth:classes=8,images=40,val=7,test=3,imgsz=64,seed=9", &p),
                 YOLOC_OK);
    CHECK(p.classes == 8 && p.ntrain == 40 && p.nval == 7 && p.ntest == 3 && p.imgsz == 64 &&
          p.seed == 9);
    CHECK_EQ_INT(synth_parse("synth:images=10", &p), YOLOC_OK);
    CHECK_EQ_INT(p.nval, 2);
    CHECK_EQ_INT(synth_parse("synth:colours=3", &p), YOLOC_ERR_INVALID);
    CHECK_CONTAINS(yoloc_last_error(), "unknown key 'colours'");
    CHECK_EQ_INT(synth_parse("synth:classes=9", &p), YOLOC_ERR_INVALID);
    CHECK_CONTAINS(yoloc_last_error(), "classes=9 is outside [1, 8]");
    CHECK_EQ_INT(synth_parse("synth:imgsz=abc", &p), YOLOC_ERR_INVALID);
    CHECK(!synth_is_spec("synthetic.yaml"));
    CHECK(synth_is_spec("synth:classes=2"));
}

static int boxes_equal(const ds_image *a, const ds_image *b) {
    if (a->nboxes != b->nboxes) return 0;
    for (size_t k = 0; k < a->nboxes; k++)
        if (memcmp(&a->boxes[k], &b->boxes[k], sizeof(ds_box)) != 0) return 0;
    return 1;
}

static void test_determinism(void) {
    dataset a, b, c;
    CHECK_EQ_INT(dataset_open(&a, "synth:classes=8,images=64,val=16,imgsz=96,seed=3", NULL),
                 YOLOC_OK);
    CHECK_EQ_INT(dataset_open(&b, "synth:classes=8,images=64,val=16,imgsz=96,seed=3", NULL),
                 YOLOC_OK);
    CHECK_EQ_INT(dataset_open(&c, "synth:classes=8,images=64,val=16,imgsz=96,seed=4", NULL),
                 YOLOC_OK);
    CHECK_EQ_INT(a.nc, 8);
    CHECK_STR(a.names[0], "rectangle");
    CHECK_STR(a.names[7], "arrow");
    CHECK_EQ_INT(a.train.nimages, 64);
    CHECK_EQ_INT(a.val.nimages, 16);
    CHECK(dataset_split(&a, "test") == NULL);
    size_t same = 0, diff_seed = 0;
    for (size_t i = 0; i < 64; i++) {
        same += boxes_equal(&a.train.images[i], &b.train.images[i]);
        diff_seed += boxes_equal(&a.train.images[i], &c.train.images[i]);
    }
    CHECK_EQ_INT(same, 64);
    CHECK_MSG(diff_seed < 4, "%zu of 64 images identical across seeds", diff_seed);
    /* val differs from train */
    size_t tv = 0;
    for (size_t i = 0; i < 16; i++) tv += boxes_equal(&a.train.images[i], &a.val.images[i]);
    CHECK_MSG(tv < 2, "%zu val images equal to train images", tv);
    /* pixels: serial vs 4 threads in reverse order, bit-identical */
    uint8_t *ref[64];
    for (size_t i = 0; i < 64; i++) {
        image img;
        CHECK_EQ_INT(dataset_load_image(&a, &a.train, i, &img), YOLOC_OK);
        ref[i] = img.data;
        CHECK(img.w == 96 && img.h == 96);
    }
    int mismatch = 0;
#pragma omp parallel for num_threads(4) schedule(dynamic, 1) reduction(+ : mismatch)
    for (int k = 63; k >= 0; k--) {
        image img;
        if (dataset_load_image(&b, &b.train, (size_t)k, &img) != YOLOC_OK) {
            mismatch++;
            continue;
        }
        if (!ref[k] || memcmp(img.data, ref[k], 96 * 96 * 3) != 0) mismatch++;
        image_free(&img);
    }
    CHECK_EQ_INT(mismatch, 0);
    for (size_t i = 0; i < 64; i++) free(ref[i]);
    image img;
    CHECK_EQ_INT(dataset_load_image(&a, &a.train, 64, &img), YOLOC_ERR_INVALID);
    CHECK_EQ_INT(dataset_load_image(&a, &c.train, 0, &img), YOLOC_ERR_INVALID);
    dataset_close(&a);
    dataset_close(&b);
    dataset_close(&c);
}

/* Statistics that make the dataset useful: every class appears, sizes span
 * tiny to large, a few backgrounds, boxes inside the image. */
static void test_spread(void) {
    dataset ds;
    CHECK_EQ_INT(dataset_open(&ds, "synth:classes=8,images=400,imgsz=320", NULL), YOLOC_OK);
    size_t per_class[8] = {0}, tiny = 0, large = 0, bad = 0;
    for (size_t i = 0; i < ds.train.nimages; i++) {
        const ds_image *im = &ds.train.images[i];
        for (size_t k = 0; k < im->nboxes; k++) {
            const ds_box *b = &im->boxes[k];
            if (b->cls < 0 || b->cls >= 8 || b->w <= 0 || b->h <= 0 || b->cx - b->w / 2 < 0 ||
                b->cx + b->w / 2 > 1 || b->cy - b->h / 2 < 0 || b->cy + b->h / 2 > 1) {
                bad++;
                continue;
            }
            per_class[b->cls]++;
            double side = fmax(b->w, b->h) * 320;
            tiny += side < 14;
            large += side > 0.4 * 320;
        }
    }
    CHECK_EQ_INT(bad, 0);
    for (int c = 0; c < 8; c++)
        CHECK_MSG(per_class[c] > 80, "class %d: %zu boxes", c, per_class[c]);
    CHECK_MSG(tiny > 40, "only %zu boxes under 14 px", tiny);
    CHECK_MSG(large > 40, "only %zu boxes over 40 %% of the image", large);
    CHECK_MSG(ds.train.nbackgrounds >= 2 && ds.train.nbackgrounds <= 30, "%zu backgrounds of 400",
              ds.train.nbackgrounds);
    CHECK_MSG(ds.train.nboxes > 1000 && ds.train.nboxes < 2400, "%zu boxes in 400 images",
              ds.train.nboxes);
    dataset_close(&ds);
}

/* On a plain background the pixels that differ from the background must
 * span exactly the box of every shape that overlaps no other box. */
static void test_tight_boxes(void) {
    dataset plain, noisy;
    const int N = 160;
    CHECK_EQ_INT(dataset_open(&plain, "synth:classes=8,images=60,imgsz=160,seed=11,plain=1", NULL),
                 YOLOC_OK);
    CHECK_EQ_INT(dataset_open(&noisy, "synth:classes=8,images=60,imgsz=160,seed=11", NULL),
                 YOLOC_OK);
    size_t checked = 0, worst_i = 0;
    double worst = 0;
    char worst_msg[200] = "";
    for (size_t i = 0; i < plain.train.nimages; i++) {
        const ds_image *im = &plain.train.images[i];
        CHECK(boxes_equal(im, &noisy.train.images[i])); /* plain=1 changes only the background */
        image img;
        if (dataset_load_image(&plain, &plain.train, i, &img) != YOLOC_OK) {
            CHECK(0);
            continue;
        }
        /* background colour: the most common pixel value along the border */
        const uint8_t *bgc = img.data;
        int bestn = -1;
        for (int t = 0; t < 4 * N; t += 7) {
            int x = t < N ? t : t < 2 * N ? N - 1 : t < 3 * N ? 3 * N - 1 - t : 0;
            int y = t < N ? 0 : t < 2 * N ? t - N : t < 3 * N ? N - 1 : 4 * N - 1 - t;
            const uint8_t *c = img.data + ((size_t)y * N + x) * 3;
            int n = 0;
            for (int u = 0; u < 4 * N; u += 7) {
                int xx = u < N ? u : u < 2 * N ? N - 1 : u < 3 * N ? 3 * N - 1 - u : 0;
                int yy = u < N ? 0 : u < 2 * N ? u - N : u < 3 * N ? N - 1 : 4 * N - 1 - u;
                n += memcmp(img.data + ((size_t)yy * N + xx) * 3, c, 3) == 0;
            }
            if (n > bestn) bestn = n, bgc = c;
        }
        uint8_t bg[3] = {bgc[0], bgc[1], bgc[2]};
        for (size_t k = 0; k < im->nboxes; k++) {
            const ds_box *b = &im->boxes[k];
            double x0 = (b->cx - b->w / 2) * N, x1 = (b->cx + b->w / 2) * N;
            double y0 = (b->cy - b->h / 2) * N, y1 = (b->cy + b->h / 2) * N;
            int alone = 1;
            for (size_t j = 0; j < im->nboxes && alone; j++) {
                if (j == k) continue;
                const ds_box *o = &im->boxes[j];
                double ox0 = (o->cx - o->w / 2) * N - 3, ox1 = (o->cx + o->w / 2) * N + 3;
                double oy0 = (o->cy - o->h / 2) * N - 3, oy1 = (o->cy + o->h / 2) * N + 3;
                if (ox0 < x1 && x0 < ox1 && oy0 < y1 && y0 < oy1) alone = 0;
            }
            if (!alone) continue;
            /* pixel box of "differs from background by > 40" within the box + 3 px */
            int px0 = N, py0 = N, px1 = -1, py1 = -1;
            for (int y = (int)fmax(0, y0 - 3); y < (int)fmin(N, y1 + 3); y++)
                for (int x = (int)fmax(0, x0 - 3); x < (int)fmin(N, x1 + 3); x++) {
                    const uint8_t *c = img.data + ((size_t)y * N + x) * 3;
                    int d = abs(c[0] - bg[0]) + abs(c[1] - bg[1]) + abs(c[2] - bg[2]);
                    if (d > 40) {
                        px0 = x < px0 ? x : px0, px1 = x > px1 ? x : px1;
                        py0 = y < py0 ? y : py0, py1 = y > py1 ? y : py1;
                    }
                }
            if (px1 < 0) continue; /* shape colour too close to the background to see */
            double err = fmax(fmax(fabs(px0 - x0), fabs(px1 + 1 - x1)),
                              fmax(fabs(py0 - y0), fabs(py1 + 1 - y1)));
            if (err > worst) {
                worst = err, worst_i = i;
                snprintf(worst_msg, sizeof worst_msg,
                         "class %d: box x %.2f-%.2f y %.2f-%.2f, pixels x %d-%d y %d-%d", b->cls,
                         x0, x1, y0, y1, px0, px1 + 1, py0, py1 + 1);
            }
            checked++;
        }
        image_free(&img);
    }
    CHECK_MSG(checked > 60, "only %zu isolated shapes checked", checked);
    CHECK_MSG(worst <= 1.5, "a box is off its pixels by %.2f px (image %zu, %s)", worst, worst_i,
              worst_msg);
    printf("tight boxes: %zu isolated shapes, worst edge error %.2f px\n", checked, worst);
    dataset_close(&plain);
    dataset_close(&noisy);
}

static void test_export_round_trip(void) {
    char dir[] = "/tmp/yoloc_test_synth_XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0);
        return;
    }
    dataset ds, back;
    CHECK_EQ_INT(dataset_open(&ds, "synth:classes=5,images=24,val=6,test=2,imgsz=64,seed=5", NULL),
                 YOLOC_OK);
    CHECK_EQ_INT(dataset_export(&ds, dir), YOLOC_OK);
    char yaml[256];
    snprintf(yaml, sizeof yaml, "%s/data.yaml", dir);
    dataset_options opt = {.use_cache = 1, .quiet = 1};
    CHECK_EQ_INT(dataset_open(&back, yaml, &opt), YOLOC_OK);
    CHECK_EQ_INT(back.nc, 5);
    for (int k = 0; k < 5 && back.names; k++) CHECK_STR(back.names[k], ds.names[k]);
    const char *names[3] = {"train", "val", "test"};
    for (int s = 0; s < 3; s++) {
        const ds_split *a = dataset_split(&ds, names[s]), *b = dataset_split(&back, names[s]);
        CHECK(a && b);
        if (!a || !b) continue;
        CHECK_EQ_INT(b->nimages, a->nimages);
        CHECK_EQ_INT(b->nboxes, a->nboxes);
        CHECK_EQ_INT(b->ncorrupt + b->ndropped + b->nproblems, 0);
        CHECK_EQ_INT(b->nbackgrounds, a->nbackgrounds);
        double maxd = 0;
        size_t bad_pixels = 0;
        for (size_t i = 0; i < a->nimages && i < b->nimages; i++) {
            const ds_image *x = &a->images[i], *y = &b->images[i];
            CHECK_EQ_INT(y->nboxes, x->nboxes);
            for (size_t k = 0; k < x->nboxes && k < y->nboxes; k++) {
                CHECK_EQ_INT(y->boxes[k].cls, x->boxes[k].cls);
                maxd = fmax(maxd, fabs(y->boxes[k].cx - x->boxes[k].cx));
                maxd = fmax(maxd, fabs(y->boxes[k].cy - x->boxes[k].cy));
                maxd = fmax(maxd, fabs(y->boxes[k].w - x->boxes[k].w));
                maxd = fmax(maxd, fabs(y->boxes[k].h - x->boxes[k].h));
            }
            image p, q;
            if (dataset_load_image(&ds, a, i, &p) == YOLOC_OK &&
                dataset_load_image(&back, b, i, &q) == YOLOC_OK) {
                bad_pixels +=
                    p.w != q.w || p.h != q.h || memcmp(p.data, q.data, (size_t)p.w * p.h * 3) != 0;
                image_free(&q);
            } else {
                bad_pixels++;
            }
            image_free(&p);
        }
        CHECK_MSG(maxd <= 1.01e-6, "%s: boxes differ by %g after the round trip", names[s], maxd);
        CHECK_EQ_INT(bad_pixels, 0);
    }
    dataset_close(&back);
    dataset_close(&ds);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

int main(void) {
    test_parse();
    test_determinism();
    test_spread();
    test_tight_boxes();
    test_export_round_trip();
    return test_finish("test_synth");
}
