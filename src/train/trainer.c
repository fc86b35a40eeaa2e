/* The training loop (see trainer.h). */
#include "train/trainer.h"

#include "core/log.h"
#include "core/sysmem.h"
#include "core/timer.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "dist/dist.h"
#include "io/file.h"
#include "io/plot.h"
#include "io/tfevents.h"
#include "nn/model.h"
#include "ops/backend.h"
#include "train/bcomm.h"
#include "train/bnstats.h"
#include "train/checkpoint.h"
#include "train/detloss.h"
#include "train/ema.h"
#include "train/lrbatch.h"
#include "train/noise.h"
#include "train/recipe.h"

#define NS_DECAY 0.998 /* noise scale: exponential averaging over about 500 optimizer steps */
#include "train/optim.h"
#include "train/precision.h"
#include "train/sched.h"
#include "train/validate.h"
#include "train/weights.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_CONSECUTIVE_NONFINITE 3 /* skipped steps in a row before a rollback */
#define ROLLBACK_LR_FACTOR 0.5

/* ------------------------------------------------------------------------ */
/* Small helpers. */

typedef struct trainer trainer;
static status build_buckets(trainer *t);
static void bwd_hook(void *ctx, int layer);

static int ncores(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* The progress line's Mem: the process's peak resident memory so far, the
 * figure the planner's memory model predicts (the resident set itself rises
 * and falls within an epoch, which made two lines of one epoch disagree). */
static double rss_gib(void) { return (double)sys_rss_peak() / (1 << 30); }

static status mkdir_p(const char *path) {
    TRY(file_mkdirs(path));
    if (access(path, W_OK) != 0) return err_set(YOLOC_ERR_IO, "%s: folder is not writable: %s", path, strerror(errno));
    return YOLOC_OK;
}

static int path_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

/* project/name, or name2, name3, ... unless exist_ok (Ultralytics'
 * increment_path). */
static status make_run_dir(const config *c, char *dir, size_t cap) {
    TRY(file_run_dir(config_project(c), config_run_name(c, "train"), (int)c->exist_ok, dir, cap));
    TRY(mkdir_p(dir));
    char w[4200];
    snprintf(w, sizeof w, "%s/weights", dir);
    return mkdir_p(w);
}

/* The newest weights/last.safetensors under project (resume=True). */
static status find_last_run(const char *project, char *out, size_t cap) {
    DIR *d = opendir(project);
    if (!d) return err_set(YOLOC_ERR_NOT_FOUND, "resume=True: no runs in '%s' (%s)", project, strerror(errno));
    double best = -1;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char p[4200];
        snprintf(p, sizeof p, "%s/%s/weights/last.safetensors", project, de->d_name);
        struct stat st;
        if (stat(p, &st) == 0 && (double)st.st_mtime > best) {
            best = (double)st.st_mtime;
            snprintf(out, cap, "%s/%s", project, de->d_name);
        }
    }
    closedir(d);
    if (best < 0) return err_set(YOLOC_ERR_NOT_FOUND, "resume=True: no run with weights/last.safetensors in '%s'", project);
    return YOLOC_OK;
}

/* ------------------------------------------------------------------------ */
/* The trainer's state. */

struct trainer {
    config *c;
    dist *d;
    dataset ds;
    int have_ds;
    model *m, *vm; /* training model; validation model (EMA weights) */
    aug_source src;
    loader *L;
    loader_options lo;
    detloss loss;
    int have_loss;
    optim opt;
    int have_opt;
    ema e;
    int have_ema;
    recipe r;              /* the LR/batch recipe (recipe.h), resolved once at set-up (and again when time=
                              resizes the run) */
    recipe_facts rf;       /* the run's facts it was resolved with */
    char dir[4096];
    FILE *steps_csv, *results_csv;
    tfevents *tb;          /* TensorBoard (tensorboard=True, rank 0) */
    /* progress */
    long step, iteration, last_opt_iter;
    int start_epoch;
    double best_fitness;
    int best_epoch;
    double lr_factor;
    long nonfinite_steps;
    int consecutive_bad;
    /* rollback snapshot */
    float *snap_p, *snap_b, *snap_ep, *snap_eb, *snap_opt[OPTIM_MAX_STATE];
    long snap_updates, snap_ostep;
    int64_t snap_bn;
    char args_yaml_path[4200];
    char *args_text;
    /* several processes */
    int lead;              /* rank 0: writes the run directory, logs, checkpoints */
    int bf16;              /* amp=True honoured: convolutions in bf16 (precision_resolve) */
    struct gbucket {
        size_t lo, hi;     /* range of the flat gradient buffer */
        int first_layer;   /* complete once this layer's backward is done */
        dist_req req;
    } *buckets;
    int nbuckets, next_bucket, hook_armed;
    float *grad_stage;      /* host copy of the gradients the buckets reduce (bcomm_staged), else NULL */
    status hook_st;
    double comm_step_s;     /* waiting for gradient all-reduces after backward, this epoch */
    double allreduce_ref_s; /* one blocking all-reduce of the gradients (measured at start) */
    /* fault injection for tests: $YOLOC_FAULT_NONFINITE lists optimizer
     * steps whose gradient is made non-finite ("3,4,5") */
    long fault_steps[16];
    int nfault;
    /* callers' hooks (lrfind, tune, doctor) */
    const train_hooks *h;
    int stop;              /* 1: a hook ended the run */
    train_epoch_info last_epoch;
    /* gradient noise scale (noise_scale=True): per-step estimates of |G|^2
     * and tr(Sigma) from a small and a big batch, averaged separately */
    int ns_on;
    int bn_frozen;         /* bn_freeze reached */
    float *ns_prev;        /* the gradient buffer before this batch's backward (one process; backend memory) */
    ops_chunk *ns_chunks;  /* the whole gradient buffer in chunks (the backend's reductions) */
    size_t ns_nchunks;
    double *ns_part;       /* per-chunk partial sums (backend memory) */
    double ns_small2, ns_small_n, ns_small_b; /* sum of |G_small|^2, how many, sum of their batch sizes */
    noise_est ns;          /* averages of the unbiased |G|^2 and tr(Sigma) estimates */
    double ns_value;       /* B_simple = tr / g2, NAN until defined */
    double ns_local2;      /* several processes: |this process's gradient sum|^2 before the all-reduce */
    int ns_warned;
};

static void trainer_free(trainer *t) {
    if (t->m) {
        backend_free(model_backend(t->m), model_backend_ctx(t->m), t->ns_prev);
        backend_free(model_backend(t->m), model_backend_ctx(t->m), t->ns_part);
    }
    free(t->ns_chunks);
    loader_close(t->L);
    if (t->have_loss) detloss_free(&t->loss);
    if (t->have_opt) optim_free(&t->opt);
    if (t->have_ema) ema_free(&t->e);
    if (t->m) { /* the rollback snapshot lives beside the model, on its backend */
        backend be = model_backend(t->m);
        void *ctx = model_backend_ctx(t->m);
        float *snaps[] = {t->snap_p, t->snap_b, t->snap_ep, t->snap_eb, t->snap_opt[0], t->snap_opt[1]};
        for (size_t i = 0; i < sizeof snaps / sizeof snaps[0]; i++) backend_free(be, ctx, snaps[i]);
    }
    model_free(t->m);
    model_free(t->vm);
    if (t->have_ds) dataset_close(&t->ds);
    if (t->steps_csv) fclose(t->steps_csv);
    if (t->results_csv) fclose(t->results_csv);
    tfe_close(t->tb);
    free(t->args_text);
    free(t->buckets);
    free(t->grad_stage);
}

void train_aug_params(const config *c, aug_params *a) {
    aug_params_default(a);
    a->imgsz = (int)c->imgsz;
    a->hsv_h = (float)c->hsv_h;
    a->hsv_s = (float)c->hsv_s;
    a->hsv_v = (float)c->hsv_v;
    a->degrees = (float)c->degrees;
    a->translate = (float)c->translate;
    a->scale = (float)c->scale;
    a->shear = (float)c->shear;
    a->perspective = (float)c->perspective;
    a->flipud = (float)c->flipud;
    a->fliplr = (float)c->fliplr;
    a->bgr = (float)c->bgr;
    a->mosaic = (float)c->mosaic;
    a->mixup = (float)c->mixup;
    a->cutmix = (float)c->cutmix;
}

/* ------------------------------------------------------------------------ */
/* Set-up. */

/* The normalisation of this run (lrbatch.h's rule). */
static norm_kind norm_of(const trainer *t) { return t->r.norm; }

static status write_args_yaml(trainer *t) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return err_set(YOLOC_ERR_NOMEM, "out of memory");
    config_write_yaml(t->c, f);
    recipe_write_yaml(&t->r, f);
    fprintf(f, "  dtype: %s\n", precision_dtype(t->bf16));
    fclose(f);
    free(t->args_text);
    t->args_text = buf;
    snprintf(t->args_yaml_path, sizeof t->args_yaml_path, "%s/args.yaml", t->dir);
    return file_write_atomic(t->args_yaml_path, buf, len);
}

/* time=: after each epoch, the epochs that fit the budget
 * (recipe_time_epochs), decided by rank 0 for every rank; a new count
 * re-resolves the recipe (the optimizer chosen at the start stays), so the
 * schedule's warmup and decay span the real run, and args.yaml follows. */
