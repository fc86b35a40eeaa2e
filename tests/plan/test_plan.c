/* `yoloc plan` (plan/plan.h) on a tiny model and the synthetic dataset:
 *  - a table of scenarios (1, 2 and 8 processes; batch 2/16/48/64; SGD and
 *    AdamW; lr0 inside and outside the usual bands; a guard-rail refusal
 *    and force=True; accumulate from the training's effective batch (nbs,
 *    or the band's lower end above it); tiny per-process batch ->
 *    GroupNorm; B_eff > 128 -> regularisation and a longer warmup), each
 *    asserting the decisions and that their reasons are printed;
 *  - the automatic batch: the training's effective batch shared by 8
 *    processes; halved on a small dataset until the run has 100 optimizer
 *    steps; bound by memory (the prediction of the choice within the
 *    budget, the next grid batch beyond it, accumulation for the rest); a
 *    requested batch that does not fit is refused with its prediction and
 *    the largest batch that fits;
 *  - plan.yaml round trip: cfg=plan.yaml gives a config equal to the
 *    plan's, and the trainer's dry run with it prints the plan's LR/batch
 *    block; `yoloc train batch=-1` chooses through the same planner;
 *  - the noise-scale measurement reports the estimate its steps.csv ends on,
 *    and with BatchNorm measures with the statistics frozen after a warm-up.
 * ctest-labels: plan */
#include "harness.h"
#include "io/file.h"
#include "plan/plan.h"
#include "train/trainer.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char TMP[256];
static const char *TINY = YOLOC_SOURCE_DIR "/tests/train/yolov8t.yaml";
#define GIB (1024.0 * 1024.0 * 1024.0)

/* A config from "key=value key=value ..." after the common settings. */
static status make_config(config *c, const char *args) {
    char all[2048];
    snprintf(all, sizeof all, "model=%s %s imgsz=96 %s workers=2 %s %s", TINY,
             strstr(args, "data=") ? "" : "data=synth:classes=2,images=256,val=16,imgsz=96",
             strstr(args, "epochs=") ? "" : "epochs=30", strstr(args, "mem=") ? "" : "mem=64", args);
    char *toks[64];
    int n = 0;
    for (char *s = strtok(all, " "); s && n < 64; s = strtok(NULL, " ")) toks[n++] = strdup(s);
    kv_args a;
    status st = config_init(c);
    if (st == YOLOC_OK) st = kv_parse(&a, n, toks);
    if (st == YOLOC_OK) st = config_apply_args(c, &a);
    for (int i = 0; i < n; i++) free(toks[i]);
    return st;
}

/* Plans `args`; the printed plan goes into *text (malloc'd). */
static status run_plan(const char *args, plan *p, char **text) {
    config c;
    status st = make_config(&c, args);
    if (st == YOLOC_OK) st = plan_make(&c, p);
    else memset(p, 0, sizeof *p), config_init(&p->c);
    size_t len;
    FILE *f = open_memstream(text, &len);
    plan_print(p, f);
    fclose(f);
    config_free(&c);
    return st;
}

static const char *value_of(const plan *p, const char *key, char *buf, size_t cap) {
    return config_value_str(&p->c, config_find(key), buf, cap);
}

/* Runs f(arg) with stdout going into a file; returns its text (malloc'd). */
static char *capture_stdout(status (*fn)(void *), void *arg, status *st) {
    char path[320];
    snprintf(path, sizeof path, "%s/stdout.txt", TMP);
    fflush(stdout);
    int saved = dup(1);
    if (!freopen(path, "w", stdout)) return NULL;
    *st = fn(arg);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    char *text = NULL;
    size_t len;
    if (file_read_all(path, 1 << 24, &text, &len) < 0) return NULL;
    return text;
}

typedef struct {
    const char *args;
    int refused;            /* plan_make refuses */
    int batch, accumulate;
    long b_eff;
    const char *norm;
    const char *label_smoothing, *cutmix, *warmup_epochs; /* expected values in the plan's config */
    const char *printed[4]; /* reasons that must appear */
    const char *absent;     /* text that must not */
} scenario;

