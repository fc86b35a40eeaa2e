/* yoloc val model=... [weights=...] data=... [split=val] [metric=ultralytics|coco]
 *   [imgsz=640] [batch=16] [conf=0.001] [iou=0.7] [max_det=300] [out=metrics.json]
 * Validates a model on a dataset split and prints the metrics table. */
#include "cli/commands.h"
#include "core/log.h"
#include "data/dataset.h"
#include "eval/coco.h"
#include "io/file.h"
#include "train/bnstats.h"
#include "train/config.h"
#include "train/lrbatch.h"
#include "train/precision.h"
#include "train/trainer.h"
#include "train/validate.h"
#include "train/weights.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_val(int argc, char **argv) {
    config c;
    kv_args a;
    dataset ds;
    int have_ds = 0;
    model *m = NULL;
    val_result vr;
    memset(&vr, 0, sizeof vr);
    status st = config_init(&c);
    if (st == YOLOC_OK) st = kv_parse(&a, argc, argv);
    if (st == YOLOC_OK) st = config_apply_args(&c, &a);
    if (st == YOLOC_OK) config_notes(&c, "val", stdout);
    if (st < 0) goto fail;
    if (c.threads > 0) ops_set_threads((int)c.threads);
    dataset_options dopt = {.use_cache = 1, .quiet = 1};
    int classes[256];
    TRY_GOTO(st, config_dataset_options(&c, "val", classes, 256, &dopt));
    TRY_GOTO(st, dataset_open(&ds, c.data, &dopt));
    have_ds = 1;
    const ds_split *sp = dataset_split(&ds, c.split);
    if (!sp || sp->nimages == 0) {
        st = err_set(YOLOC_ERR_INVALID, "data=%s has no usable '%s' split", c.data, c.split);
        goto fail;
    }
    backend be;
    TRY_GOTO(st, config_backend(&c, &be));
    model_options mo = {.be = be,
                        .norm = lrb_norm(&c, 1),
                        .gn_groups = (int)c.gn_groups,
                        .bf16 = precision_resolve(c.amp, c.given.amp, stdout)};
    TRY_GOTO(st, weights_open_model(c.model, c.weights, ds.nc, &mo, (uint64_t)c.seed, &m, NULL, NULL));
    if (!(c.weights && *c.weights) && !weights_is_file(c.model))
        log_warn("no weights given: validating an untrained model (weights=... or model=W.safetensors / W.pt)");
    val_options vo;
    val_options_default(&vo);
    vo.batch = (int)c.batch;
    vo.imgsz = (int)c.imgsz;
    vo.workers = (int)c.workers;
    val_options_from_config(&vo, &c);
    vo.verbose = 1;
    if (c.bn_stats > 0 && bnstats_model_has_bn(m)) {
        if (ds.train.nimages == 0) {
            st = err_set(YOLOC_ERR_INVALID, "bn_stats=%ld needs training images: data=%s has none", c.bn_stats, c.data);
            goto fail;
        }
        bnstats_options bo = {.images = (int)c.bn_stats, .batch = (int)c.batch, .imgsz = (int)c.imgsz,
                              .workers = (int)c.workers};
        bo.augment = 1; /* the training pipeline of the aug keys given (mosaic=0: as after close_mosaic) */
        bo.seed = bnstats_seed((uint64_t)c.seed);
        train_aug_params(&c, &bo.aug);
        bnstats_result br;
        TRY_GOTO(st, bnstats_recompute(m, model_params(m), model_bufs(m), &ds, &ds.train, &bo, &br));
        printf("BatchNorm statistics recomputed over %d training images (%d batches of %d, %.1f s)\n", br.images,
               br.batches, bo.batch, br.seconds);
    }
    printf("validating %s on %s (%s: %zu images)\n", c.model, c.data, c.split, sp->nimages);
    TRY_GOTO(st, validate_run(m, &ds, sp, &vo, &vr));
    printf("speed: %.1f ms per image (letterbox, forward and NMS), %.1f s in all\n", vr.ms_per_image, vr.seconds);
    if (c.out && *c.out) {
        TRY_GOTO(st, eval_summary_write_json(&vr.sum, c.out));
        printf("metrics written to %s\n", c.out);
    }
    if (c.save_json) { /* Ultralytics' predictions.json, in the val run's folder */
        char dir[4096], path[4200];
        TRY_GOTO(st, file_run_dir(config_project(&c), config_run_name(&c, "val"), (int)c.exist_ok, dir, sizeof dir));
        const char **files = malloc((vr.set.nimages + 1) * sizeof *files);
        if (!files) {
            st = err_set(YOLOC_ERR_NOMEM, "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < vr.set.nimages; i++) files[i] = sp->images[vr.set.images[i].id].path;
        snprintf(path, sizeof path, "%s/predictions.json", dir);
        st = coco_write_predictions(&vr.set, files, path);
        free(files);
        if (st < 0) goto fail;
        printf("predictions written to %s (COCO JSON, as Ultralytics' save_json)\n", path);
    }
fail: /* also the normal exit */
    val_result_free(&vr);
    model_free(m);
    if (have_ds) dataset_close(&ds);
    config_free(&c);
    return st < 0 ? cli_fail(st) : 0;
}