static status fit_time_budget(trainer *t, int epoch, double t_start) {
    config *c = t->c;
    int done = epoch + 1;
    double elapsed = time_now() - t_start;
    double e = recipe_time_epochs(c->time * 3600.0, elapsed, done, done - t->start_epoch, (int)c->epochs);
    if (t->d->world > 1) TRY(dist_broadcast(t->d, &e, sizeof e, 0));
    int E = (int)e;
    if (E == c->epochs) return YOLOC_OK;
    long was = c->epochs;
    char v[32];
    snprintf(v, sizeof v, "%d", E);
    TRY(config_set(c, "epochs", v, "time"));
    double per = elapsed / (done - t->start_epoch);
    if (E <= done) { /* the budget is spent: the LR ends where it is (the recipe keeps the planned schedule) */
        printf("time=%g: %.1f s per epoch, %.3f of %g hours used: the run ends after this epoch\n", c->time, per,
               elapsed / 3600.0, c->time);
        t->r.epochs = E;
        return t->lead ? write_args_yaml(t) : YOLOC_OK;
    }
    recipe_overrides ov = {.optimizer_of = &t->r};
    recipe *nr = malloc(sizeof *nr);
    if (!nr) return err_set(YOLOC_ERR_NOMEM, "out of memory");
    status st = recipe_resolve(c, &t->rf, &ov, nr);
    if (st < 0 && nr->lp.refused) { /* refused or forced at the start already */
        err_clear();
        st = YOLOC_OK;
    }
    if (st == YOLOC_OK) {
        t->r = *nr;
        printf("time=%g: %.1f s per epoch -> %d epochs in all (was %ld): the schedule now spans %ld optimizer steps "
               "(warmup %ld)\n",
               c->time, per, E, was, t->r.sc.total_steps, t->r.sc.warmup_steps);
        if (t->lead) st = write_args_yaml(t);
    }
    free(nr);
    return st;
}

/* GroupNorm when asked; SyncBatchNorm across several processes (the
 * default there, unless norm=bn is given); BatchNorm otherwise. */

static status reduce_f64(void *ctx, double *x, size_t n) { return dist_allreduce_sum_f64(ctx, x, n); }

static status setup_model(trainer *t) {
    config *c = t->c;
    backend be;
    TRY(config_backend(c, &be));
    model_options opt = {.be = be, .norm = norm_of(t),
                         .gn_groups = (int)c->gn_groups, .bf16 = t->bf16};
    TRY(weights_open_model(c->model, NULL, t->ds.nc, &opt, (uint64_t)c->seed, &t->m, NULL, NULL));
    if (c->weights && *c->weights) { /* fine-tuning: what matches by name and shape, the rest fresh */
        weights_report wr;
        TRY(weights_load_partial(t->m, c->weights, &wr));
        char line[1200];
        weights_report_format(&wr, c->weights, line, sizeof line);
        log_info("%s", line);
    }
    if (model_na(t->m)) { /* YOLOv5 head: YOLOv5's gains unless given (the options' defaults are v8's) */
        float g[3];
        detloss_default_gains(t->m, g);
        if (!c->given.box) c->box = g[0];
        if (!c->given.cls) c->cls = g[1];
        if (c->given.dfl) log_warn("dfl=%g has no effect: the YOLOv5 head has no DFL term", c->dfl);
        log_info("loss: YOLOv5 (box, obj, cls) with box=%g cls=%g obj=1 before YOLOv5's scaling by levels, classes "
                 "and image size",
                 c->box, c->cls);
    }
    if (c->freeze > 0) {
        size_t nf = model_freeze_layers(t->m, (int)c->freeze);
        log_info("freeze=%ld: %zu tensors of layers 0-%ld get no updates", c->freeze, nf, c->freeze - 1);
    }
    if (opt.norm == NORM_SYNCBN) model_set_reducer(t->m, (ops_reducer){reduce_f64, t->d});
    /* the validation model: same architecture, EMA weights copied in */
    model_spec spec = *model_get_spec(t->m);
    return model_create(&t->vm, &spec, &opt, (uint64_t)c->seed);
}

/* The hooks' view of the resolved recipe. */
static void start_hooks(trainer *t) {
    if (!t->h || !t->h->on_start) return;
    const config *c = t->c;
    train_start_info s = {.optimizer = optim_kind_name(t->opt.kind),
                          .lr_scale = lr_scale_name(t->r.in.rule),
                          .norm = lrb_norm_key(norm_of(t)),
                          .lr0 = t->r.in.lr0,
                          .lr_peak = t->r.lp.lr_peak,
                          .nbs = (int)c->nbs,
                          .batch = (int)c->batch,
                          .processes = t->d->world,
                          .accumulate = t->r.lp.accumulate,
                          .epochs = (int)c->epochs,
                          .b_eff = t->r.lp.b_eff,
                          .warmup_epochs = t->r.warmup_epochs,
                          .warmup_steps = t->r.sc.warmup_steps,
                          .steps_per_epoch = t->r.lp.steps_per_epoch,
                          .total_steps = t->r.lp.total_steps,
                          .max_norm = c->max_norm,
                          .lead = t->lead,
                          .tty = isatty(fileno(stdout)) && t->d->world == 1};
    t->h->on_start(t->h->ctx, &s);
}

static status setup(trainer *t) {
    config *c = t->c;
    int threads = c->threads > 0 ? (int)c->threads : ncores();
    ops_set_threads(threads);
    if (c->batch < 1 || c->batch != floor(c->batch)) /* -1 or a fraction: the command resolves it first (plan/plan.h) */
        return err_set(YOLOC_ERR_INVALID,
                       "key 'batch': %g: the automatic batch (-1 or a fraction) is chosen by the command before training "
                       "(yoloc train, yoloc tune); the trainer needs a whole number of images",
                       c->batch);
    t->lead = t->d->rank == 0;
    t->bf16 = precision_resolve(c->amp, c->given.amp, t->lead ? stdout : NULL);
    if (t->lead) {
        char cpu[320];
        precision_describe(t->bf16, cpu, sizeof cpu);
        printf("%s\n", cpu);
    }
    dataset_options dopt = {.use_cache = 1, .quiet = 0};
    int classes[256];
    TRY(config_dataset_options(c, "train", classes, 256, &dopt));
    TRY(dataset_open(&t->ds, c->data, &dopt));
    t->have_ds = 1;
    if (t->ds.train.nimages == 0) return err_set(YOLOC_ERR_INVALID, "data=%s: the train split has no usable images", c->data);
    /* the recipe: everything about LR and batch, decided here once (printed
     * below, after the loader, with the refusal if any) */
    t->rf = (recipe_facts){.processes = t->d->world, .train_images = (long)t->ds.train.nimages, .nc = t->ds.nc};
    status recipe_st = recipe_resolve(c, &t->rf, NULL, &t->r);
    if (recipe_st < 0 && !t->r.lp.refused) return recipe_st;
    if (t->d->world > 1)
        printf("processes: %d (this is rank %d); normalisation: %s\n", t->d->world, t->d->rank,
               norm_of(t) == NORM_GN ? "GroupNorm" : (norm_of(t) == NORM_SYNCBN ? "SyncBatchNorm" : "BatchNorm per process"));
    else if (strcmp(c->norm, "syncbn") == 0)
        log_info("norm=syncbn with one process is BatchNorm");
    TRY(setup_model(t));

    /* Loader. */
    aug_source_from_split(&t->src, &t->ds, &t->ds.train);
    loader_options_default(&t->lo);
    t->lo.batch = (int)c->batch;
    t->lo.workers = (int)(c->workers < ncores() ? c->workers : ncores());
    t->lo.seed = (uint64_t)c->seed;
    t->lo.rank = t->d->rank;
    t->lo.world = t->d->world;
    t->lo.shuffle = 1;
    t->lo.augment = 1;
    t->lo.stride = model_stride(t->m, model_nlevels(t->m) - 1);
    train_aug_params(c, &t->lo.aug);
    if (t->lo.workers > 0) t->lo.aug.threads = 1;
    if (c->imgsz % t->lo.stride)
        return err_set(YOLOC_ERR_INVALID, "key 'imgsz': %ld is not a multiple of the model's largest stride %d", c->imgsz,
                       t->lo.stride);
    TRY(loader_open(&t->L, &t->src, &t->lo));

    /* The LR/batch recipe (resolved above). */
    if (loader_num_samples(t->L) != (size_t)t->r.in.images_per_epoch)
        return err_set(YOLOC_ERR_INTERNAL, "the loader has %zu images per process, the recipe %ld",
                       loader_num_samples(t->L), t->r.in.images_per_epoch);
    recipe_print(&t->r, c, stdout);
    if (c->time > 0)
        printf("time=%g hours: after each epoch the run is sized to fit from the measured epoch time (the %ld epochs "
               "above until the first one ends); it always ends with an epoch planned as the last, so the LR ends at "
               "its final value\n",
               c->time, c->epochs);
    TRY(recipe_st);
    const optim_kind kind = t->r.optimizer;
    const double momentum = t->r.momentum;
    sched_config *sc = &t->r.sc;

    /* Optimizer, EMA, loss. */
    TRY(optim_init(&t->opt, kind, t->m));
    t->have_opt = 1;
    char desc[512];
    optim_describe(&t->opt, sc->lr_peak[1], momentum, t->r.weight_decay, desc, sizeof desc);
    printf("optimizer: %s\n", desc);
    printf("schedule: %s%s, %ld optimizer steps\n", sched_kind_name(sc->kind),
           t->r.ultra ? " (Ultralytics: per-iteration warmup, per-epoch LambdaLR)" : " (per optimizer step)",
           t->r.ultra ? t->r.lp.total_steps : sc->total_steps);
    TRY(ema_init(&t->e, t->m, 0, 0));
    t->have_ema = 1;
    detloss_cfg lc = {.gains = {(float)c->box, (float)c->cls, (float)c->dfl}, .label_smoothing = (float)c->label_smoothing};
    TRY(detloss_init(&t->loss, t->m, &lc));
    t->have_loss = 1;
    t->best_fitness = 0;
    t->best_epoch = -1;
    t->lr_factor = 1.0;
    t->last_opt_iter = -1; /* Ultralytics' last_opt_step starts at -1: a step at ni = 0 */
    const char *fault = getenv("YOLOC_FAULT_NONFINITE");
    for (char *q = (char *)fault; q && *q && t->nfault < 16;) {
        char *end;
        long v = strtol(q, &end, 10);
        if (end == q) break;
        t->fault_steps[t->nfault++] = v;
        q = *end == ',' ? end + 1 : end;
    }
    if (t->nfault) log_warn("YOLOC_FAULT_NONFINITE: %d optimizer steps will get a non-finite gradient (a test hook)", t->nfault);
    t->ns_value = NAN;
    noise_est_init(&t->ns, NS_DECAY);
    backend be;
    TRY(config_backend(c, &be));
    if (c->noise_scale) {
        if (t->r.ultra) {
            log_warn("noise_scale=True: not measured with sched=ultralytics (gradients carry across epochs there)");
        } else if (t->d->world == 1 && t->r.lp.accumulate < 2) {
            log_warn("noise_scale=True needs two batch sizes: accumulate >= 2 (each accumulated batch against the "
                     "step) or several processes; not measured with accumulate %d in one process",
                     t->r.lp.accumulate);
        } else {
            t->ns_on = 1;
            if (norm_of(t) != NORM_GN && c->bn_freeze <= 0)
                log_warn("noise_scale=True with BatchNorm: each small batch is normalised with its own statistics, "
                         "which adds noise of their own; measured on synthetic data the estimate varies several-fold "
                         "between seeds with BatchNorm and within 2x with norm=gn or with the statistics frozen "
                         "(yoloc plan noise=True does that; bench/RESULTS.md)");
            /* the probe's sums run on the backend, over the whole gradient
             * buffer in fixed chunks (the same value for any thread count) */
            backend nbe = model_backend(t->m);
            void *bx = model_backend_ctx(t->m);
            size_t n = model_num_params(t->m), nch = (n + OPTIM_CHUNK - 1) / OPTIM_CHUNK;
            status ast = YOLOC_OK;
            t->ns_chunks = malloc((nch ? nch : 1) * sizeof *t->ns_chunks);
            if (!t->ns_chunks) return err_set(YOLOC_ERR_NOMEM, "out of memory (noise scale)");
            for (size_t k = 0; k < nch; k++)
                t->ns_chunks[k] = (ops_chunk){k * OPTIM_CHUNK, n - k * OPTIM_CHUNK < OPTIM_CHUNK ? n - k * OPTIM_CHUNK
                                                                                     : OPTIM_CHUNK};
            t->ns_nchunks = nch;
            void *part = NULL;
            TRY(backend_alloc(nbe, bx, (nch ? nch : 1) * sizeof(double), &part));
            t->ns_part = part;
            if (t->d->world == 1 && !(t->ns_prev = backend_alloc_floats(nbe, bx, n, &ast)))
                return err_prefix(ast, "noise scale");
            printf("noise scale: B_simple = tr(Sigma)/|G|^2 from %s against the whole step of %ld images, in "
                   "steps.csv (noise_scale); the critical batch size beyond which bigger batches stop paying\n",
                   t->d->world == 1 ? "each accumulated batch" : "each process's share", t->r.lp.b_eff);
        }
    }
    start_hooks(t);
    return YOLOC_OK;
}