static const scenario SCEN[] = {
    {"processes=1 batch=16 optimizer=SGD lr0=0.01", 0, 16, 4, 64, "bn", "0", "0", "3",
     {"batch: 16  # given; its predicted peak",
      "accumulate: 4  # max(round(effective batch 64 / (1 process x batch 16)), 1) = 4 -> B_eff 64; the effective "
      "batch: nbs 64: the batch lr0 and the other defaults are tuned at",
      "norm: bn  # batch 16 per process: BatchNorm statistics over >= 8 images are reliable",
      "lr: SGD; lr_scale=linear: lr0 0.01 is for nbs 64; B_eff 64 -> x1 -> peak 0.01"},
     "outside the usual band"},
    {"processes=1 batch=2 optimizer=AdamW lr0=0.001", 0, 2, 32, 64, "gn", "0", "0", "3",
     {"norm: gn  # batch 2 per process is below 8: BatchNorm statistics over so few images are mostly noise",
      "accumulate: 32  # max(round(effective batch 64 / (1 process x batch 2)), 1) = 32",
      "lr: AdamW; lr_scale=linear: lr0 0.001 is for nbs 64; B_eff 64 -> x1 -> peak 0.001",
      "[regularisation]: none  # B_eff 64 <= target_batch_max 128"},
     "outside the usual band"},
    {"processes=8 batch=16 optimizer=SGD", 0, 16, 1, 128, "syncbn", "0", "0", "3",
     {"norm: syncbn  # 8 processes x batch 16: SyncBatchNorm computes the statistics over all 128 images",
      "accumulate: 1  # max(round(effective batch 64 / (8 processes x batch 16)), 1) = 1 -> B_eff 128",
      "batch: 16 per process x 8 processes x accumulate 1 = effective batch 128 (nbs 64)",
      "warmup_epochs: 3  # the default; B_eff 128 <= 2 x nbs needs no longer warmup"},
     "label_smoothing:"},
    {"processes=8 batch=64 optimizer=SGD warmup_epochs=1", 0, 64, 1, 512, "syncbn", "0.1", "0.1", "3",
     {"label_smoothing: 0.1  # B_eff 512 > target_batch_max 128: large batches take fewer, bigger steps",
      "cutmix: 0.1  # B_eff 512 > target_batch_max 128: CutMix",
      "warmup_epochs: 3  # B_eff 512 > 2 x nbs 64: the peak LR is scaled up, so warmup is raised from 1 to 3 epochs",
      "B_eff 512 -> x8 -> peak 0.08"},
     "refused"},
    {"processes=1 batch=64 optimizer=AdamW lr0=0.01", 0, 64, 1, 64, "bn", "0", "0", "3",
     {"warning: lr0 0.01 for AdamW is outside the usual band 3e-4 to 1e-3",
      "accumulate: 1  # max(round(effective batch 64 / (1 process x batch 64)), 1) = 1 -> B_eff 64",
      "norm: bn  # batch 64 per process", NULL},
     NULL},
    {"processes=1 batch=16 optimizer=SGD lr0=0.05", 0, 16, 4, 64, "bn", "0", "0", "3",
     {"warning: lr0 0.05 for SGD is outside the usual band 0.008-0.02", "lr0: 0.05  # given", NULL, NULL},
     NULL},
    {"processes=1 batch=16 optimizer=SGD lr0=0.5", 1, 16, 4, 64, "bn", "0", "0", "3",
     {"refused: SGD with a peak lr of 0.5", NULL, NULL, NULL},
     NULL},
    {"processes=1 batch=16 optimizer=SGD lr0=0.5 force=True", 0, 16, 4, 64, "bn", "0", "0", "3",
     {"warning (force=True): SGD with a peak lr of 0.5", NULL, NULL, NULL},
     NULL},
    {"processes=2 batch=2 optimizer=SGD", 0, 2, 16, 64, "gn", "0", "0", "3",
     {"norm: gn  # 2 processes x batch 2 = 4 images: even SyncBatchNorm would see fewer than 8", NULL, NULL, NULL},
     NULL},
    {"target_batch_min=0 batch=16 optimizer=SGD", 0, 16, 4, 64, "bn", "0", "0", "3",
     {"accumulate: 4  # max(round(effective batch 64 / (1 process x batch 16)), 1) = 4 -> B_eff 64", NULL, NULL,
      NULL},
     NULL},
    {"target_batch_min=100 batch=48 optimizer=SGD epochs=100", 0, 48, 2, 96, "bn", "0", "0", "3",
     {"= 2 -> B_eff 96; the effective batch: target_batch_min 100 (nbs 64 is below the band)", NULL, NULL, NULL},
     NULL},
    {"batch=16 accumulate=3 optimizer=SGD", 0, 16, 3, 48, "bn", "0", "0", "3",
     {"accumulate: 3  # given: B_eff = 1 x 16 x 3 = 48", NULL, NULL, NULL},
     NULL},
};

