/* yoloc demo: the built-in default job of `make demo`.
 * Renders an image of the synthetic shapes dataset, scales it to 640x640,
 * runs yolov8n (seeded weights) forward and prints the strongest candidate
 * boxes and the timing. [imgsz=640] [seed=0] [threads=N] */
#include "cli/commands.h"
#include "core/kv.h"
#include "core/log.h"
#include "core/timer.h"
#include "data/dataset.h"
#include "nn/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    float score;
    int anchor, cls;
} cand;

static int cmp_cand(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return x->anchor - y->anchor;
}

int cmd_demo(int argc, char **argv) {
    static const char *const keys[] = {"imgsz", "seed", "threads", NULL};
    kv_args a;
    long imgsz = 640, seed = 0, threads = 0;
    status st = kv_parse(&a, argc, argv);
    if (st == YOLOC_OK) st = kv_int(&a, "imgsz", 64, 2048, &imgsz);
    if (st == YOLOC_OK) st = kv_int(&a, "seed", 0, 0x7fffffff, &seed);
    if (st == YOLOC_OK) st = kv_int(&a, "threads", 0, 1024, &threads);
    if (st == YOLOC_OK) st = kv_unused(&a, "demo", keys);
    if (st == YOLOC_OK && imgsz % 32) st = err_set(YOLOC_ERR_INVALID, "key 'imgsz': must be a multiple of 32");
    if (st < 0) return cli_fail(st);
    if (threads > 0) ops_set_threads((int)threads);

    dataset ds;
    dataset_options dopt = {.use_cache = 0, .quiet = 1};
    if ((st = dataset_open(&ds, "synth:classes=3,images=4,imgsz=320", &dopt)) < 0) return cli_fail(st);
    image img;
    if ((st = dataset_load_image(&ds, &ds.train, 0, &img)) < 0) {
        dataset_close(&ds);
        return cli_fail(st);
    }
    int S = (int)imgsz;
    float *x = malloc((size_t)3 * S * S * sizeof(float));
    for (int c = 0; c < 3; c++) /* nearest-neighbour resize to S x S, CHW in [0, 1] */
        for (int yy = 0; yy < S; yy++)
            for (int xx = 0; xx < S; xx++) {
                int sx = xx * img.w / S, sy = yy * img.h / S;
                x[((size_t)c * S + yy) * S + xx] = img.data[((size_t)sy * img.w + sx) * 3 + c] / 255.0f;
            }
    printf("demo: synthetic image %dx%d with %zu objects, scaled to %dx%d\n", img.w, img.h,
           ds.train.images[0].nboxes, S, S);
    image_free(&img);

    model_spec spec;
    model *m = NULL;
    if ((st = model_spec_load(&spec, "yolov8n.yaml", ds.nc)) < 0) goto fail;
    model_options opt = {.be = BACKEND_CPU, .norm = NORM_BN, .gn_groups = 32};
    st = model_create(&m, &spec, &opt, (uint64_t)seed);
    model_spec_free(&spec);
    if (st < 0) goto fail;
    if ((st = model_plan(m, 1, S, S, 0)) < 0) goto fail;
    const float *o;
    double t0 = time_now();
    if ((st = model_forward(m, x, &o)) < 0) goto fail; /* first call: primitive warm-up */
    double t1 = time_now();
    double best = 1e30;
    for (int r = 0; r < 5; r++) {
        double s = time_now();
        if ((st = model_forward(m, x, &o)) < 0) goto fail;
        double d = time_now() - s;
        if (d < best) best = d;
    }
    int A = model_anchors(m), C = model_out_channels(m), nc = model_nc(m);
    cand *cs = malloc((size_t)A * sizeof *cs);
    for (int i = 0; i < A; i++) {
        const float *r = o + (size_t)i * C;
        int k = 0;
        for (int c = 1; c < nc; c++)
            if (r[4 + c] > r[4 + k]) k = c;
        cs[i] = (cand){r[4 + k], i, k};
    }
    qsort(cs, (size_t)A, sizeof *cs, cmp_cand);
    int above = 0;
    for (int i = 0; i < A; i++) above += cs[i].score >= 0.25f;
    printf("yolov8n (%d classes, untrained weights from seed %ld): %d anchors, %d detections at conf >= 0.25\n",
           nc, seed, A, above);
    printf("strongest candidates (class, score, box cx cy w h in pixels):\n");
    for (int i = 0; i < 5 && i < A; i++) {
        const float *r = o + (size_t)cs[i].anchor * C;
        printf("  %-10s %.5f  %7.1f %7.1f %7.1f %7.1f\n", ds.names[cs[i].cls], cs[i].score, r[0], r[1], r[2], r[3]);
    }
    printf("forward: first call %.1f ms, then %.1f ms per image (best of 5, %d threads)\n", (t1 - t0) * 1e3,
           best * 1e3, ops_get_threads());
    printf("an untrained model finds nothing yet: training arrives with `yoloc train`.\n");
    free(cs);
    free(x);
    model_free(m);
    dataset_close(&ds);
    return 0;
fail:
    free(x);
    model_free(m);
    dataset_close(&ds);
    return cli_fail(st);
}
