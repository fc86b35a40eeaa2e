/* yoloc bench model=... imgsz=... batch=... [amp=True] [threads=N] [reps=5]
 *   [out=bench.json] [seed=0] [backend=cpu] [norm=bn] [optimizer=SGD] ...
 * Times a training step, the eval forward and the predict latency of a
 * model on a fixed synthetic batch, one process (src/train/bench.h); prints
 * the report and writes it as JSON (out=, default bench.json; out='' for
 * none). */
#include "cli/commands.h"
#include "train/bench.h"
#include "train/config.h"
#include "train/lrbatch.h"
#include "train/recipe.h"
#include "train/precision.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The keys bench reads; any other key would be silently ignored, so it is refused. */
static const char *const BENCH_KEYS[] = {"model", "weights", "imgsz", "batch", "reps", "amp", "threads", "out",
                                         "seed", "backend", "norm", "gn_groups", "optimizer", "lr0", "momentum",
                                         "weight_decay", "max_norm", "nbs", "box", "cls", "dfl",
                                         "label_smoothing", "cfg", NULL};

static status check_keys(const kv_args *a) {
    for (int i = 0; i < a->n; i++) {
        int ok = 0;
        for (int k = 0; BENCH_KEYS[k]; k++)
            if (strcmp(a->keys[i], BENCH_KEYS[k]) == 0) ok = 1;
        if (!ok) {
            char list[512] = "";
            for (int k = 0; BENCH_KEYS[k]; k++) {
                size_t o = strlen(list);
                snprintf(list + o, sizeof list - o, "%s%s", k ? ", " : "", BENCH_KEYS[k]);
            }
            return err_set(YOLOC_ERR_INVALID, "key '%s' is not used by 'yoloc bench' (its keys: %s)", a->keys[i],
                           list);
        }
    }
    return YOLOC_OK;
}

int cmd_bench(int argc, char **argv) {
    config c;
    kv_args a;
    bench_result *r = NULL;
    recipe *rc = NULL;
    status st = config_init(&c);
    if (st == YOLOC_OK) st = kv_parse(&a, argc, argv);
    if (st == YOLOC_OK) st = check_keys(&a);
    if (st == YOLOC_OK) st = config_apply_args(&c, &a);
    if (st == YOLOC_OK) config_notes(&c, "bench", stdout);
    if (st < 0) goto fail;
    if (c.batch < 1 || c.batch != floor(c.batch)) {
        st = err_set(YOLOC_ERR_INVALID,
                     "key 'batch': yoloc bench needs a whole number of images >= 1 (got %g; auto batch is for "
                     "yoloc train)",
                     c.batch);
        goto fail;
    }
    if (c.threads > 0) ops_set_threads((int)c.threads);
    backend be;
    if ((st = config_backend(&c, &be)) < 0) goto fail;
    int bf16 = precision_resolve(c.amp, c.given.amp, stdout);
    /* the training step's optimizer settings: the recipe of this batch (no
     * dataset: optimizer=auto as for a long training); its guard rails are
     * for trainings, a benchmark of batch 1 still runs */
    recipe_facts rf = {.processes = 1, .train_images = 0, .nc = 0};
    rc = malloc(sizeof *rc);
    if (!rc) {
        st = err_set(YOLOC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    st = recipe_resolve(&c, &rf, NULL, rc);
    if (st < 0 && rc->lp.refused) {
        err_clear();
        st = YOLOC_OK;
    }
    if (st < 0) goto fail;
    bench_options o = {
        .model = c.model,
        .weights = c.weights,
        .imgsz = (int)c.imgsz,
        .batch = (int)c.batch,
        .reps = (int)c.reps,
        .seed = (uint64_t)c.seed,
        .mopt = {.be = be,
                 .norm = rc->norm,
                 .gn_groups = (int)c.gn_groups,
                 .bf16 = bf16},
        .optimizer = rc->optimizer,
        .lr = rc->sc.lr_peak[1],
        .momentum = rc->momentum,
        .weight_decay = rc->weight_decay,
        .max_norm = c.max_norm,
        .nbs = (int)c.nbs,
        .loss = {.gains = {(float)c.box, (float)c.cls, (float)c.dfl}, .label_smoothing = (float)c.label_smoothing},
        .box_given = c.given.box,
        .cls_given = c.given.cls,
        .amp_requested = c.amp,
    };
    r = calloc(1, sizeof *r);
    if (!r) {
        st = err_set(YOLOC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    printf("benchmarking %s: batch %d at %d, %d repeats after a warm-up ...\n", c.model, o.batch, o.imgsz, o.reps);
    fflush(stdout);
    TRY_GOTO(st, bench_run(&o, r));
    bench_print(r, stdout, BENCH_TOP_LAYERS);
    const char *out = c.given.out ? c.out : "bench.json";
    if (out && *out) {
        TRY_GOTO(st, bench_write_json(r, out));
        printf("written to %s\n", out);
    }
fail: /* also the normal exit */
    free(r);
    free(rc);
    config_free(&c);
    return st < 0 ? cli_fail(st) : 0;
}
