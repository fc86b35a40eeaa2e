/* The trainer, end to end on a tiny model and the synthetic dataset:
 *  - steps.csv's per-step LR and momentum equal the closed-form schedule
 *    (cos, linear, step, const, ultralytics; with and without warmup; with
 *    accumulation and a partial group at each epoch's end) to 1e-12;
 *  - batch=8 accumulate=2 gives the weights of batch=16 accumulate=1 for a
 *    GroupNorm model (augmentation off) to 1e-5 after 20 optimizer steps;
 *  - bad input: unknown key, wrong type, missing data.yaml, weights of
 *    another model, unwritable project folder.
 *  - with few forward passes per epoch the saved (EMA) weights carry
 *    BatchNorm statistics recomputed for them (train/bnstats.h): a
 *    recomputation from the saved file gives them again; with bn_stats=0
 *    they are the running averages, which it does not;
 * (Killing and resuming, and a full disk, are in test_train_cli.sh: a fork
 * after OpenMP has started is not safe, so those run the yoloc binary.)
 * ctest-labels: train */
#include "harness.h"
#include "io/file.h"
#include "io/safetensors.h"
#include "ops/backend.h"
#include "train/bnstats.h"
#include "train/config.h"
#include "train/lrbatch.h"
#include "train/trainer.h"
#include "train/weights.h"
#include "train_inproc.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char TMP[256];
static const char *TINY = YOLOC_SOURCE_DIR "/tests/train/yolov8t.yaml";

/* Runs `yoloc train` with the given key=value tokens (NULL-terminated);
 * returns the status; dir receives the run directory. */
static status train(char *dir, size_t cap, ...) {
    const char *toks[64];
    int n = 0;
    va_list ap;
    va_start(ap, cap);
    for (const char *s; (s = va_arg(ap, const char *)) && n < 64;) toks[n++] = s;
    va_end(ap);
    return train_tokens(dir, cap, n, toks);
}

typedef struct {
    long step;
    int epoch;
    double lr[3], mom;
} row;

static int read_steps(const char *dir, row *rows, int cap) {
    char p[512], *text;
    size_t len;
    snprintf(p, sizeof p, "%s/steps.csv", dir);
    if (file_read_all(p, 1 << 24, &text, &len) < 0) return -1;
    int n = 0;
    char *line = strchr(text, '\n');
    while (line && line[1] && n < cap) {
        line++;
        row *r = &rows[n++];
        char *q = line;
        r->step = strtol(q, &q, 10);
        r->epoch = (int)strtol(q + 1, &q, 10);
        for (int k = 0; k < 3; k++) r->lr[k] = strtod(q + 1, &q);
        r->mom = strtod(q + 1, &q);
        line = strchr(line, '\n');
    }
    free(text);
    return n;
}

/* yoloc kinds: the documented closed form (sched.h), independent of sched.c. */
static void expect_yoloc(const char *kind, long t, long W, long T, double peak, double lrf, double wbl,
                         double wm, double m, double out[4]) {
    if (W > T - 1) W = T - 1;
    if (t < W) {
        double f = (double)t / W;
        out[0] = wbl + (peak - wbl) * f;
        out[1] = out[2] = peak * f;
        out[3] = wm + (m - wm) * f;
        return;
    }
    double p = T - 1 == W ? 1.0 : (double)(t - W) / (double)(T - 1 - W), v = peak;
    if (!strcmp(kind, "cos")) v = peak * (lrf + (1 - lrf) * (1 + cos(M_PI * p)) / 2);
    if (!strcmp(kind, "linear")) v = peak * ((1 - p) + lrf * p);
    if (!strcmp(kind, "step")) v = peak * pow(lrf, ((p >= 0.8) + (p >= 0.9)) / 2.0);
    out[0] = out[1] = out[2] = v;
    out[3] = m;
}

static int near12(double a, double b) { return fabs(a - b) <= 1e-12 * fmax(fabs(b), 1e-30); }