static void test_scenarios(void) {
    for (size_t i = 0; i < sizeof SCEN / sizeof SCEN[0]; i++) {
        const scenario *s = &SCEN[i];
        plan *p = calloc(1, sizeof *p);
        char *text = NULL, buf[64];
        status st = run_plan(s->args, p, &text);
        CHECK_MSG(s->refused ? st == YOLOC_ERR_INVALID && p->refused : st == YOLOC_OK,
                  "scenario '%s': status %d refused %d (%s)", s->args, st, p->refused, yoloc_last_error());
        CHECK_EQ_INT(p->batch, s->batch);
        CHECK_EQ_INT(p->r.lp.accumulate, s->accumulate);
        CHECK_EQ_INT(p->r.lp.b_eff, s->b_eff);
        CHECK_STR(value_of(p, "norm", buf, sizeof buf), s->norm);
        CHECK_STR(value_of(p, "label_smoothing", buf, sizeof buf), s->label_smoothing);
        CHECK_STR(value_of(p, "cutmix", buf, sizeof buf), s->cutmix);
        CHECK_STR(value_of(p, "warmup_epochs", buf, sizeof buf), s->warmup_epochs);
        for (int k = 0; k < 4; k++)
            if (s->printed[k]) CHECK_CONTAINS(text, s->printed[k]);
        if (s->absent) CHECK_MSG(!strstr(text, s->absent), "scenario '%s' printed '%s'", s->args, s->absent);
        if (test_failures_) fprintf(stderr, "--- scenario '%s' printed:\n%s\n", s->args, text);
        free(text);
        plan_free(p);
        free(p);
    }
}

/* A measured critical batch below nbs decides the effective batch: 16
 * per forward (memory aside) x accumulate 2 = 32 <= B_simple 40; its
 * reason is on the accumulate line. */
static void test_critical(void) {
    config c;
    plan *p = calloc(1, sizeof *p);
    CHECK_EQ_INT(make_config(&c, "batch=-1 optimizer=SGD data=synth:classes=2,images=400,val=4,imgsz=96"), YOLOC_OK);
    status st = plan_make_ex(&c, 40, p);
    CHECK_MSG(st == YOLOC_OK, "%s", yoloc_last_error());
    CHECK_EQ_INT(p->r.lp.b_eff, 32);
    CHECK_EQ_INT(p->batch, 16);
    CHECK_EQ_INT(p->r.lp.accumulate, 2);
    char *text = NULL;
    size_t len;
    FILE *f = open_memstream(&text, &len);
    plan_print(p, f);
    fclose(f);
    CHECK_CONTAINS(text, "the critical batch: the gradient noise scale B_simple 40 was measured");
    free(text);
    plan_free(p);
    /* not measured: nbs */
    CHECK_EQ_INT(plan_make(&c, p), YOLOC_OK);
    CHECK_EQ_INT(p->r.lp.b_eff, 64);
    plan_free(p);
    free(p);
    config_free(&c);
}