/* ------------------------------------------------------------------------ */
/* Snapshots for rollback after repeated non-finite steps. */

/* The rollback snapshot: copies of the parameters, buffers, EMA and
 * optimizer state, in the backend's memory, copied there and back by the
 * backend. */
static status snapshot_take(trainer *t) {
    backend be = model_backend(t->m);
    void *ctx = model_backend_ctx(t->m);
    size_t np = model_num_params(t->m), nb = model_num_bufs(t->m);
    optim_state_view v[OPTIM_MAX_STATE];
    int n = optim_state(&t->opt, v);
    if (!t->snap_p) {
        status st = YOLOC_OK;
        if (!(t->snap_p = backend_alloc_floats(be, ctx, np, &st)) || !(t->snap_ep = backend_alloc_floats(be, ctx, np, &st)) ||
            !(t->snap_b = backend_alloc_floats(be, ctx, nb ? nb : 1, &st)) ||
            !(t->snap_eb = backend_alloc_floats(be, ctx, nb ? nb : 1, &st)))
            return err_prefix(st, "the rollback snapshot");
        for (int i = 0; i < n; i++)
            if (!(t->snap_opt[i] = backend_alloc_floats(be, ctx, v[i].n, &st))) return err_prefix(st, "the rollback snapshot");
    }
    TRY(backend_copy(be, ctx, t->snap_p, model_params(t->m), np * sizeof(float)));
    TRY(backend_copy(be, ctx, t->snap_b, model_bufs(t->m), nb * sizeof(float)));
    TRY(backend_copy(be, ctx, t->snap_ep, t->e.params, np * sizeof(float)));
    TRY(backend_copy(be, ctx, t->snap_eb, t->e.bufs, nb * sizeof(float)));
    for (int i = 0; i < n; i++) TRY(backend_copy(be, ctx, t->snap_opt[i], v[i].data, v[i].n * sizeof(float)));
    t->snap_updates = t->e.updates;
    t->snap_ostep = t->opt.step;
    t->snap_bn = model_bn_batches(t->m);
    return YOLOC_OK;
}

static status snapshot_restore(trainer *t) {
    backend be = model_backend(t->m);
    void *ctx = model_backend_ctx(t->m);
    size_t np = model_num_params(t->m), nb = model_num_bufs(t->m);
    TRY(backend_copy(be, ctx, model_params(t->m), t->snap_p, np * sizeof(float)));
    TRY(backend_copy(be, ctx, model_bufs(t->m), t->snap_b, nb * sizeof(float)));
    TRY(backend_copy(be, ctx, t->e.params, t->snap_ep, np * sizeof(float)));
    TRY(backend_copy(be, ctx, t->e.bufs, t->snap_eb, nb * sizeof(float)));
    optim_state_view v[OPTIM_MAX_STATE];
    int n = optim_state(&t->opt, v);
    for (int i = 0; i < n; i++) TRY(backend_copy(be, ctx, v[i].data, t->snap_opt[i], v[i].n * sizeof(float)));
    t->e.updates = t->snap_updates;
    t->opt.step = t->snap_ostep;
    model_set_bn_batches(t->m, t->snap_bn);
    return YOLOC_OK;
}

/* ------------------------------------------------------------------------ */
/* Checkpoints and validation. */

static status save_checkpoint(trainer *t, int epoch, const char *which) {
    char path[4300];
    snprintf(path, sizeof path, "%s/weights/%s.safetensors", t->dir, which);
    ckpt_meta meta = {.epoch = epoch,
                      .step = t->step,
                      .iteration = t->iteration,
                      .last_opt_iter = t->last_opt_iter,
                      .best_fitness = t->best_fitness,
                      .best_epoch = t->best_epoch,
                      .lr_factor = t->lr_factor,
                      .nonfinite_steps = t->nonfinite_steps,
                      .args_yaml = t->args_text};
    /* never a NaN checkpoint (checked on the backend) */
    const ops_chunk all = {0, model_num_params(t->m)};
    if (!backend_chunk_all_finite(model_backend(t->m), &all, 1, all.len, t->e.params))
        return err_set(YOLOC_ERR_NUMERIC, "not writing %s: the EMA weights hold non-finite values", path);
    return ckpt_save(path, t->m, &t->e, &t->opt, &meta, t->ds.names, t->ds.nc);
}

/* Precise BatchNorm statistics of the EMA weights (bnstats.h), written into
 * the EMA's buffers: the validation model and the checkpoints then carry
 * them. The images and their augmentation are the same at every call and on
 * every process (this epoch's pipeline, a fixed seed), so resume stays
 * exact; with SyncBatchNorm every process runs the same forwards. */
static status recompute_bn_stats(trainer *t, const aug_params *aug, double *seconds) {
    bnstats_options bo = {.images = (int)t->r.lp.bn_stats_images,
                          .batch = (int)t->c->batch,
                          .imgsz = (int)t->c->imgsz,
                          .workers = t->lo.workers,
                          .augment = 1,
                          .aug = *aug,
                          .seed = bnstats_seed((uint64_t)t->c->seed)};
    bnstats_result br;
    TRY(bnstats_recompute(t->m, t->e.params, t->e.bufs, &t->ds, &t->ds.train, &bo, &br));
    *seconds = br.seconds;
    return YOLOC_OK;
}

/* The EMA weights into the validation model (the same backend). */
static status ema_to_val_model(trainer *t) {
    backend be = model_backend(t->m);
    void *ctx = model_backend_ctx(t->m);
    TRY(backend_copy(be, ctx, model_params(t->vm), t->e.params, model_num_params(t->m) * sizeof(float)));
    return backend_copy(be, ctx, model_bufs(t->vm), t->e.bufs, model_num_bufs(t->m) * sizeof(float));
}

static status run_validation(trainer *t, int verbose, val_result *vr) {
    val_options vo;
    val_options_default(&vo);
    vo.batch = val_batch_of_training((int)t->c->batch);
    vo.imgsz = (int)t->c->imgsz;
    vo.workers = t->lo.workers;
    val_options_from_config(&vo, t->c);
    vo.compute_loss = 1;
    vo.loss_cfg = (detloss_cfg){.gains = {(float)t->c->box, (float)t->c->cls, (float)t->c->dfl},
                                .label_smoothing = (float)t->c->label_smoothing};
    vo.verbose = verbose && t->d->world == 1;
    const ds_split *sp = t->ds.val.nimages ? &t->ds.val : &t->ds.train;
    if (t->d->world == 1) return validate_run(t->vm, &t->ds, sp, &vo, vr);
    /* several processes: this rank's shard (images rank, rank+world, ...),
     * then the detections are gathered and rank 0 scores the whole split */
    vo.shard_rank = t->d->rank;
    vo.shard_world = t->d->world;
    status st = validate_run(t->vm, &t->ds, sp, &vo, vr);
    if (st == YOLOC_OK) st = validate_gather(vr, t->d, t->ds.names, vo.metric);
    if (st == YOLOC_OK && verbose && t->lead) eval_summary_print(&vr->sum, stdout);
    return st;
}