static void test_schedules(void) {
    /* 22 images, batch 4 -> 6 batches per epoch (the last of 2 images);
     * nbs 16 -> accumulate 4: 2 optimizer steps per epoch, the second with
     * 2 batches; 3 epochs -> 6 steps. */
    static const struct {
        const char *sched, *warmup;
    } cases[] = {{"cos", "1.0"}, {"cos", "0"}, {"linear", "0.5"}, {"step", "0"}, {"const", "1.0"}, {"ultralytics", "1.0"}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char dir[512], name[64], sched[64], warm[64], proj[300];
        snprintf(name, sizeof name, "name=sched%zu", k);
        snprintf(sched, sizeof sched, "sched=%s", cases[k].sched);
        snprintf(warm, sizeof warm, "warmup_epochs=%s", cases[k].warmup);
        snprintf(proj, sizeof proj, "project=%s/runs", TMP);
        char modelarg[512];
        snprintf(modelarg, sizeof modelarg, "model=%s", TINY);
        status st = train(dir, sizeof dir, modelarg, "data=synth:classes=2,images=22,val=4,imgsz=64", "imgsz=64",
                          "batch=4", "nbs=16", "epochs=3", "optimizer=SGD", "lr0=0.01", "workers=1", "val=False",
                          "plots=False", sched, warm, proj, name, (char *)NULL);
        CHECK_MSG(st == YOLOC_OK, "%s: %s", cases[k].sched, yoloc_last_error());
        if (st < 0) continue;
        row rows[64];
        int n = read_steps(dir, rows, 64);
        int ultra = !strcmp(cases[k].sched, "ultralytics");
        double we = atof(cases[k].warmup);
        if (!ultra) {
            CHECK_EQ_INT(n, 6);
            long spe = 2, T = 6, W = (long)nearbyint(we * spe);
            double peak = 0.01 * 16.0 / 16.0; /* B_eff 16 = nbs: x1 */
            int bad = 0;
            for (int i = 0; i < n; i++) {
                double e[4];
                expect_yoloc(cases[k].sched, rows[i].step, W, T, peak, 0.01, 0.1, 0.8, 0.937, e);
                for (int g = 0; g < 3; g++) bad += !near12(rows[i].lr[g], e[g]);
                bad += !near12(rows[i].mom, e[3]);
                if (bad == 1) {
                    fprintf(stderr, "  %s step %ld: lr %.17g %.17g %.17g mom %.17g, expected %.17g %.17g %.17g %.17g\n",
                            cases[k].sched, rows[i].step, rows[i].lr[0], rows[i].lr[1], rows[i].lr[2], rows[i].mom,
                            e[0], e[1], e[2], e[3]);
                    bad++;
                }
            }
            CHECK_MSG(bad == 0, "%s warmup %s: steps.csv differs from the closed form", cases[k].sched,
                      cases[k].warmup);
        } else {
            /* Ultralytics: nb = 6 batches per epoch, nw = max(round(1.0*6), 100) = 100
             * > all 18 iterations, so the whole run is warmup. The optimizer steps
             * when ni - last_opt_step >= accumulate, last_opt_step starting at -1,
             * with accumulate = max(1, round(interp(ni, [0, 100], [1, 16/4]))):
             * 1 until ni = 16, 2 from ni = 17 (1.51 rounds to 2). */
            long steps_at[32];
            int ns = 0;
            for (long ni = 0, last = -1; ni < 18; ni++) {
                long acc = (long)fmax(1.0, nearbyint(1.0 + 3.0 * ni / 100.0));
                if (ni - last >= acc) {
                    steps_at[ns++] = ni;
                    last = ni;
                }
            }
            CHECK_EQ_INT(n, ns);
            int bad = 0;
            for (int i = 0; i < n && i < ns; i++) {
                long ni = steps_at[i];
                int epoch = (int)(ni / 6);
                double lf = fmax(1.0 - (double)epoch / 3, 0) * (1 - 0.01) + 0.01; /* linear: cos_lr False */
                double target = 0.01 * lf, f = (double)ni / 100.0;
                double e0 = 0.1 + (target - 0.1) * f, e1 = target * f, em = 0.8 + (0.937 - 0.8) * f;
                if (!near12(rows[i].lr[0], e0) || !near12(rows[i].lr[1], e1) || !near12(rows[i].lr[2], e1) ||
                    !near12(rows[i].mom, em)) {
                    if (!bad)
                        fprintf(stderr, "  ultralytics row %d (ni %ld): %.17g %.17g %.17g, expected %.17g %.17g %.17g\n",
                                i, ni, rows[i].lr[0], rows[i].lr[1], rows[i].mom, e0, e1, em);
                    bad++;
                }
            }
            CHECK_MSG(bad == 0, "ultralytics: %d rows differ from Ultralytics' formulas", bad);
        }
    }
}