/* The automatic batch and the memory refusal. */
static void test_memory_choice(void) {
    char args[256], *text = NULL;
    plan *p = calloc(1, sizeof *p);
    /* 8 processes: the training's effective batch 64 is 8 per process,
     * long before memory is a limit */
    status st = run_plan("batch=-1 processes=8 optimizer=SGD", p, &text);
    CHECK_MSG(st == YOLOC_OK, "%s", yoloc_last_error());
    CHECK_EQ_INT(p->batch, 8);
    CHECK_EQ_INT(p->r.lp.accumulate, 1);
    CHECK(p->auto_batch && fabs(p->fraction - 0.6) < 1e-12);
    CHECK_CONTAINS(text, "batch: 8  # batch=-1: the training needs an effective batch of 64 (nbs 64");
    CHECK_CONTAINS(text, "shared by the processes; memory is not the limit");
    free(text);
    plan_free(p);

    /* a small dataset: 40 images x 30 epochs at 64 would be 30 optimizer
     * steps; halved to 16 (90), then 8 (150) */
    st = run_plan("batch=-1 optimizer=SGD data=synth:classes=2,images=40,val=4,imgsz=96", p, &text);
    CHECK_MSG(st == YOLOC_OK, "%s", yoloc_last_error());
    CHECK_EQ_INT(p->r.lp.b_eff, 8);
    CHECK(p->r.lp.total_steps >= LRB_MIN_STEPS);
    CHECK_CONTAINS(text, "enough optimizer steps: 40 images x 30 epochs at 64 per step are 30 steps, fewer than 100");
    free(text);
    plan_free(p);

    /* memory-bound: a budget of about 120 MiB above what this process holds (below the 16 per forward) */
    double mem = ((double)sys_rss_now() + 120.0 * 1024 * 1024) / 0.6 / GIB;
    snprintf(args, sizeof args, "batch=0.6 optimizer=SGD mem=%.6f", mem);
    st = run_plan(args, p, &text);
    CHECK_MSG(st == YOLOC_OK, "%s", yoloc_last_error());
    printf("  memory-bound: batch %d (%.1f MiB predicted; %d would need %.1f MiB; budget %.1f MiB)\n", p->batch,
           p->largest_fit_bytes / 1048576.0, p->next_batch, p->next_bytes / 1048576.0, p->budget / 1048576.0);
    CHECK(p->batch >= 8 && p->batch < 64);
    CHECK(p->largest_fit_bytes <= p->budget && p->next_bytes > p->budget);
    CHECK(p->mem.total == p->largest_fit_bytes);
    CHECK(p->batch < 16 ? (p->batch & (p->batch - 1)) == 0 : p->batch % 8 == 0); /* the grid */
    CHECK_EQ_INT(p->next_batch, p->batch < 16 ? 2 * p->batch : p->batch + 8);
    CHECK_CONTAINS(text, "memory allows at most");
    CHECK_CONTAINS(text, "accumulation makes up the rest");
    CHECK_CONTAINS(text, "would need");
    CHECK_CONTAINS(text, "activations, training (batch");
    CHECK_CONTAINS(text, "mem=");
    int fit = p->batch;
    free(text);
    plan_free(p);

    /* a requested batch above it is refused with its prediction and the largest that fits */
    snprintf(args, sizeof args, "batch=64 optimizer=SGD mem=%.6f", mem * 0.6);
    st = run_plan(args, p, &text);
    CHECK_EQ_INT(st, YOLOC_ERR_INVALID);
    CHECK(p->refused);
    CHECK_CONTAINS(yoloc_last_error(), "batch 64 needs a predicted peak of");
    CHECK_CONTAINS(yoloc_last_error(), "the largest batch that fits is");
    CHECK_MSG(abs(p->largest_fit - fit) <= 8, "%d vs %d", p->largest_fit, fit); /* the same budget (this process may have grown a little) */
    CHECK_CONTAINS(text, "refused: batch 64 needs a predicted peak of");
    free(text);
    plan_free(p);

    /* a batch that is not one */
    st = run_plan("batch=2.5", p, &text);
    CHECK_EQ_INT(st, YOLOC_ERR_INVALID);
    CHECK_CONTAINS(yoloc_last_error(), "key 'batch': 2.5");
    free(text);
    plan_free(p);
    free(p);
}

/* plan.yaml -> cfg= -> the same config; the trainer's dry run agrees. */
typedef struct {
    config *c;
} dry_arg;

static status dry_train(void *arg) {
    dry_arg *a = arg;
    dist one;
    dist_single(&one);
    return train_run(a->c, &one, NULL, 0);
}