/* ------------------------------------------------------------------------ */
/* Several processes: every rank starts from rank 0's state, after checking
 * that all run the same settings and model. */

static uint64_t fnv1a(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static status sync_start(trainer *t) {
    dist *d = t->d;
    if (d->world == 1) return YOLOC_OK;
    /* agreement: the resolved settings (minus what may differ per process)
     * and the model's tensors */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return err_set(YOLOC_ERR_NOMEM, "out of memory");
    long workers = t->c->workers, threads = t->c->threads;
    t->c->workers = t->c->threads = 0;
    config_write_yaml(t->c, f);
    t->c->workers = workers;
    t->c->threads = threads;
    fclose(f);
    uint64_t h = fnv1a(0xcbf29ce484222325ull, text, len);
    free(text);
    for (size_t i = 0; i < model_num_tensors(t->m); i++) {
        const param_info *p = model_tensor(t->m, i);
        h = fnv1a(h, p->name, strlen(p->name));
        h = fnv1a(h, p->shape, sizeof(int64_t) * (size_t)p->ndim);
    }
    uint64_t h0 = h;
    TRY(dist_broadcast(d, &h0, sizeof h0, 0));
    double differ = h != h0;
    TRY(dist_allreduce_sum_f64(d, &differ, 1));
    if (differ > 0) {
        if (h != h0)
            return err_set(YOLOC_ERR_INVALID,
                           "rank %d: its settings or model differ from rank 0's (hash %016llx vs %016llx); every "
                           "process must run the same command",
                           d->rank, (unsigned long long)h, (unsigned long long)h0);
        return err_set(YOLOC_ERR_INVALID, "rank %d: %.0f other rank(s) run different settings or models", d->rank, differ);
    }
    /* rank 0's weights, statistics, EMA, optimizer state and counters */
    backend be = model_backend(t->m);
    void *bx = model_backend_ctx(t->m);
    TRY(bcomm_broadcast(d, be, bx, model_params(t->m), model_num_params(t->m) * sizeof(float), 0));
    TRY(bcomm_broadcast(d, be, bx, model_bufs(t->m), model_num_bufs(t->m) * sizeof(float), 0));
    TRY(bcomm_broadcast(d, be, bx, t->e.params, t->e.nparams * sizeof(float), 0));
    if (t->e.nbufs) TRY(bcomm_broadcast(d, be, bx, t->e.bufs, t->e.nbufs * sizeof(float), 0));
    optim_state_view v[OPTIM_MAX_STATE];
    int nv = optim_state(&t->opt, v);
    for (int i = 0; i < nv; i++) TRY(bcomm_broadcast(d, be, bx, v[i].data, v[i].n * sizeof(float), 0));
    int64_t nbt = model_bn_batches(t->m);
    long counters[8] = {t->step, t->iteration, t->last_opt_iter, t->best_epoch, t->nonfinite_steps, t->e.updates,
                        t->opt.step, (long)nbt};
    double reals[2] = {t->best_fitness, t->lr_factor};
    TRY(dist_broadcast(d, counters, sizeof counters, 0));
    TRY(dist_broadcast(d, reals, sizeof reals, 0));
    TRY(dist_broadcast(d, &t->start_epoch, sizeof t->start_epoch, 0));
    t->step = counters[0];
    t->iteration = counters[1];
    t->last_opt_iter = counters[2];
    t->best_epoch = (int)counters[3];
    t->nonfinite_steps = counters[4];
    t->e.updates = counters[5];
    t->opt.step = counters[6];
    model_set_bn_batches(t->m, counters[7]);
    t->best_fitness = reals[0];
    t->lr_factor = reals[1];
    TRY(build_buckets(t));
    if (bcomm_staged(d, be) && !(t->grad_stage = malloc(model_num_params(t->m) * sizeof(float))))
        return err_set(YOLOC_ERR_NOMEM, "out of memory (host staging of the gradients)");
    model_set_backward_hook(t->m, bwd_hook, t);
    /* what one all-reduce of the gradients costs when nothing hides it (the
     * reference for the overlap reported each epoch) */
    TRY(model_zero_grad(t->m));
    double times[3];
    for (int k = 0; k < 3; k++) {
        TRY(dist_barrier(d));
        double t0 = time_now();
        TRY(bcomm_allreduce_f32(d, be, bx, model_grads(t->m), model_num_params(t->m)));
        times[k] = time_now() - t0;
    }
    t->allreduce_ref_s = time_median(times, 3);
    printf("processes: rank 0's state broadcast; gradients all-reduced in %d buckets during backward (one blocking "
           "all-reduce of %.1f MB takes %.1f ms)\n",
           t->nbuckets, model_num_params(t->m) * 4.0 / 1e6, t->allreduce_ref_s * 1e3);
    return YOLOC_OK;
}

/* Rank 0's status of a step only it does (writing files), shared so every
 * rank stops together. */
static status agree(trainer *t, status st) {
    if (t->d->world == 1) return st;
    int v = st < 0 ? st : 0;
    status bs = dist_broadcast(t->d, &v, sizeof v, 0);
    if (bs < 0) return bs;
    if (v < 0 && !t->lead) return err_set(v, "rank %d: rank 0 failed (see its message)", t->d->rank);
    return st < 0 ? st : (status)v;
}

/* ------------------------------------------------------------------------ */
/* Logs. */

/* Keeps the header and the rows whose first column is < limit (a resumed
 * run drops what it is about to redo). */
static status csv_keep_before(const char *path, long limit) {
    char *text;
    size_t len;
    TRY(file_read_all(path, (size_t)1 << 31, &text, &len));
    FILE *f = fopen(path, "w");
    if (!f) {
        free(text);
        return err_set(YOLOC_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    }
    int first = 1;
    for (char *line = text, *nl; line && *line; line = nl ? nl + 1 : NULL, first = 0) {
        nl = strchr(line, '\n');
        if (nl) *nl = 0;
        if (first || strtol(line, NULL, 10) < limit) fprintf(f, "%s\n", line);
    }
    free(text);
    return fclose(f) == 0 ? YOLOC_OK : err_set(YOLOC_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
}

/* Opens a CSV log for appending, writing the header when it is new; on
 * resume keeps the rows before `keep_before`. */
static status open_csv(const char *path, int resuming, long keep_before, const char *header, FILE **out) {
    int fresh = !resuming || !path_exists(path);
    if (!fresh) TRY(csv_keep_before(path, keep_before));
    *out = fopen(path, fresh ? "w" : "a");
    if (!*out) return err_set(YOLOC_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    if (fresh) fputs(header, *out);
    return YOLOC_OK;
}

static status open_logs(trainer *t, int resuming) {
    char p[4300];
    snprintf(p, sizeof p, "%s/steps.csv", t->dir);
    const char *const *n = t->loss.names; /* box/cls/dfl (v8) */
    char h[512];
    snprintf(h, sizeof h, "step,epoch,lr/pg0,lr/pg1,lr/pg2,momentum,%s_loss,%s_loss,%s_loss,grad_norm,img_s,wait_ms,noise_scale\n",
             n[0], n[1], n[2]);
    TRY(open_csv(p, resuming, t->step, h, &t->steps_csv));
    snprintf(p, sizeof p, "%s/results.csv", t->dir);
    snprintf(h, sizeof h,
             "epoch,time,train/%s_loss,train/%s_loss,train/%s_loss,metrics/precision(B),metrics/recall(B),"
             "metrics/mAP50(B),metrics/mAP50-95(B),val/%s_loss,val/%s_loss,val/%s_loss,lr/pg0,lr/pg1,lr/pg2\n",
             n[0], n[1], n[2], n[0], n[1], n[2]);
    TRY(open_csv(p, resuming, t->start_epoch + 1, h, &t->results_csv));
    if (t->c->tensorboard) {
        char ev[4300];
        status st = tfe_open(&t->tb, t->dir, ev, sizeof ev);
        if (st < 0) { /* a log: the training goes on without it */
            log_warn("tensorboard: %s", yoloc_last_error());
            err_clear();
        } else {
            log_info("tensorboard: %s (tensorboard --logdir %s)", ev, config_project(t->c));
        }
    }
    return YOLOC_OK;
}

/* TensorBoard: one scalar; a write error is reported once and ends the
 * event file (the run goes on). */
static void tb_scalar(trainer *t, const char *tag, long step, double v) {
    if (!t->tb || !isfinite(v)) return;
    if (tfe_scalar(t->tb, tag, step, v) < 0) {
        log_warn("tensorboard: %s; no more events are written", yoloc_last_error());
        err_clear();
        tfe_close(t->tb);
        t->tb = NULL;
    }
}

/* The plots of the run folder as images (at the last epoch's step). */
static void tb_plots(trainer *t, long step) {
    static const char *const NAMES[] = {"results", "lr", "labels", "train_batch0", "PR_curve", "F1_curve", "P_curve",
                                        "R_curve", "confusion_matrix", "confusion_matrix_normalized", NULL};
    for (int i = 0; NAMES[i] && t->tb; i++) {
        char p[4300];
        snprintf(p, sizeof p, "%s/%s.png", t->dir, NAMES[i]);
        if (access(p, R_OK) != 0) continue;
        if (tfe_image_file(t->tb, NAMES[i], step, p) < 0) {
            log_warn("tensorboard: %s", yoloc_last_error());
            err_clear();
        }
    }
    if (t->tb && tfe_flush(t->tb) < 0) {
        log_warn("tensorboard: %s", yoloc_last_error());
        err_clear();
    }
}

/* results.png: the columns of results.csv over epochs; lr.png: the
 * per-step learning rates from steps.csv. */
static status read_csv(const char *path, double **vals, size_t *rows, size_t *cols) {
    char *text;
    size_t len;
    TRY(file_read_all(path, (size_t)1 << 31, &text, &len));
    size_t nrows = 0, ncols = 1;
    for (char *p = text; *p && *p != '\n'; p++) ncols += *p == ',';
    for (char *p = text; *p; p++) nrows += *p == '\n';
    nrows = nrows ? nrows - 1 : 0;
    double *v = malloc((nrows * ncols + 1) * sizeof(double));
    if (!v) {
        free(text);
        return err_set(YOLOC_ERR_NOMEM, "out of memory");
    }
    char *line = strchr(text, '\n');
    size_t r = 0;
    while (line && line[1] && r < nrows) {
        line++;
        char *p = line;
        for (size_t k = 0; k < ncols; k++) {
            v[r * ncols + k] = strtod(p, &p);
            if (*p == ',') p++;
        }
        r++;
        line = strchr(line, '\n');
    }
    free(text);
    *vals = v;
    *rows = r;
    *cols = ncols;
    return YOLOC_OK;
}

static status write_plots(trainer *t) {
    char p[4300], out[4300];
    double *v = NULL, *x = NULL;
    size_t rows, cols;
    snprintf(p, sizeof p, "%s/results.csv", t->dir);
    TRY(read_csv(p, &v, &rows, &cols));
    status st = YOLOC_OK;
    if (rows >= 1 && cols >= 15) {
        char tl[6][48];
        for (int k = 0; k < 3; k++) {
            snprintf(tl[k], sizeof tl[k], "train/%s_loss", t->loss.names[k]);
            snprintf(tl[3 + k], sizeof tl[3 + k], "val/%s_loss", t->loss.names[k]);
        }
        const char *titles[10] = {tl[0], tl[1], tl[2], "metrics/precision(B)", "metrics/recall(B)", tl[3], tl[4], tl[5],
                                  "metrics/mAP50(B)", "metrics/mAP50-95(B)"};
        static const int colof[10] = {2, 3, 4, 5, 6, 9, 10, 11, 7, 8}; /* after epoch and time */
        plot_canvas cv;
        if ((st = plot_canvas_init(&cv, 1500, 600)) == YOLOC_OK) {
            x = malloc(rows * sizeof(double));
            double *y = malloc(rows * sizeof(double));
            for (int k = 0; k < 10 && x && y; k++) {
                for (size_t r = 0; r < rows; r++) {
                    x[r] = v[r * cols];
                    y[r] = v[r * cols + colof[k]];
                }
                plot_series s = {"results", x, y, rows};
                plot_axes ax = {titles[k], "epoch", NULL, 0, 0, rows < 30};
                plot_lines(cv.cr, (k % 5) * 300, (k / 5) * 300, 300, 300, &s, 1, &ax);
            }
            free(y);
            snprintf(out, sizeof out, "%s/results.png", t->dir);
            st = plot_canvas_save(&cv, out);
            plot_canvas_free(&cv);
        }
    }
    free(v);
    free(x);
    if (st < 0) return st;
    snprintf(p, sizeof p, "%s/steps.csv", t->dir);
    TRY(read_csv(p, &v, &rows, &cols));
    if (rows >= 1 && cols >= 6) {
        double *s = malloc(rows * sizeof(double)), *ys[4];
        for (int k = 0; k < 4; k++) ys[k] = malloc(rows * sizeof(double));
        for (size_t r = 0; r < rows; r++) {
            s[r] = v[r * cols];
            for (int k = 0; k < 4; k++) ys[k][r] = v[r * cols + 2 + k];
        }
        plot_series ser[3] = {{"lr/pg0 (bias)", s, ys[0], rows},
                              {"lr/pg1 (weights)", s, ys[1], rows},
                              {"lr/pg2 (norm)", s, ys[2], rows}};
        plot_axes ax = {"learning rate per optimizer step", "step", "lr", 0, 1, 0};
        plot_canvas cv;
        if ((st = plot_canvas_init(&cv, 1200, 800)) == YOLOC_OK) {
            plot_lines(cv.cr, 0, 0, 1200, 520, ser, 3, &ax);
            plot_series ms = {"momentum", s, ys[3], rows};
            plot_axes mx = {"momentum", "step", NULL, 0, 0, 0};
            plot_lines(cv.cr, 0, 520, 1200, 280, &ms, 1, &mx);
            snprintf(out, sizeof out, "%s/lr.png", t->dir);
            st = plot_canvas_save(&cv, out);
            plot_canvas_free(&cv);
        }
        free(s);
        for (int k = 0; k < 4; k++) free(ys[k]);
    }
    free(v);
    return st;
}

/* PR_curve.png (precision at each recall, IoU 0.5, per class and their
 * mean) and confusion_matrix.png after the final validation. */
static status write_val_plots(trainer *t, const val_result *vr) {
    char out[4300];
    const ul_metrics *u = &vr->sum.ul;
    if (u->nap > 0 && u->pr_curve) {
        size_t nap = u->nap, ns = nap <= 20 ? nap + 1 : 1;
        double *px = malloc(1000 * sizeof(double)), *mean = calloc(1000, sizeof(double));
        plot_series *s = calloc(ns, sizeof *s);
        char (*labels)[96] = calloc(ns, sizeof *labels);
        if (!px || !mean || !s || !labels) {
            free(px), free(mean), free(s), free(labels);
            return err_set(YOLOC_ERR_NOMEM, "out of memory");
        }
        for (int k = 0; k < 1000; k++) px[k] = k / 999.0;
        for (size_t i = 0; i < nap; i++)
            for (int k = 0; k < 1000; k++) mean[k] += u->pr_curve[i * 1000 + k] / (double)nap;
        size_t j = 0;
        for (size_t i = 0; ns > 1 && i < nap; i++, j++) {
            int c = u->ap_class[i];
            snprintf(labels[j], sizeof labels[j], "%s %.3f", t->ds.names[c], u->ap50[i]);
            s[j] = (plot_series){labels[j], px, u->pr_curve + i * 1000, 1000};
        }
        snprintf(labels[j], sizeof labels[j], "all classes %.3f mAP@0.5", u->map50);
        s[j] = (plot_series){labels[j], px, mean, 1000};
        plot_axes ax = {"precision-recall (IoU 0.5)", "recall", "precision", 0, 1, 0};
        snprintf(out, sizeof out, "%s/PR_curve.png", t->dir);
        status st = plot_lines_png(out, 900, 700, s, (int)ns, &ax);
        free(px), free(mean), free(s), free(labels);
        TRY(st);
    }
    snprintf(out, sizeof out, "%s/confusion_matrix.png", t->dir);
    return plot_confusion(out, vr->cm.m, vr->cm.nc, t->ds.names);
}

/* ------------------------------------------------------------------------ */
/* Progress. */

typedef struct {
    int tty;
    double t_epoch, t_last_print;
    double loss_sum[3];
    long nbatches;
    long instances;
} progress;

static void progress_line(const trainer *t, progress *pg, int epoch, long bi, long nb, int final) {
    double now = time_now(), el = now - pg->t_epoch;
    double rate = bi > 0 ? bi / el : 0, eta = rate > 0 ? (nb - bi) / rate : 0;
    double d = pg->nbatches ? (double)pg->nbatches : 1;
    char line[256];
    snprintf(line, sizeof line, "%6d/%-4ld %6.2fG %9.4g %9.4g %9.4g %9ld %6ld: %3.0f%% %ld/%ld [%.0fs<%.0fs, %.2fit/s]",
             epoch + 1, t->c->epochs, rss_gib(), pg->loss_sum[0] / d, pg->loss_sum[1] / d, pg->loss_sum[2] / d,
             pg->instances, t->c->imgsz, 100.0 * bi / (nb ? nb : 1), bi, nb, el, eta, rate);
    if (pg->tty) {
        printf("\r%s%s", line, final ? "\n" : "");
        fflush(stdout);
    } else if (final || (bi < nb && now - pg->t_last_print > 30)) { /* the last batch: the final line only */
        printf("%s\n", line);
        fflush(stdout);
        pg->t_last_print = now;
    }
}

/* ------------------------------------------------------------------------ */
/* The loop. */

/* The hyperparameters of the optimizer step taken now: yoloc kinds at the
 * step index; Ultralytics' at the iteration ni it sets them in (the
 * current batch, t->iteration - 1 once the batch is counted). */
static void step_hp(const trainer *t, int epoch, long nb, long ni, optim_group_hp hp[3], sched_point *sp) {
    if (t->r.ultra) sched_ultralytics_at(&t->r.sc, ni < 0 ? 0 : ni, epoch, nb, sp);
    else sched_at(&t->r.sc, t->step, sp);
    double fixed = t->h && t->h->lr_at ? t->h->lr_at(t->h->ctx, t->step) : -1;
    for (int g = 0; g < 3; g++) {
        hp[g].lr = fixed >= 0 ? fixed : sp->lr[g] * t->lr_factor;
        hp[g].momentum = fixed >= 0 ? t->r.momentum : sp->momentum;
        hp[g].weight_decay = g == 1 ? t->r.weight_decay : 0.0;
    }
}

/* ------------------------------------------------------------------------ */
/* Gradient noise scale (train/noise.h): small batches are each
 * accumulated batch (one process) or each process's share of the step
 * (several processes), the big one the whole step. Gradients are per unit
 * of the loss normaliser (the target-score total), batch sizes in images. */


/* One process: after a batch's backward, |this batch's gradient|^2 from the
 * difference with the buffer before it. */
static void ns_after_batch(trainer *t, double tss, long images) {
    double s = backend_chunk_sqdiff_copy(model_backend(t->m), t->ns_chunks, t->ns_nchunks, model_num_params(t->m),
                                         model_grads(t->m), t->ns_prev, t->ns_part);
    if (tss > 0 && images > 0) { /* as a mean per image; the step's score per image is applied at the step */
        t->ns_small2 += s / ((double)images * images);
        t->ns_small_n += 1;
        t->ns_small_b += (double)images;
    }
}

/* At the step: big = the whole step's gradient (already summed over the
 * processes), small = the mean of the recorded small ones. */
static void ns_step(trainer *t, double tss, long images) {
    if (t->ns_small_n > 0 && tss > 0) {
        double bs = t->ns_small_b / t->ns_small_n, bb = (double)images;
        /* every gradient per unit of the step's mean target score per
         * image: a batch's own score total varies far more than its
         * gradient does, so normalising each by its own would inflate the
         * small batches' norms */
        double k = tss / bb, gs2 = t->ns_small2 / t->ns_small_n / (k * k);
        double gb2 = backend_chunk_sumsq(model_backend(t->m), t->ns_chunks, t->ns_nchunks, model_num_params(t->m),
                                         model_grads(t->m), t->ns_part) /
                     (tss * tss);
        noise_est_add(&t->ns, bs, gs2, bb, gb2);
        t->ns_value = noise_est_value(&t->ns);
    }
    t->ns_small2 = t->ns_small_n = t->ns_small_b = 0;
    if (t->ns_prev) /* a zero buffer cannot fail on the host backends; a failure shows in the next estimate */
        (void)backend_zero(model_backend(t->m), model_backend_ctx(t->m), t->ns_prev, model_num_params(t->m) * sizeof(float));
}

/* ------------------------------------------------------------------------ */
/* Gradient all-reduce in buckets, overlapped with backward. The flat
 * gradient buffer holds layers in forward order, so backward finishes them
 * from the end: a bucket (a contiguous range of ~1M floats covering whole
 * layers) can be reduced as soon as its first layer's backward is done,
 * while the earlier layers are still computing. */

#define BUCKET_FLOATS ((size_t)1 << 20)

static status build_buckets(trainer *t) {
    int nl = model_get_spec(t->m)->nlayers;
    t->buckets = calloc((size_t)nl + 1, sizeof *t->buckets);
    if (!t->buckets) return err_set(YOLOC_ERR_NOMEM, "out of memory");
    size_t hi = model_num_params(t->m), lo = hi;
    int first = nl;
    for (int l = nl - 1; l >= 0; l--) {
        size_t a, b;
        model_layer_param_range(t->m, l, &a, &b);
        if (b > a) {
            lo = a;
            first = l;
        }
        if (hi - lo >= BUCKET_FLOATS || (l == 0 && hi > lo)) {
            t->buckets[t->nbuckets++] = (struct gbucket){lo, hi, first, {{0}, 0}};
            hi = lo;
        }
    }
    return YOLOC_OK;
}

static void start_bucket(trainer *t, struct gbucket *bk) {
    if (t->ns_on) {
        const ops_chunk one = {bk->lo, bk->hi - bk->lo};
        t->ns_local2 += backend_chunk_sumsq(model_backend(t->m), &one, 1, one.len, model_grads(t->m), t->ns_part);
    }
    if (t->hook_st == YOLOC_OK)
        t->hook_st = bcomm_istart(t->d, model_backend(t->m), model_backend_ctx(t->m), model_grads(t->m) + bk->lo,
                                  t->grad_stage ? t->grad_stage + bk->lo : NULL, bk->hi - bk->lo, &bk->req);
}

/* After layer `layer`'s backward: start every bucket it completes, and let
 * the ones in flight progress. */
static void bwd_hook(void *ctx, int layer) {
    trainer *t = ctx;
    if (!t->hook_armed) return;
    while (t->next_bucket < t->nbuckets && t->buckets[t->next_bucket].first_layer >= layer)
        start_bucket(t, &t->buckets[t->next_bucket++]);
    for (int k = 0; k < t->next_bucket; k++) dist_test(t->d, &t->buckets[k].req);
}

/* Starts what is left, waits for everything (the waiting time is what the
 * overlap did not hide). */
static status allreduce_finish(trainer *t) {
    while (t->next_bucket < t->nbuckets) start_bucket(t, &t->buckets[t->next_bucket++]);
    double t0 = time_now();
    for (int k = 0; k < t->nbuckets && t->hook_st == YOLOC_OK; k++) {
        struct gbucket *bk = &t->buckets[k];
        t->hook_st = bcomm_iwait(t->d, model_backend(t->m), model_backend_ctx(t->m), model_grads(t->m) + bk->lo,
                                 t->grad_stage ? t->grad_stage + bk->lo : NULL, bk->hi - bk->lo, &bk->req);
    }
    t->comm_step_s += time_now() - t0;
    t->hook_armed = 0;
    t->next_bucket = 0;
    status st = t->hook_st;
    t->hook_st = YOLOC_OK;
    return st;
}

static status train_epoch(trainer *t, int epoch, progress *pg, double tl[3]) {
    config *c = t->c;
    long nb = (long)loader_num_batches(t->L);
    TRY(loader_start_epoch(t->L, epoch));
    /* per optimizer step: the loss sums S (gains applied, not normalised) and
     * the target-score total, so the step is normalised as one batch */
    double step_S[3] = {0, 0, 0}, step_tss = 0, step_wait = 0, t_step = time_now();
    long step_images = 0, group_end = -1;
    int group_bad = 0;
    memset(pg, 0, sizeof *pg);
    pg->tty = isatty(fileno(stdout)) && t->d->world == 1; /* mpirun gives ranks a pseudo-terminal */
    pg->t_epoch = pg->t_last_print = time_now();
    if (!t->r.ultra) TRY(model_zero_grad(t->m)); /* Ultralytics carries leftover gradients into the next epoch */
    for (long bi = 0; bi < nb; bi++) {
        const loader_batch *b;
        TRY(loader_next(t->L, &b));
        if (!b) break;
        if (c->bn_freeze > 0 && t->step >= c->bn_freeze && !t->bn_frozen) {
            model_set_bn_frozen(t->m, 1);
            t->bn_frozen = 1;
            noise_est_init(&t->ns, NS_DECAY);
            t->ns_value = NAN;
            printf("step %ld: BatchNorm statistics frozen (bn_freeze=%ld): each image's gradient is now its own; the "
                   "noise-scale averages restart\n",
                   t->step, (long)c->bn_freeze);
        }
        if (!t->r.ultra && bi > group_end) { /* this batch opens an optimizer-step group */
            group_end = bi + t->r.lp.accumulate - 1;
            if (group_end > nb - 1) group_end = nb - 1; /* a partial group at the end of the epoch */
        }
        TRY(model_plan(t->m, b->n, b->h, b->w, 1));
        const float *out;
        TRY(model_forward(t->m, b->images, &out));
        /* the loss writes the head's gradient where the backward reads it */
        float *hgrad = model_head_grad(t->m);
        const ops_chunk hchunk = {0, (size_t)b->n * model_anchors(t->m) * model_raw_channels(t->m)};
        /* does this batch end an optimizer step? (its backward then starts the all-reduce) */
        int do_step;
        if (t->r.ultra) {
            int acc = sched_ultralytics_accumulate(&t->r.sc, t->iteration, nb);
            do_step = t->iteration - t->last_opt_iter >= acc;
        } else {
            do_step = bi == group_end;
        }
        t->hook_armed = do_step && t->d->world > 1;
        float terms[3];
        (void)out;
        status st = detloss_compute(&t->loss, t->m, b->targets, b->ntargets, terms, hgrad);
        if (st < 0 && st != YOLOC_ERR_NUMERIC) return st;
        if (st == YOLOC_OK) {
            /* yoloc: back to the batch's sums (x its target-score normaliser);
             * the step's normalisation follows at the step. Ultralytics: loss
             * items x batch size. */
            double scale = t->r.ultra ? (double)b->n : t->loss.norm; /* ranks are summed by the all-reduce */
            backend_chunk_scale(model_backend(t->m), &hchunk, 1, hchunk.len, hgrad, (float)scale);
            TRY(model_backward(t->m, hgrad));
            for (int k = 0; k < 3; k++) {
                step_S[k] += terms[k] * (t->r.ultra ? (double)b->n : t->loss.norm);
                pg->loss_sum[k] += terms[k];
                tl[k] += terms[k];
            }
            step_tss += t->loss.norm_raw;
            pg->nbatches++;
            if (t->ns_on && t->d->world == 1) ns_after_batch(t, t->loss.norm_raw, b->n);
        } else {
            group_bad = 1;
        }
        step_images += b->n;
        step_wait += b->wait_ms;
        pg->instances = (long)b->ntargets;
        t->iteration++;
        if (!do_step) {
            progress_line(t, pg, epoch, bi + 1, nb, 0);
            continue;
        }
        if (t->d->world > 1) {
            /* gradients summed over the ranks; the step's statistics too, so
             * the normalisation and the logs are those of the whole step */
            TRY(allreduce_finish(t));
            double v[8] = {step_tss, step_S[0], step_S[1], step_S[2], (double)step_images, (double)group_bad, 0, 0};
            if (t->ns_on && step_tss > 0) { /* this process's share as the small batch */
                v[6] = t->ns_local2 / ((double)step_images * step_images);
                v[7] = (double)step_images;
            }
            TRY(dist_allreduce_sum_f64(t->d, v, 8));
            if (t->ns_on && v[7] > 0) {
                t->ns_small2 = v[6];
                t->ns_small_n = t->d->world;
                t->ns_small_b = v[7];
            }
            t->ns_local2 = 0;
            step_tss = v[0];
            for (int k = 0; k < 3; k++) step_S[k] = v[1 + k];
            step_images = (long)v[4];
            group_bad = v[5] > 0;
        }
        optim_group_hp hp[3];
        sched_point sp;
        step_hp(t, epoch, nb, t->iteration - 1, hp, &sp);
        float *g = model_grads(t->m);
        for (int f = 0; f < t->nfault; f++)
            if (t->fault_steps[f] == t->step) { /* injected fault (tests) */
                const float nan = NAN;
                TRY(backend_from_host(model_backend(t->m), model_backend_ctx(t->m), g, &nan, sizeof nan));
            }
        if (t->ns_on) ns_step(t, group_bad ? 0 : step_tss, step_images);
        double norm = t->r.ultra ? (step_images ? (double)step_images : 1.0) : (step_tss > 1.0 ? step_tss : 1.0);
        if (!t->r.ultra) grad_scale(&t->opt, g, (float)(c->nbs / norm)); /* nbs x the step as one batch */
        double gnorm = grad_global_norm(&t->opt, g);
        if (group_bad || !isfinite(gnorm)) {
            t->nonfinite_steps++;
            t->consecutive_bad++;
            log_warn("step %ld (epoch %d): non-finite %s, step skipped (%ld so far)", t->step, epoch + 1,
                     group_bad ? "loss" : "gradient", t->nonfinite_steps);
            if (t->consecutive_bad >= MAX_CONSECUTIVE_NONFINITE) {
                TRY(snapshot_restore(t));
                t->lr_factor *= ROLLBACK_LR_FACTOR;
                t->consecutive_bad = 0;
                log_warn("%d non-finite steps in a row: rolled back to the state at the start of the epoch and "
                         "lowered the learning rate x%g (now x%g of the schedule)",
                         MAX_CONSECUTIVE_NONFINITE, ROLLBACK_LR_FACTOR, t->lr_factor);
            }
        } else {
            t->consecutive_bad = 0;
            if (c->max_norm > 0) grad_clip(&t->opt, g, c->max_norm);
            TRY(optim_step(&t->opt, model_params(t->m), g, hp));
            ema_update(&t->e, model_params(t->m), model_bufs(t->m));
        }
        double dt = time_now() - t_step;
        if (t->steps_csv)
            fprintf(t->steps_csv, "%ld,%d,%.17g,%.17g,%.17g,%.17g,%.9g,%.9g,%.9g,%.6g,%.4g,%.4g,%.6g\n", t->step, epoch + 1,
                    hp[0].lr, hp[1].lr, hp[2].lr, hp[0].momentum, step_S[0] / norm, step_S[1] / norm, step_S[2] / norm,
                    gnorm, step_images / (dt > 0 ? dt : 1e-9), step_wait, t->ns_on ? t->ns_value : NAN);
        if (t->tb) {
            static const char *const LR[3] = {"step/lr/pg0", "step/lr/pg1", "step/lr/pg2"};
            char tag[64];
            for (int k = 0; k < 3; k++) {
                tb_scalar(t, LR[k], t->step, hp[k].lr);
                snprintf(tag, sizeof tag, "step/%s_loss", t->loss.names[k]);
                tb_scalar(t, tag, t->step, step_S[k] / norm);
            }
            tb_scalar(t, "step/grad_norm", t->step, gnorm);
        }
        if (t->h && t->h->on_step) {
            train_step_info si = {.step = t->step, .epoch = epoch, .momentum = hp[0].momentum, .grad_norm = gnorm,
                                  .skipped = group_bad || !isfinite(gnorm), .img_s = step_images / (dt > 0 ? dt : 1e-9),
                                  .wait_ms = step_wait, .noise_scale = t->ns_on ? t->ns_value : NAN};
            for (int k = 0; k < 3; k++) {
                si.lr[k] = hp[k].lr;
                si.loss[k] = step_S[k] / norm;
            }
            if (t->h->on_step(t->h->ctx, &si)) t->stop = 1;
        }
        TRY(model_zero_grad(t->m));
        t->step++;
        t->last_opt_iter = t->iteration - 1;
        memset(step_S, 0, sizeof step_S);
        step_tss = 0;
        step_images = 0;
        step_wait = 0;
        group_bad = 0;
        t_step = time_now();
        progress_line(t, pg, epoch, bi + 1, nb, 0);
        if (t->stop) break;
    }
    if (t->steps_csv) fflush(t->steps_csv);
    progress_line(t, pg, epoch, nb, nb, 1);
    double d = pg->nbatches ? (double)pg->nbatches : 1;
    for (int k = 0; k < 3; k++) tl[k] /= d;
    return YOLOC_OK;
}

static status resume_prepare(trainer *t, const char *run) {
    char path[4300];
    snprintf(path, sizeof path, "%s/weights/last.safetensors", run);
    ckpt_meta meta;
    TRY(ckpt_load(path, t->m, &t->e, &t->opt, &meta));
    t->start_epoch = meta.epoch + 1;
    t->step = meta.step;
    t->iteration = meta.iteration;
    t->last_opt_iter = meta.last_opt_iter;
    t->best_fitness = meta.best_fitness;
    t->best_epoch = meta.best_epoch;
    t->lr_factor = meta.lr_factor;
    t->nonfinite_steps = meta.nonfinite_steps;
    printf("resume: %s, epoch %d of %ld done, step %ld\n", path, meta.epoch + 1, t->c->epochs, t->step);
    return YOLOC_OK;
}

status train_run_ex(config *c, dist *d, const train_hooks *h, train_result *res) {
    trainer t;
    memset(&t, 0, sizeof t);
    t.c = c;
    t.d = d;
    t.h = h;
    if (res) {
        memset(res, 0, sizeof *res);
        res->best_epoch = -1;
        res->noise_scale = NAN;
    }
    char resume_run[4096] = "";
    status st = YOLOC_OK;

    int resume_flag = 0;
    if (parse_bool(c->resume, &resume_flag) != 0) resume_flag = -1; /* a path */
    if (resume_flag != 0) {
        if (resume_flag == 1) TRY_GOTO(st, find_last_run(config_project(c), resume_run, sizeof resume_run));
        else {
            snprintf(resume_run, sizeof resume_run, "%s", c->resume);
            size_t n = strlen(resume_run);
            const char *suffix = "/weights/last.safetensors";
            if (n > strlen(suffix) && strcmp(resume_run + n - strlen(suffix), suffix) == 0)
                resume_run[n - strlen(suffix)] = 0;
        }
        char ck[4300], *args = NULL;
        snprintf(ck, sizeof ck, "%s/weights/last.safetensors", resume_run);
        ckpt_meta meta;
        TRY_GOTO(st, ckpt_peek(ck, &meta, &args));
        /* the run's own settings; only threads/workers/patience may change */
        char tmp[4300];
        snprintf(tmp, sizeof tmp, "%s/.resume_args.yaml", resume_run);
        if ((st = file_write_atomic(tmp, args, strlen(args))) == YOLOC_OK) {
            long workers = c->workers, threads = c->threads, patience = c->patience;
            int gw = c->given.workers, gt = c->given.threads, gp = c->given.patience;
            config_free(c);
            config_init(c);
            st = config_load_yaml(c, tmp);
            unlink(tmp);
            if (gw) c->workers = workers;
            if (gt) c->threads = threads;
            if (gp) c->patience = patience;
        }
        /* another number of processes: keep the effective batch by
         * changing accumulate (the run's B_eff is in args.yaml's derived block) */
        const char *pp = args ? strstr(args, "\n  processes: ") : NULL, *bp = args ? strstr(args, "\n  b_eff: ") : NULL;
        long old_world = pp ? strtol(pp + 14, NULL, 10) : d->world, b_eff = bp ? strtol(bp + 9, NULL, 10) : 0;
        if (st == YOLOC_OK && old_world != d->world && b_eff > 0) {
            long per = (long)c->batch * d->world, old_acc = c->accumulate;
            if (b_eff % per != 0) {
                st = err_set(YOLOC_ERR_INVALID,
                             "resume with %d processes: the effective batch %ld of the run is not a multiple of batch "
                             "%ld x %d processes; resume with as many processes as before (%ld)",
                             d->world, b_eff, (long)c->batch, d->world, old_world);
            } else {
                c->accumulate = b_eff / per;
                c->given.accumulate = 1;
                printf("resume: %d processes instead of %ld: accumulate %ld -> %ld keeps the effective batch %ld (the "
                       "data order changes, so the run continues equivalently, not bit for bit)\n",
                       d->world, old_world, old_acc, c->accumulate, b_eff);
            }
        }
        free(args);
        if (st < 0) goto fail;
        if (meta.epoch + 1 >= c->epochs) {
            st = err_set(YOLOC_ERR_INVALID, "resume: %s already finished all %ld epochs", resume_run, c->epochs);
            goto fail;
        }
    }
    TRY_GOTO(st, setup(&t));
    if (c->dry) {
        printf("dry run: the schedule (nothing trained):\n");
        sched_print(&t.r.sc, stdout);
        goto fail; /* the normal exit of a dry run */
    }
    if (resume_flag != 0) {
        snprintf(t.dir, sizeof t.dir, "%s", resume_run);
        if (t.lead) st = resume_prepare(&t, resume_run);
        TRY_GOTO(st, agree(&t, st));
    } else {
        if (t.lead) st = make_run_dir(c, t.dir, sizeof t.dir);
        TRY_GOTO(st, agree(&t, st));
    }
    TRY_GOTO(st, sync_start(&t));
    if (t.lead) {
        st = write_args_yaml(&t);
        if (st == YOLOC_OK) st = open_logs(&t, resume_flag != 0);
    }
    TRY_GOTO(st, agree(&t, st));
    if (res) snprintf(res->dir, sizeof res->dir, "%s", t.dir);
    printf("run directory: %s\n", t.dir);
    char ln[3][32];
    for (int k = 0; k < 3; k++) snprintf(ln[k], sizeof ln[k], "%s_loss", t.loss.names[k]);
    printf("%11s %7s %9s %9s %9s %9s %6s\n", "Epoch", "Mem", ln[0], ln[1], ln[2], "Instances", "Size");

    double t_start = time_now();
    int last_epoch = t.start_epoch - 1, patience_stop = 0;
    for (int epoch = t.start_epoch; epoch < c->epochs; epoch++) {
        aug_params epoch_aug = t.lo.aug; /* this epoch's training pipeline */
        if (c->close_mosaic > 0 && epoch >= c->epochs - c->close_mosaic) {
            epoch_aug.mosaic = epoch_aug.mixup = epoch_aug.cutmix = 0;
            TRY_GOTO(st, loader_set_aug(t.L, &epoch_aug));
            if (epoch == c->epochs - c->close_mosaic) printf("closing mosaic, mixup and cutmix for the last %ld epochs\n", c->close_mosaic);
        }
        TRY_GOTO(st, snapshot_take(&t));
        double epoch_comm_s = t.d->comm_s;
        size_t epoch_comm_bytes = t.d->comm_bytes;
        progress pg;
        double tl[3] = {0, 0, 0};
        TRY_GOTO(st, train_epoch(&t, epoch, &pg, tl));
        val_result vr;
        memset(&vr, 0, sizeof vr);
        double fitness = -(tl[0] + tl[1] + tl[2]);
        int final = epoch == c->epochs - 1;
        if (c->val || final) {
            double bn_s = 0;
            if (t.r.lp.bn_stats_images > 0) TRY_GOTO(st, recompute_bn_stats(&t, &epoch_aug, &bn_s));
            TRY_GOTO(st, ema_to_val_model(&t));
            TRY_GOTO(st, run_validation(&t, 0, &vr));
            fitness = vr.sum.map5095;
            char bn_note[48] = "";
            if (t.r.lp.bn_stats_images > 0) snprintf(bn_note, sizeof bn_note, ", BatchNorm statistics %.1fs", bn_s);
            printf("%22s %11zu %11zu %11.3g %11.3g %11.3g %11.3g  (val %.1fs%s)\n", "all", vr.sum.nimages,
                   vr.sum.ninstances, vr.sum.mp, vr.sum.mr, vr.sum.map50, vr.sum.map5095, vr.seconds, bn_note);
        }
        if (t.d->world > 1) { /* rank 0 scored the validation: everyone uses its fitness */
            TRY_GOTO(st, dist_broadcast(t.d, &fitness, sizeof fitness, 0));
            double spe = t.r.lp.steps_per_epoch ? (double)t.r.lp.steps_per_epoch : 1;
            if (t.lead)
                printf("processes: per optimizer step %.1f ms waiting for the gradient all-reduce (%.1f MB; %.0f%% of "
                       "its %.1f ms hidden behind backward), %.1f ms in all collectives (%.2f MB incl. SyncBatchNorm and "
                       "validation)\n",
                       1e3 * t.comm_step_s / spe, model_num_params(t.m) * 4.0 / 1e6,
                       t.allreduce_ref_s > 0 ? fmax(0, 100 * (1 - t.comm_step_s / spe / t.allreduce_ref_s)) : 0,
                       1e3 * t.allreduce_ref_s, 1e3 * (t.d->comm_s - epoch_comm_s) / spe,
                       (double)(t.d->comm_bytes - epoch_comm_bytes) / 1e6 / spe);
            t.comm_step_s = 0;
        }
        optim_group_hp hp[3];
        sched_point sp;
        step_hp(&t, epoch, (long)loader_num_batches(t.L), t.iteration - 1, hp, &sp);
        /* time: seconds since this process started training, as Ultralytics' column */
        if (t.results_csv) fprintf(t.results_csv, "%d,%.5g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g\n",
                epoch + 1, time_now() - t_start, tl[0], tl[1], tl[2], vr.sum.mp, vr.sum.mr, vr.sum.map50, vr.sum.map5095, vr.loss[0], vr.loss[1],
                vr.loss[2], hp[0].lr, hp[1].lr, hp[2].lr);
        if (t.results_csv) fflush(t.results_csv);
        if (t.tb) { /* the results.csv columns, named as Ultralytics logs them, at step epoch + 1 */
            const double col[13] = {tl[0],         tl[1],      tl[2],      vr.sum.mp,  vr.sum.mr,
                                    vr.sum.map50,  vr.sum.map5095,         vr.loss[0], vr.loss[1],
                                    vr.loss[2],    hp[0].lr,   hp[1].lr,   hp[2].lr};
            const int validated = c->val || final;
            char tag[64];
            for (int k = 0; k < 13; k++) {
                if (k >= 3 && k < 10 && !validated) continue;
                const char *const *n = t.loss.names;
                static const char *const FIXED[] = {"metrics/precision(B)", "metrics/recall(B)", "metrics/mAP50(B)",
                                                    "metrics/mAP50-95(B)", "lr/pg0", "lr/pg1", "lr/pg2"};
                if (k < 3) snprintf(tag, sizeof tag, "train/%s_loss", n[k]);
                else if (k < 7) snprintf(tag, sizeof tag, "%s", FIXED[k - 3]);
                else if (k < 10) snprintf(tag, sizeof tag, "val/%s_loss", n[k - 7]);
                else snprintf(tag, sizeof tag, "%s", FIXED[k - 6]);
                tb_scalar(&t, tag, epoch + 1, col[k]);
            }
            if (t.tb && tfe_flush(t.tb) < 0) {
                log_warn("tensorboard: %s", yoloc_last_error());
                err_clear();
            }
        }
        train_epoch_info *ei = &t.last_epoch;
        memset(ei, 0, sizeof *ei);
        ei->epoch = epoch;
        ei->validated = c->val || final;
        ei->precision = vr.sum.mp;
        ei->recall = vr.sum.mr;
        ei->map50 = vr.sum.map50;
        ei->map5095 = vr.sum.map5095;
        ei->fitness = fitness;
        for (int k = 0; k < 3; k++) {
            ei->loss[k] = tl[k];
            ei->val_loss[k] = vr.loss[k];
            ei->lr[k] = hp[k].lr;
        }
        val_result_free(&vr);
        int improved = t.best_epoch < 0 || fitness > t.best_fitness;
        if (improved) {
            t.best_fitness = fitness;
            t.best_epoch = epoch;
        }
        if (t.lead) {
            st = save_checkpoint(&t, epoch, "last");
            if (st == YOLOC_OK && improved) st = save_checkpoint(&t, epoch, "best");
            if (st == YOLOC_OK && c->save_period > 0 && (epoch + 1) % c->save_period == 0) {
                char name[32];
                snprintf(name, sizeof name, "epoch%d", epoch + 1);
                st = save_checkpoint(&t, epoch, name);
            }
        }
        TRY_GOTO(st, agree(&t, st));
        last_epoch = epoch;
        if (t.h && t.h->on_epoch && t.h->on_epoch(t.h->ctx, &t.last_epoch)) t.stop = 1;
        if (t.stop) break;
        if (c->patience > 0 && epoch - t.best_epoch >= c->patience) {
            printf("stopping early: no improvement in the last %ld epochs (best: epoch %d, fitness %.4g)\n",
                   c->patience, t.best_epoch + 1, t.best_fitness);
            patience_stop = 1;
            break;
        }
        if (c->time > 0) TRY_GOTO(st, fit_time_budget(&t, epoch, t_start));
    }
    double hours = (time_now() - t_start) / 3600.0;
    printf("%d epochs completed in %.3f hours (%ld optimizer steps, %ld skipped as non-finite)\n",
           last_epoch - t.start_epoch + 1, hours, t.step, t.nonfinite_steps);

    /* Final validation of best weights, plots. */
    char best[4300];
    snprintf(best, sizeof best, "%s/weights/best.safetensors", t.dir);
    int have_best = t.lead && path_exists(best) && !(h && h->skip_final_val);
    TRY_GOTO(st, dist_broadcast(t.d, &have_best, sizeof have_best, 0));
    if (have_best) {
        if (t.lead) st = weights_load(t.vm, best);
        TRY_GOTO(st, agree(&t, st));
        TRY_GOTO(st, bcomm_broadcast(t.d, model_backend(t.vm), model_backend_ctx(t.vm), model_params(t.vm),
                                     model_num_params(t.vm) * sizeof(float), 0));
        TRY_GOTO(st, bcomm_broadcast(t.d, model_backend(t.vm), model_backend_ctx(t.vm), model_bufs(t.vm),
                                     model_num_bufs(t.vm) * sizeof(float), 0));
        printf("validating %s:\n", best);
        val_result vr;
        TRY_GOTO(st, run_validation(&t, 1, &vr));
        if (c->plots && t.lead) {
            status ps = write_val_plots(&t, &vr);
            if (ps < 0) log_warn("plots: %s", yoloc_last_error());
        }
        val_result_free(&vr);
    }
    if (c->plots && t.lead && !(h && h->skip_final_val)) {
        status ps = write_plots(&t);
        if (ps < 0) log_warn("plots: %s", yoloc_last_error());
    }
    if (t.tb) tb_plots(&t, last_epoch + 1);
    printf("results saved to %s\n", t.dir);
    if (res) {
        snprintf(res->dir, sizeof res->dir, "%s", t.dir);
        res->epochs_done = last_epoch + 1;
        res->steps = t.step;
        res->stopped = t.stop ? 1 : patience_stop ? 2 : 0;
        res->best_fitness = t.best_fitness;
        res->best_epoch = t.best_epoch;
        res->last = t.last_epoch;
        res->noise_scale = t.ns_on ? t.ns_value : NAN;
    }
fail:
    trainer_free(&t);
    return st;
}

status train_run(config *c, dist *d, char *out_dir, size_t cap) {
    train_result r;
    status st = train_run_ex(c, d, NULL, &r);
    if (out_dir && cap) snprintf(out_dir, cap, "%s", r.dir);
    return st;
}