/* L2-relative differences of the raw ("train.") weights of two checkpoints,
 * of the weights themselves and of their updates from w0 (the initial
 * weights, in the model's layout, looked up by name). */
static void weights_rel_diff(const char *a, const char *b, model *m0, double *rel_w, double *rel_u) {
    *rel_w = *rel_u = 1e9;
    safetensors fa, fb;
    if (st_open(&fa, a) < 0) return;
    if (st_open(&fb, b) < 0) {
        st_close(&fa);
        return;
    }
    double dw = 0, nw = 0, nu = 0;
    size_t compared = 0;
    for (size_t t = 0; t < model_num_tensors(m0); t++) {
        const param_info *p = model_tensor(m0, t);
        if (p->buffer) continue;
        char name[160];
        snprintf(name, sizeof name, "train.%s", p->name);
        const st_entry *e = st_find(&fa, name), *f = st_find(&fb, name);
        if (!e || !f || e->end - e->begin != p->numel * 4 || f->end - f->begin != p->numel * 4) goto done;
        const float *x = st_data(&fa, e), *y = st_data(&fb, f), *w0 = model_tensor_data(m0, p);
        for (size_t j = 0; j < p->numel; j++) {
            dw += ((double)x[j] - y[j]) * ((double)x[j] - y[j]);
            nw += (double)x[j] * x[j];
            nu += ((double)x[j] - w0[j]) * ((double)x[j] - w0[j]);
        }
        compared++;
    }
    if (compared && nw > 0 && nu > 0) {
        *rel_w = sqrt(dw / nw);
        *rel_u = sqrt(dw / nu);
    }
done:
    st_close(&fa);
    st_close(&fb);
}

static void test_accumulation(void) {
    char d16[512], d8[512], proj[300], modelarg[512];
    snprintf(proj, sizeof proj, "project=%s/runs", TMP);
    snprintf(modelarg, sizeof modelarg, "model=%s", TINY);
    /* 320 images / 16 per step = 20 optimizer steps; no augmentation */
    /* lr0 0.001 without the 0.1 bias warmup: at aggressive settings the
     * training is chaotic and amplifies the rounding differences of summing
     * 8 + 8 images instead of 16 */
#define ACC_ARGS modelarg, "data=synth:classes=2,images=320,val=4,imgsz=64", "imgsz=64", "nbs=16", "epochs=1", \
        "optimizer=SGD", "lr0=0.001", "warmup_epochs=0", "workers=2", "val=False", "plots=False", "norm=gn", \
        "gn_groups=4", "mosaic=0", "hsv_h=0", "hsv_s=0", "hsv_v=0", "fliplr=0", "translate=0", "scale=0", \
        "close_mosaic=0", proj
    status a = train(d16, sizeof d16, ACC_ARGS, "name=acc16", "batch=16", "accumulate=1", (char *)NULL);
    status b = train(d8, sizeof d8, ACC_ARGS, "name=acc8", "batch=8", "accumulate=2", (char *)NULL);
#undef ACC_ARGS
    CHECK_MSG(a == YOLOC_OK && b == YOLOC_OK, "%s", yoloc_last_error());
    if (a < 0 || b < 0) return;
    char pa[600], pb[600];
    snprintf(pa, sizeof pa, "%s/weights/last.safetensors", d16);
    snprintf(pb, sizeof pb, "%s/weights/last.safetensors", d8);
    /* the initial weights: the same model, seed 0 */
    model_options mo = {.be = &OPS_BACKEND_CPU, .norm = NORM_GN, .gn_groups = 4};
    model *m0 = NULL;
    CHECK(weights_open_model(TINY, NULL, 2, &mo, 0, &m0, NULL, NULL) == YOLOC_OK);
    if (!m0) return;
    double rel_w, rel_u;
    weights_rel_diff(pa, pb, m0, &rel_w, &rel_u);
    model_free(m0);
    printf("  accumulation: batch 8 x 2 vs batch 16 x 1 (GroupNorm), 20 steps: weights differ by %.3g, their "
           "updates by %.3g (relative L2)\n",
           rel_w, rel_u);
    CHECK_MSG(rel_w <= 1e-5, "weights differ by %g relative (tolerance 1e-5)", rel_w);
    CHECK_MSG(rel_u <= 1e-3, "weight updates differ by %g relative (tolerance 1e-3)", rel_u);
    row r16[32], r8[32];
    CHECK_EQ_INT(read_steps(d16, r16, 32), 20);
    CHECK_EQ_INT(read_steps(d8, r8, 32), 20);
    /* BatchNorm: the start-up block says why it cannot match exactly */
    lrb_input in = {.batch = 8, .processes = 1, .nbs = 16, .optimizer = OPTIM_SGD, .lr0 = 0.01, .weight_decay = 5e-4,
                    .warmup_epochs = 3, .rule = LR_SCALE_LINEAR, .batchnorm = 1, .images_per_epoch = 320, .epochs = 1};
    lrb_plan p;
    CHECK(lrb_compute(&in, &p) == YOLOC_OK);
    int found = 0;
    for (int i = 0; i < p.nnotes; i++) found |= strstr(p.notes[i], "not the same as, one batch of 16") != NULL;
    CHECK_MSG(found, "no BatchNorm accumulation note");
}