static void test_round_trip(void) {
    const char *cases[] = {"processes=8 batch=64 optimizer=SGD warmup_epochs=1 project=/nonexistent",
                           "processes=1 batch=16 optimizer=auto"};
    const char *comment[] = {"# max(round(effective batch 64 / (8 processes x batch 64)), 1) = 1",
                             "# max(round(effective batch 64 / (1 process x batch 16)), 1) = 4"};
    for (int k = 0; k < 2; k++) {
        plan *p = calloc(1, sizeof *p);
        char *text = NULL, path[320], arg[400];
        CHECK_MSG(run_plan(cases[k], p, &text) == YOLOC_OK, "%s", yoloc_last_error());
        snprintf(path, sizeof path, "%s/plan%d.yaml", TMP, k);
        CHECK_MSG(plan_write_yaml(p, path) == YOLOC_OK, "%s", yoloc_last_error());
        char *yaml = NULL;
        size_t len;
        CHECK(file_read_all(path, 1 << 20, &yaml, &len) == YOLOC_OK);
        CHECK_CONTAINS(yaml, comment[k]);
        CHECK_CONTAINS(yaml, "\nbatch: ");
        CHECK(!strstr(yaml, "\nprocesses:")); /* plan keys are not train keys */
        free(yaml);
        config c;
        config_init(&c);
        kv_args a;
        snprintf(arg, sizeof arg, "cfg=%s", path);
        char *tok[1] = {arg};
        CHECK(kv_parse(&a, 1, tok) == YOLOC_OK);
        CHECK_MSG(config_apply_args(&c, &a) == YOLOC_OK, "%s", yoloc_last_error());
        size_t n;
        const opt_info *o = config_options(&n);
        int differ = 0;
        for (size_t i = 0; i < n; i++) {
            if (strcmp(o[i].name, "cfg") == 0) continue;
            char x[1200], y[1200];
            config_value_str(&p->c, &o[i], x, sizeof x);
            config_value_str(&c, &o[i], y, sizeof y);
            int gx = ((unsigned char *)&p->c.given)[i], gy = ((unsigned char *)&c.given)[i];
            if (strcmp(x, y) != 0 || gx != gy) {
                fprintf(stderr, "  round trip: %s: plan '%s' (given %d), loaded '%s' (given %d)\n", o[i].name, x, gx, y, gy);
                differ++;
            }
        }
        CHECK_EQ_INT(differ, 0);
        if (k == 1) { /* one process: the trainer prints the plan's LR/batch block */
            config_set(&c, "dry", "True", NULL);
            dry_arg da = {&c};
            status st;
            char *out = capture_stdout(dry_train, &da, &st);
            CHECK_MSG(st == YOLOC_OK, "%s", yoloc_last_error());
            char line[256];
            snprintf(line, sizeof line, "batch: %d per process x 1 process x accumulate %d = effective batch %ld",
                     p->batch, p->r.lp.accumulate, p->r.lp.b_eff);
            CHECK_CONTAINS(out, line);
            CHECK_CONTAINS(text, line);
            snprintf(line, sizeof line, "-> peak %.6g", p->r.lp.lr_peak);
            CHECK_CONTAINS(out, line);
            free(out);
        }
        config_free(&c);
        free(text);
        plan_free(p);
        free(p);
    }
}

/* As `yoloc train` does: batch=-1 resolved by the planner, then the trainer. */
static status dry_train_auto(void *arg) {
    dry_arg *a = arg;
    dist one;
    dist_single(&one);
    TRY(plan_trainer_batch(a->c, &one, stdout));
    return train_run(a->c, &one, NULL, 0);
}

/* yoloc train batch=-1: the same planner chooses. */
static void test_trainer_auto(void) {
    config c;
    double mem = ((double)sys_rss_now() + 120.0 * 1024 * 1024) / 0.6 / GIB;
    char args[128];
    snprintf(args, sizeof args, "batch=-1 optimizer=SGD dry=True mem=%.6f", mem);
    if (make_config(&c, args) != YOLOC_OK) { /* never train the defaults for real */
        CHECK_MSG(0, "%s", yoloc_last_error());
        return;
    }
    dry_arg da = {&c};
    status st;
    char *out = capture_stdout(dry_train_auto, &da, &st);
    CHECK_MSG(st == YOLOC_OK, "%s", yoloc_last_error());
    CHECK(c.batch >= 8 && c.batch == floor(c.batch));
    char line[128];
    snprintf(line, sizeof line, "batch: %d per process, batch=-1: the training needs an effective batch of 64",
             (int)c.batch);
    CHECK_CONTAINS(out, line);
    snprintf(line, sizeof line, "batch: %d per process x 1 process", (int)c.batch);
    CHECK_CONTAINS(out, line);
    snprintf(line, sizeof line, "accumulate: %d = max(round(effective batch 64 / (1 process x batch %d)), 1)",
             (int)c.accumulate, (int)c.batch);
    CHECK_CONTAINS(out, line);
    CHECK_EQ_INT(c.accumulate, (long)fmax(1, nearbyint(64.0 / c.batch)));
    /* the trainer alone does not decide it */
    config c2;
    if (make_config(&c2, "batch=-1 optimizer=SGD dry=True") == YOLOC_OK) {
        dist one;
        dist_single(&one);
        CHECK_EQ_INT(train_run(&c2, &one, NULL, 0), YOLOC_ERR_INVALID);
        CHECK_CONTAINS(yoloc_last_error(), "chosen by the command before training");
        config_free(&c2);
    }
    /* and the plan agrees */
    plan *p = calloc(1, sizeof *p);
    char *text = NULL;
    snprintf(args, sizeof args, "batch=-1 optimizer=SGD mem=%.6f", mem);
    CHECK(run_plan(args, p, &text) == YOLOC_OK);
    CHECK_MSG(abs(p->batch - (int)c.batch) <= (p->batch < 16 ? p->batch : 8),
              "plan %d vs trainer %g (the process grew between them by at most one grid step)", p->batch, c.batch);
    free(text);
    plan_free(p);
    free(p);
    free(out);
    config_free(&c);
}

