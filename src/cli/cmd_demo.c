/* yoloc demo: the built-in job of `make demo`.
 * Trains yolov8n from scratch on the built-in synthetic shapes dataset for
 * a few minutes on a CPU, validates it, predicts on freshly generated images
 * (a seed the training never saw) and prints where the plots are.
 * [epochs=12] [imgsz=256] [images=512] [threads=N] [project=runs/demo] */
#include "cli/commands.h"
#include "core/kv.h"
#include "core/log.h"
#include "data/dataset.h"
#include "train/config.h"
#include "train/precision.h"
#include "train/predict.h"
#include "train/trainer.h"
#include "train/weights.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_demo(int argc, char **argv) {
    static const char *const keys[] = {"epochs", "imgsz", "images", "threads", "project", NULL};
    kv_args a;
    long epochs = 12, imgsz = 256, images = 512, threads = 0;
    const char *project = "runs/demo";
    status st = kv_parse(&a, argc, argv);
    if (st == YOLOC_OK) st = kv_int(&a, "epochs", 1, 1000, &epochs);
    if (st == YOLOC_OK) st = kv_int(&a, "imgsz", 64, 1024, &imgsz);
    if (st == YOLOC_OK) st = kv_int(&a, "images", 16, 100000, &images);
    if (st == YOLOC_OK) st = kv_int(&a, "threads", 0, 1024, &threads);
    if (st == YOLOC_OK) st = kv_str(&a, "project", NULL, &project);
    if (st == YOLOC_OK) st = kv_unused(&a, "demo", keys);
    if (st < 0) return cli_fail(st);

    printf("yoloc demo: training yolov8n from scratch on the built-in synthetic shapes dataset\n"
           "(%ld images of 3 classes at %ldx%ld, %ld epochs), then validating and predicting.\n\n",
           images, imgsz, imgsz, epochs);
    /* The settings: Ultralytics' defaults, except a reference batch of 16
     * (one optimizer step per batch of 16: many steps in a short run). */
    char t[9][128];
    snprintf(t[0], sizeof t[0], "data=synth:classes=3,images=%ld,imgsz=%ld,seed=0", images, imgsz);
    snprintf(t[1], sizeof t[1], "imgsz=%ld", imgsz);
    snprintf(t[2], sizeof t[2], "epochs=%ld", epochs);
    snprintf(t[3], sizeof t[3], "threads=%ld", threads);
    snprintf(t[4], sizeof t[4], "project=%s", project);
    snprintf(t[5], sizeof t[5], "model=yolov8n.yaml");
    snprintf(t[6], sizeof t[6], "batch=16");
    snprintf(t[7], sizeof t[7], "nbs=16");
    snprintf(t[8], sizeof t[8], "close_mosaic=%ld", epochs / 4);
    char *targv[9];
    for (int i = 0; i < 9; i++) targv[i] = t[i];
    config c;
    kv_args ta;
    char dir[4096] = "";
    st = config_init(&c);
    if (st == YOLOC_OK) st = kv_parse(&ta, 9, targv);
    if (st == YOLOC_OK) st = config_apply_args(&c, &ta);
    dist one;
    dist_single(&one);
    if (st == YOLOC_OK) st = train_run(&c, &one, dir, sizeof dir);
    config_free(&c);
    if (st < 0) return cli_fail(st);

    /* Predict on images the training never saw (another seed). */
    printf("\npredicting on new synthetic images:\n");
    char best[4200];
    snprintf(best, sizeof best, "%s/weights/best.safetensors", dir);
    /* amp at its default, as the training above */
    model_options mo = {.be = NULL /* the default backend, as the training above */, .norm = NORM_BN, .gn_groups = 32, .bf16 = precision_resolve(1, 0, NULL)};
    model *m = NULL;
    char **names = NULL;
    int nn = 0;
    dataset ds;
    int have_ds = 0;
    predictor p;
    memset(&p, 0, sizeof p);
    char spec[160];
    snprintf(spec, sizeof spec, "synth:classes=3,images=16,val=4,imgsz=%ld,seed=12345", imgsz);
    dataset_options dopt = {.use_cache = 0, .quiet = 1};
    TRY_GOTO(st, weights_open_model(best, NULL, 0, &mo, 0, &m, &names, &nn));
    TRY_GOTO(st, dataset_open(&ds, spec, &dopt));
    have_ds = 1;
    nms_cfg ncfg = NMS_CFG_PREDICT;
    for (size_t i = 0; i < 4 && i < ds.val.nimages; i++) {
        image img;
        TRY_GOTO(st, dataset_load_image(&ds, &ds.val, i, &img));
        st = predict_image(&p, m, &img, (int)imgsz, &ncfg);
        char out[4300];
        snprintf(out, sizeof out, "%s/predict%zu.jpg", dir, i);
        if (st == YOLOC_OK) st = predict_draw(out, &img, p.dets, p.ndet, (const char *const *)names, nn, NULL);
        image_free(&img);
        if (st < 0) goto fail;
        size_t truth = ds.val.images[i].nboxes;
        printf("  %s: %zu objects drawn, %zu detected (conf >= 0.25):", out, truth, p.ndet);
        for (size_t k = 0; k < p.ndet && k < 6; k++) {
            const float *d = p.dets + k * 6;
            int cl = (int)d[5];
            printf(" %s %.2f", names && cl < nn ? names[cl] : "?", d[4]);
        }
        printf("%s\n", p.ndet > 6 ? " ..." : "");
    }
    printf("\nplots: %s/results.png, %s/PR_curve.png, %s/confusion_matrix.png, %s/lr.png\n", dir, dir, dir, dir);
    printf("logs:  %s/results.csv (per epoch), %s/steps.csv (per optimizer step), %s/args.yaml\n", dir, dir, dir);
    printf("try:   build/yoloc predict model=%s source=<an image or a folder>\n", best);
fail:
    predictor_free(&p);
    if (have_ds) dataset_close(&ds);
    model_free(m);
    free(names);
    return st < 0 ? cli_fail(st) : 0;
}