static void expect_fail(const char *what, const char *needle, status st) {
    CHECK_MSG(st < 0, "%s: accepted", what);
    if (st < 0) CHECK_CONTAINS(yoloc_last_error(), needle);
}

static void test_bad_input(void) {
    char dir[512], proj[300], modelarg[512], bad[400];
    snprintf(proj, sizeof proj, "project=%s/runs", TMP);
    snprintf(modelarg, sizeof modelarg, "model=%s", TINY);
    expect_fail("unknown key", "unknown key 'epoch' (did you mean 'epochs'", train(dir, sizeof dir, "epoch=3", (char *)NULL));
    expect_fail("wrong type", "key 'batch': expected a number", train(dir, sizeof dir, "batch=many", (char *)NULL));
    expect_fail("missing data.yaml", "/no/such/data.yaml", train(dir, sizeof dir, modelarg, "data=/no/such/data.yaml", proj, (char *)NULL));
    /* weights of another model */
    char w[600];
    snprintf(w, sizeof w, "weights=%s/runs/full/weights/last.safetensors", TMP);
    expect_fail("weights of another model", "last.safetensors", train(dir, sizeof dir, "model=yolov8n.yaml",
                                                                       "data=synth:classes=2,images=8,imgsz=64", "imgsz=64", w, proj, (char *)NULL));
    /* a project folder that cannot be created (a file is in the way) */
    snprintf(bad, sizeof bad, "%s/afile", TMP);
    FILE *f = fopen(bad, "w");
    if (f) fclose(f);
    char bp[500];
    snprintf(bp, sizeof bp, "project=%s/afile/runs", TMP);
    expect_fail("unwritable project", "afile", train(dir, sizeof dir, modelarg, "data=synth:classes=2,images=8,imgsz=64",
                                                     "imgsz=64", "epochs=1", bp, (char *)NULL));
}

/* The validated and saved statistics belong to the saved weights. 24
 * images at batch 8: 3 forward passes per epoch, so bn_stats=auto
 * recomputes them (over 64 images: 8 batches). */