/* The noise measurement ends on the estimate of its last steps.csv row. */
static void test_noise(void) {
    plan *p = calloc(1, sizeof *p);
    char *text = NULL, proj[300];
    CHECK(run_plan("batch=8 optimizer=SGD", p, &text) == YOLOC_OK);
    free(text);
    snprintf(proj, sizeof proj, "%s/runs", TMP);
    fflush(stdout);
    int saved = dup(1);
    if (!freopen("/dev/null", "w", stdout)) return;
    status st = plan_noise(p, 6, proj, "noise");
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    CHECK_MSG(st == YOLOC_OK, "%s", yoloc_last_error());
    CHECK(p->noise_done);
    CHECK_EQ_INT(p->noise_steps, 6);
    char *csv = NULL;
    size_t len;
    CHECK(file_read_all(p->noise_dir, 1 << 20, &csv, &len) == YOLOC_OK);
    int rows = 0;
    double last = NAN;
    for (char *line = csv ? strchr(csv, '\n') : NULL; line && line[1];) { /* the last field of each row */
        char *start = line + 1, *end = strchr(start, '\n');
        if (!end) end = start + strlen(start);
        char *q = end;
        while (q > start && q[-1] != ',') q--;
        last = strtod(q, NULL);
        rows++;
        line = *end ? end : NULL;
    }
    /* BatchNorm (batch 8 keeps it): PLAN_NOISE_WARM steps with batch statistics, then 6 frozen */
    CHECK_EQ_INT(rows, PLAN_NOISE_WARM + 6);
    /* the measurement's settings: lr 0 (measured at the starting weights), accumulate >= 16, noise_scale on */
    int lr_ok = 0;
    for (char *line = csv ? strchr(csv, '\n') : NULL; line && line[1]; line = strchr(line + 1, '\n')) {
        char *q = line + 1;
        strtol(q, &q, 10);          /* step */
        strtol(q + 1, &q, 10);      /* epoch */
        strtod(q + 1, &q);          /* lr/pg0 */
        double lr1 = strtod(q + 1, &q);
        lr_ok += lr1 == 0.0;
    }
    CHECK_EQ_INT(lr_ok, PLAN_NOISE_WARM + 6);
    char args_path[4200], *args = NULL;
    snprintf(args_path, sizeof args_path, "%.*s/args.yaml", (int)(strlen(p->noise_dir) - strlen("/steps.csv")), p->noise_dir);
    CHECK(file_read_all(args_path, 1 << 20, &args, &len) == YOLOC_OK);
    CHECK_CONTAINS(args, "\nnoise_scale: True\n");
    CHECK_CONTAINS(args, "\naccumulate: 16\n"); /* PLAN_NOISE_ACC */
    CHECK_CONTAINS(args, "\nbatch: 8\n");
    CHECK_CONTAINS(args, "\nbn_freeze: 20\n");
    CHECK_CONTAINS(args, "\nnorm: bn\n");
    free(args);
    printf("  noise scale: B_simple %g after %ld steps (steps.csv ends on %g)\n", p->b_simple, p->noise_steps, last);
    CHECK_MSG(isnan(p->b_simple) ? isnan(last) : fabs(p->b_simple / last - 1) < 1e-5, "%g vs %g", p->b_simple, last);
    size_t tl;
    FILE *f = open_memstream(&text, &tl);
    plan_print(p, f);
    fclose(f);
    CHECK_CONTAINS(text, isfinite(p->b_simple) ? "noise scale: B_simple = " : "noise scale: not resolved after 6");
    if (isfinite(p->b_simple)) CHECK_CONTAINS(text, "the critical batch size; B_eff 64");
    free(text);
    free(csv);
    plan_free(p);
    free(p);
}

int main(void) {
    snprintf(TMP, sizeof TMP, "/tmp/yoloc_test_plan_XXXXXX");
    if (!mkdtemp(TMP)) TEST_SKIP("cannot create a temporary folder");
    test_scenarios();
    test_memory_choice();
    test_critical();
    test_round_trip();
    test_trainer_auto();
    test_noise();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", TMP);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", TMP);
    return test_finish("test_plan");
}