static double saved_vs_recomputed(const char *bn_stats, const char *name) {
    char dir[512], proj[300], modelarg[512], nm[64];
    snprintf(proj, sizeof proj, "project=%s/runs", TMP);
    snprintf(modelarg, sizeof modelarg, "model=%s", TINY);
    snprintf(nm, sizeof nm, "name=%s", name);
#define BN_ARGS modelarg, "data=synth:classes=2,images=24,val=4,imgsz=64", "imgsz=64", "batch=8", "epochs=2", \
        "optimizer=SGD", "workers=1", "plots=False", "close_mosaic=1", "seed=3", "amp=False", proj, nm
    status st = train(dir, sizeof dir, BN_ARGS, bn_stats, (char *)NULL);
    CHECK_MSG(st == YOLOC_OK, "%s", yoloc_last_error());
    if (st < 0) return -1;
    /* the same recomputation from the saved file: the last epoch's
     * pipeline (close_mosaic=1: no mosaic), the trainer's seed rule, fp32
     * as trained (amp=False) */
    config c;
    kv_args a;
    const char *toks[] = {BN_ARGS};
#undef BN_ARGS
    CHECK(config_init(&c) == YOLOC_OK);
    enum { NT = sizeof toks / sizeof toks[0] };
    char *mine[NT];
    for (int i = 0; i < NT; i++) mine[i] = strdup(toks[i]); /* kv_parse splits them in place */
    CHECK(kv_parse(&a, NT, mine) == YOLOC_OK);
    CHECK(config_apply_args(&c, &a) == YOLOC_OK);
    bnstats_options o = {.images = 64, .batch = 8, .imgsz = 64, .workers = 1, .augment = 1,
                         .seed = bnstats_seed((uint64_t)c.seed)};
    train_aug_params(&c, &o.aug);
    o.aug.mosaic = o.aug.mixup = o.aug.cutmix = 0;
    o.aug.threads = 1;
    dataset ds;
    dataset_options dopt = {.use_cache = 0, .quiet = 1};
    CHECK(dataset_open(&ds, c.data, &dopt) == YOLOC_OK);
    config_free(&c);
    for (int i = 0; i < NT; i++) free(mine[i]);
    char path[600];
    snprintf(path, sizeof path, "%s/weights/last.safetensors", dir);
    model_options mo = {.be = &OPS_BACKEND_CPU, .norm = NORM_BN};
    model *m = NULL;
    double worst = -1;
    if (weights_open_model(path, NULL, 2, &mo, 0, &m, NULL, NULL) == YOLOC_OK &&
        model_plan(m, 8, 64, 64, 1) == YOLOC_OK) {
        size_t nb = model_num_bufs(m);
        float *re = malloc(nb * sizeof(float));
        memcpy(re, model_bufs(m), nb * sizeof(float));
        bnstats_result r;
        status rs = bnstats_recompute(m, model_params(m), re, &ds, &ds.train, &o, &r);
        CHECK_MSG(rs == YOLOC_OK, "%s", yoloc_last_error());
        CHECK_EQ_INT(r.batches, 8);
        worst = 0;
        for (size_t t = 0; t < model_num_tensors(m); t++) {
            const param_info *p = model_tensor(m, t);
            if (p->buffer && strstr(p->name, "running_"))
                for (size_t i = p->off; i < p->off + p->numel; i++)
                    worst = fmax(worst, fabs(re[i] - model_bufs(m)[i]) / (fabs(re[i]) + 1e-2));
        }
        free(re);
    }
    CHECK(m != NULL);
    model_free(m);
    dataset_close(&ds);
    return worst;
}

static void test_bn_stats_saved(void) {
    double on = saved_vs_recomputed("bn_stats=-1", "bn_auto"), off = saved_vs_recomputed("bn_stats=0", "bn_off");
    printf("  BatchNorm statistics of the saved weights vs recomputed from the saved file: bn_stats=auto %.3g, "
           "bn_stats=0 %.3g (relative)\n",
           on, off);
    CHECK_MSG(on >= 0 && on < 1e-4, "bn_stats=auto: the saved statistics differ by %g from their recomputation", on);
    CHECK_MSG(off > 1e-2, "bn_stats=0: the running averages match a recomputation (%g): the check cannot fail", off);
}

int main(void) {
    snprintf(TMP, sizeof TMP, "/tmp/yoloc_trainer_XXXXXX");
    if (!mkdtemp(TMP)) return 1;
    test_schedules();
    test_accumulation();
    test_bn_stats_saved();
    test_bad_input();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", TMP);
    if (!test_failures_ && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", TMP);
    return test_finish("test_trainer");
}
