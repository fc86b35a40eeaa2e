/* `yoloc plan`: batch from the memory model, and the LR/batch
 * recommendation (see plan.h). */
#include "plan/plan.h"

#include "core/log.h"
#include "data/loader.h"
#include "io/file.h"
#include "ops/backend.h"
#include "train/optim.h"
#include "train/precision.h"
#include "train/trainer.h"
#include "train/validate.h"
#include "train/weights.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Keys of `yoloc plan` itself: never part of plan.yaml's train keys. */
static const char *const PLAN_KEYS[] = {"processes", "nodes", "mem", "target_batch_min", "target_batch_max",
                                        "noise", "noise_steps", "check", "check_batch", "plan_file", NULL};
/* Keys that make no sense in a plan of a new training. */
static const char *const SKIP_KEYS[] = {"cfg", "dry", "resume", NULL};

static int in_list(const char *const *l, const char *k) {
    for (; *l; l++)
        if (strcmp(*l, k) == 0) return 1;
    return 0;
}

/* config.given is a struct of one unsigned char per option, in table order. */
static int given_at(const config *c, size_t i) { return ((const unsigned char *)&c->given)[i]; }

static int ncores(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static status decide(plan *p, const char *key, int written, const char *value, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static status decide(plan *p, const char *key, int written, const char *value, const char *fmt, ...) {
    plan_decision *d = NULL;
    for (int i = 0; i < p->ndec; i++) /* a later decision on the same key replaces the earlier one */
        if (strcmp(p->dec[i].key, key) == 0) d = &p->dec[i];
    if (!d) {
        if (p->ndec >= PLAN_MAX_DECISIONS) return err_set(YOLOC_ERR_INTERNAL, "plan: too many decisions");
        d = &p->dec[p->ndec++];
    }
    snprintf(d->key, sizeof d->key, "%s", key);
    snprintf(d->value, sizeof d->value, "%s", value);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->reason, sizeof d->reason, fmt, ap);
    va_end(ap);
    d->written = written;
    if (written) return config_set(&p->c, key, value, "plan");
    return YOLOC_OK;
}

static const plan_decision *find_decision(const plan *p, const char *key) {
    for (int i = 0; i < p->ndec; i++)
        if (strcmp(p->dec[i].key, key) == 0) return &p->dec[i];
    return NULL;
}

static void refuse(plan *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void refuse(plan *p, const char *fmt, ...) {
    if (p->refused) return; /* the first refusal is the one reported */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->refusal, sizeof p->refusal, fmt, ap);
    va_end(ap);
    p->refused = 1;
}

static const char *gib(size_t b, char *buf, size_t cap) { return sys_fmt_bytes(b, buf, cap); }

/* ------------------------------------------------------------------------ */
/* The batch grid: 1, 2, 4, 8, then multiples of 8 from 16. */

static int grid_value(int i) { return i < 4 ? 1 << i : 16 + 8 * (i - 4); }

static int grid_index_le(int cap) { /* largest index whose value <= cap (cap >= 1) */
    if (cap >= 16) return 4 + (cap - 16) / 8;
    int i = 0;
    while (i < 3 && (1 << (i + 1)) <= cap) i++;
    return i;
}

static status predict(plan *p, model *m, int batch, mem_estimate *e) {
    p->mi.batch = batch;
    p->mi.val_batch = 0;
    return mem_predict(m, &p->mi, e);
}

/* Largest grid batch <= cap whose prediction is within budget: *out = 0
 * when not even batch 1 fits. */
static status largest_within(plan *p, model *m, int cap, size_t budget, int *out, size_t *bytes) {
    *out = 0;
    *bytes = 0;
    if (cap < 1) return YOLOC_OK;
    int lo = -1, hi = grid_index_le(cap); /* invariant: lo fits (or -1), everything above hi is unknown/too big */
    mem_estimate e;
    TRY(predict(p, m, grid_value(0), &e));
    if (e.total > budget) return YOLOC_OK;
    lo = 0;
    *bytes = e.total;
    while (lo < hi) {
        int mid = lo + (hi - lo + 1) / 2;
        TRY(predict(p, m, grid_value(mid), &e));
        if (e.total <= budget) {
            lo = mid;
            *bytes = e.total;
        } else {
            hi = mid - 1;
        }
    }
    *out = grid_value(lo);
    return YOLOC_OK;
}

/* ------------------------------------------------------------------------ */
/* Set-up shared by the plan and the trainer's automatic batch. */

static status parse_batch(const config *in, plan *p, int auto_default) {
    double b = in->batch;
    if (b == -1 || (auto_default && !in->given.batch)) {
        p->auto_batch = 1;
        p->fraction = PLAN_DEFAULT_FRACTION;
    } else if (b > 0 && b < 1) {
        p->auto_batch = 1;
        p->fraction = b;
    } else if (b >= 1 && b == floor(b)) {
        p->auto_batch = 0;
        p->fraction = 1.0;
        p->batch = (int)b;
    } else {
        return err_set(YOLOC_ERR_INVALID,
                       "key 'batch': %g is not a batch: give -1 (automatic, %.0f%% of the memory), a fraction in "
                       "(0, 1) of the memory, or a whole number of images per process",
                       b, PLAN_DEFAULT_FRACTION * 100);
    }
    return YOLOC_OK;
}

/* Opens the dataset and the model, fills the memory model's inputs and
 * what the machine has. */
static status setup_common(const config *in, plan *p, int processes, int per_machine, const char *machine_note,
                           int auto_default, model **mp) {
    *mp = NULL;
    TRY(parse_batch(in, p, auto_default));
    p->processes = processes;
    p->per_machine = per_machine;
    snprintf(p->model_name, sizeof p->model_name, "%s", in->model);
    snprintf(p->data_name, sizeof p->data_name, "%s", in->data);
    dataset_options dopt = {.use_cache = 1, .quiet = 1};
    int classes[256];
    TRY(config_dataset_options(in, "train", classes, 256, &dopt));
    TRY(dataset_open(&p->ds, in->data, &dopt));
    p->have_ds = 1;
    p->train_images = (long)p->ds.train.nimages;
    p->val_images = (long)(p->ds.val.nimages ? p->ds.val.nimages : p->ds.train.nimages);
    p->nc = p->ds.nc;
    if (p->train_images == 0) return err_set(YOLOC_ERR_INVALID, "data=%s: the train split has no usable images", in->data);
    size_t base = sys_rss_now();
    backend be;
    TRY(config_backend(in, &be));
    model_options mo = {.be = be,
                        .norm = strcmp(in->norm, "gn") == 0 ? NORM_GN : NORM_BN,
                        .gn_groups = (int)in->gn_groups, .bf16 = precision_resolve(in->amp, 0, NULL)};
    TRY(weights_open_model(in->model, NULL, p->nc, &mo, (uint64_t)in->seed, mp, NULL, NULL));
    model *m = *mp;
    int stride = model_stride(m, model_nlevels(m) - 1);
    if (in->imgsz % stride)
        return err_set(YOLOC_ERR_INVALID, "key 'imgsz': %ld is not a multiple of the model's largest stride %d",
                       in->imgsz, stride);

    long maxpx = 0;
    for (size_t i = 0; i < p->ds.train.nimages; i++) {
        long px = (long)p->ds.train.images[i].width * p->ds.train.images[i].height;
        if (px > maxpx) maxpx = px;
    }
    memset(&p->mi, 0, sizeof p->mi);
    p->mi.imgsz = (int)in->imgsz;
    p->mi.workers = (int)(in->workers < ncores() ? in->workers : ncores());
    p->mi.noise_scale = in->noise_scale;
    p->mi.partners = in->mixup > 0 || in->cutmix > 0;
    p->mi.max_image_pixels = maxpx;
    p->mi.val_images = p->val_images;
    p->mi.max_det = (int)in->max_det;
    p->mi.base = base;

    /* the optimizer's state size: optimizer=auto resolved for a batch <= nbs
     * (the rule only depends on the batch above nbs; re-checked once the
     * batch is known) */
    {
        recipe *r = malloc(sizeof *r);
        if (!r) return err_set(YOLOC_ERR_NOMEM, "out of memory");
        const recipe_facts rf = {.processes = p->processes, .train_images = p->train_images, .nc = p->nc};
        const recipe_overrides ov = {.batch = p->auto_batch ? (int)in->nbs : p->batch};
        status rs = recipe_resolve(in, &rf, &ov, r);
        if (rs < 0 && r->lp.refused) { /* reported with the final recipe */
            err_clear();
            rs = YOLOC_OK;
        }
        p->mi.optimizer = p->optimizer = r->optimizer;
        free(r);
        TRY(rs);
    }

    TRY(sys_mem_available(in->mem, &p->avail, p->avail_src, sizeof p->avail_src));
    if (machine_note && *machine_note) {
        size_t n = strlen(p->avail_src);
        snprintf(p->avail_src + n, sizeof p->avail_src - n, "; %s", machine_note);
    }
    return YOLOC_OK;
}

/* The per-process batch: automatic from the memory model, or the requested
 * one checked against it. */
static status choose_batch(const config *in, plan *p, model *m) {
    char a[32], b2[32], c3[32];
    size_t share = p->avail / (size_t)p->per_machine;
    char share_txt[160];
    if (p->per_machine > 1)
        snprintf(share_txt, sizeof share_txt, "%s of %s shared by %d processes on this machine", gib(share, a, sizeof a),
                 gib(p->avail, b2, sizeof b2), p->per_machine);
    else
        snprintf(share_txt, sizeof share_txt, "%s", gib(share, a, sizeof a));
    long per_proc_images = (long)loader_shard_len((size_t)p->train_images, p->processes);
    char v[32];
    lrb_target_input ti = {.images = p->train_images,
                           .epochs = (int)in->epochs,
                           .processes = p->processes,
                           .nbs = (int)in->nbs,
                           .band_min = in->target_batch_min,
                           .band_max = in->target_batch_max,
                           .critical = p->critical};
    p->target_batch = lrb_target_batch(&ti, p->target_reason, sizeof p->target_reason);
    if (p->auto_batch) {
        p->budget = (size_t)(p->fraction * (double)share);
        int cap = (int)((p->target_batch + p->processes - 1) / p->processes), cap_why = 1;
        if (cap < 1) cap = 1;
        if (cap > LRB_FORWARD_BATCH) {
            cap = LRB_FORWARD_BATCH;
            cap_why = 3;
        }
        if (per_proc_images < cap) {
            cap = (int)per_proc_images;
            cap_why = 2;
        }
        TRY(largest_within(p, m, cap, p->budget, &p->largest_fit, &p->largest_fit_bytes));
        if (p->largest_fit == 0) {
            mem_estimate e1;
            TRY(predict(p, m, 1, &e1));
            p->batch = 1;
            refuse(p,
                   "not even batch 1 fits: its predicted peak %s is more than %.0f%% of the memory of this process "
                   "(%s: %s); a smaller imgsz or model, or more memory",
                   gib(e1.total, a, sizeof a), p->fraction * 100, share_txt, p->avail_src);
            snprintf(v, sizeof v, "1");
            return decide(p, "batch", 1, v, "%s", p->refusal);
        }
        p->batch = p->largest_fit;
        int gi = grid_index_le(p->batch) + 1;
        p->next_batch = grid_value(gi);
        mem_estimate en;
        TRY(predict(p, m, p->next_batch, &en));
        p->next_bytes = en.total;
        char why[1024];
        if (p->next_batch > cap && p->next_bytes <= p->budget) { /* the training decided, memory had room */
            if (cap_why == 2)
                snprintf(why, sizeof why, "the %ld training images of one process", per_proc_images);
            else if (cap_why == 3)
                snprintf(why, sizeof why,
                         "%d images per forward, BatchNorm's batch in the defaults (bigger forwards lose its noise: "
                         "train/lrbatch.h), towards the effective batch %ld (%s) with accumulation",
                         LRB_FORWARD_BATCH, p->target_batch, p->target_reason);
            else
                snprintf(why, sizeof why, "the training needs an effective batch of %ld (%s)%s", p->target_batch,
                         p->target_reason, p->processes > 1 ? ", shared by the processes" : "");
            size_t n = strlen(why);
            snprintf(why + n, sizeof why - n, "; memory is not the limit (predicted peak %s, within %.0f%% of %s)",
                     gib(p->largest_fit_bytes, a, sizeof a), p->fraction * 100, share_txt);
        } else {
            snprintf(why, sizeof why,
                     "the training needs an effective batch of %ld (%s); memory allows at most %d per process "
                     "(predicted peak %s within %.0f%% of %s, %s; %d would need %s), accumulation makes up the rest",
                     p->target_batch, p->target_reason, p->batch, gib(p->largest_fit_bytes, a, sizeof a),
                     p->fraction * 100, share_txt, p->avail_src, p->next_batch, gib(p->next_bytes, c3, sizeof c3));
        }
        snprintf(v, sizeof v, "%d", p->batch);
        char asked[48];
        if (in->given.batch) snprintf(asked, sizeof asked, "batch=%g", in->batch);
        else snprintf(asked, sizeof asked, "no batch given (batch=-1)");
        return decide(p, "batch", 1, v, "%s: %s", asked, why);
    }
    /* a requested batch */
    mem_estimate e;
    TRY(predict(p, m, p->batch, &e));
    p->budget = share;
    snprintf(v, sizeof v, "%d", p->batch);
    if (e.total > share) {
        TRY(largest_within(p, m, p->batch, share, &p->largest_fit, &p->largest_fit_bytes));
        char fit[200];
        if (p->largest_fit)
            snprintf(fit, sizeof fit, "the largest batch that fits is %d (%s)", p->largest_fit,
                     gib(p->largest_fit_bytes, b2, sizeof b2));
        else
            snprintf(fit, sizeof fit, "not even batch 1 fits");
        char msg[1200];
        snprintf(msg, sizeof msg,
                 "batch %d needs a predicted peak of %s, more than the %s this process has (%s); %s",
                 p->batch, gib(e.total, a, sizeof a), share_txt, p->avail_src, fit);
        if (in->force) return decide(p, "batch", 1, v, "given (force=True), but %s", msg);
        refuse(p, "%s", msg);
        return decide(p, "batch", 1, v, "given, refused: %s", msg);
    }
    if ((double)e.total > 0.9 * (double)share)
        return decide(p, "batch", 1, v,
                      "given; its predicted peak %s is over 90%% of the %s this process has (%s): little headroom "
                      "for anything else",
                      gib(e.total, a, sizeof a), share_txt, p->avail_src);
    return decide(p, "batch", 1, v, "given; its predicted peak %s fits in the %s this process has (%s)",
                  gib(e.total, a, sizeof a), share_txt, p->avail_src);
}

/* ------------------------------------------------------------------------ */
/* The plan. */

void plan_free(plan *p) {
    config_free(&p->c);
    if (p->have_ds) dataset_close(&p->ds);
    p->have_ds = 0;
}

status plan_make(const config *in, plan *p) { return plan_make_ex(in, 0, p); }

status plan_make_ex(const config *in, double critical, plan *p) {
    memset(p, 0, sizeof *p);
    p->critical = critical > 0 ? critical : 0;
    TRY(config_init(&p->c));
    p->b_simple = NAN;
    memcpy(p->user_given, &in->given, sizeof p->user_given);
    /* the train keys the user gave, as given */
    size_t nopt;
    const opt_info *opts = config_options(&nopt);
    char buf[1200], v[64];
    for (size_t i = 0; i < nopt; i++) {
        if (!given_at(in, i) || in_list(PLAN_KEYS, opts[i].name) || in_list(SKIP_KEYS, opts[i].name)) continue;
        TRY(config_set(&p->c, opts[i].name, config_value_str(in, &opts[i], buf, sizeof buf), NULL));
    }
    /* always explicit: what the plan is for */
    TRY(config_set(&p->c, "model", in->model, NULL));
    TRY(config_set(&p->c, "data", in->data, NULL));
    snprintf(v, sizeof v, "%ld", in->imgsz);
    TRY(config_set(&p->c, "imgsz", v, NULL));
    snprintf(v, sizeof v, "%ld", in->epochs);
    TRY(config_set(&p->c, "epochs", v, NULL));

    if (in->nodes > in->processes)
        return err_set(YOLOC_ERR_INVALID, "key 'nodes': %ld machines for %ld processes; at most one machine per process",
                       in->nodes, in->processes);
    if (in->target_batch_min > in->target_batch_max)
        return err_set(YOLOC_ERR_INVALID, "keys 'target_batch_min' %ld and 'target_batch_max' %ld: the band is empty",
                       in->target_batch_min, in->target_batch_max);
    int P = (int)in->processes;
    int per_machine = (int)((in->processes + in->nodes - 1) / in->nodes);
    p->nodes = (int)in->nodes;
    model *m = NULL;
    status st = setup_common(in, p, P, per_machine, NULL, 1, &m);
    if (st == YOLOC_OK) st = choose_batch(in, p, m);
    if (st < 0) {
        model_free(m);
        return st;
    }
    const int b = p->batch;
    char a[32];

    /* optimizer: the recipe resolves optimizer=auto as the training will
     * (the same batch, epochs and dataset), so plan.yaml keeps
     * optimizer: auto and the training makes the same choice itself */
    const recipe_facts rf = {.processes = P, .train_images = p->train_images, .nc = p->nc};
    {
        status rs = recipe_resolve(&p->c, &rf, NULL, &p->r);
        if (rs < 0 && !p->r.lp.refused) { /* a refusal is reported with the final recipe below */
            st = rs;
            goto fail;
        }
        err_clear();
    }
    const optim_kind kind = p->r.optimizer;
    const int is_auto = p->r.optimizer_auto;
    p->lr0 = p->r.lr0;
    p->momentum = p->r.momentum;
    p->warmup_bias_lr = p->r.warmup_bias_lr;
    if (is_auto) {
        TRY_GOTO(st, decide(p, "optimizer", 1, "auto", "%s; the training resolves optimizer=auto the same way",
                            p->r.optimizer_reason));
        snprintf(v, sizeof v, "%.10g", p->lr0);
        TRY_GOTO(st, decide(p, "[lr0]", 0, v, "%s from optimizer=auto (for nbs %ld)", optim_kind_name(kind), in->nbs));
        snprintf(v, sizeof v, "%.10g", p->momentum);
        TRY_GOTO(st, decide(p, "[momentum]", 0, v, "from optimizer=auto"));
        snprintf(v, sizeof v, "%.10g", p->warmup_bias_lr);
        TRY_GOTO(st, decide(p, "[warmup_bias_lr]", 0, v, "from optimizer=auto"));
    } else {
        TRY_GOTO(st, decide(p, "optimizer", 1, optim_kind_name(kind), "given"));
        snprintf(v, sizeof v, "%.10g", p->lr0);
        TRY_GOTO(st, decide(p, "lr0", 1, v, "%s, for the reference batch nbs %ld (scaled to B_eff below)",
                            in->given.lr0 ? "given" : "the default", in->nbs));
    }
    p->optimizer = kind;
    if (kind != p->mi.optimizer) p->mi.optimizer = kind; /* the final estimate below uses it */

    /* accumulate: the effective-batch band */
    long per_step = (long)P * b;
    int acc = 0;
    if (in->given.accumulate && in->accumulate > 0) {
        acc = (int)in->accumulate;
        snprintf(v, sizeof v, "%d", acc);
        TRY_GOTO(st, decide(p, "accumulate", 1, v, "given: B_eff = %d x %d x %d = %ld", P, b, acc, per_step * acc));
    } else {
        acc = lrb_accumulate_for(p->target_batch, per_step);
        snprintf(v, sizeof v, "%d", acc);
        TRY_GOTO(st, decide(p, "accumulate", 1, v,
                            "max(round(effective batch %ld / (%d process%s x batch %d)), 1) = %d -> B_eff %ld; the "
                            "effective batch: %s",
                            p->target_batch, P, P == 1 ? "" : "es", b, acc, per_step * acc, p->target_reason));
    }
    long b_eff = per_step * acc;

    /* normalisation */
    norm_kind nk;
    if (in->given.norm) {
        nk = lrb_norm(in, P);
        TRY_GOTO(st, decide(p, "norm", 1, in->norm, "given%s",
                            strcmp(in->norm, "syncbn") == 0 && P == 1 ? " (with one process SyncBatchNorm is BatchNorm)" : ""));
    } else {
        char why[400];
        nk = lrb_choose_norm(b, P, acc, in->weights && *in->weights, why, sizeof why);
        TRY_GOTO(st, decide(p, "norm", 1, lrb_norm_key(nk), "%s", why));
    }
    p->norm = nk;

    /* warmup */
    double warm = in->warmup_epochs;
    if (lrb_large_batch(b_eff, (int)in->nbs) && warm < LRB_LARGE_BATCH_WARMUP) {
        warm = LRB_LARGE_BATCH_WARMUP;
        snprintf(v, sizeof v, "%g", LRB_LARGE_BATCH_WARMUP);
        TRY_GOTO(st, decide(p, "warmup_epochs", 1, v,
                            "B_eff %ld > 2 x nbs %ld: the peak LR is scaled up, so warmup is raised from %g to 3 epochs",
                            b_eff, in->nbs, in->warmup_epochs));
    } else {
        snprintf(v, sizeof v, "%.10g", warm);
        TRY_GOTO(st, decide(p, "warmup_epochs", 1, v, "%s; B_eff %ld %s", in->given.warmup_epochs ? "given" : "the default",
                            b_eff,
                            lrb_large_batch(b_eff, (int)in->nbs) ? "> 2 x nbs needs >= 3 epochs, which it has"
                                                 : "<= 2 x nbs needs no longer warmup"));
    }

    /* LR and the guard rails: the recipe of the decided settings, as the
     * training will resolve it from plan.yaml */
    {
        status rs = recipe_resolve(&p->c, &rf, NULL, &p->r);
        if (rs < 0 && !p->r.lp.refused) {
            st = rs;
            goto fail;
        }
        err_clear();
    }
    if (p->r.lp.refused && !in->force) refuse(p, "%s", p->r.lp.refusal);
    TRY_GOTO(st, decide(p, "lr_scale", 1, in->lr_scale, "%s", in->given.lr_scale ? "given" : "the default"));
    snprintf(v, sizeof v, "%.6g", p->r.lp.lr_peak);
    TRY_GOTO(st, decide(p, "[peak lr]", 0, v, "%s %s", optim_kind_name(kind), p->r.lp.rule_reason));

    /* regularisation for large effective batches */
    long reg_above = in->target_batch_max;
    if (p->r.lp.b_eff > reg_above) {
        p->b_reg = 1;
        if (!in->given.label_smoothing) {
            snprintf(v, sizeof v, "%g", PLAN_REG_LABEL_SMOOTHING);
            TRY_GOTO(st, decide(p, "label_smoothing", 1, v,
                                "B_eff %ld > target_batch_max %ld: large batches take fewer, bigger steps and tend to "
                                "generalise worse; label smoothing regularises the class targets",
                                p->r.lp.b_eff, reg_above));
        } else {
            snprintf(v, sizeof v, "%.10g", in->label_smoothing);
            TRY_GOTO(st, decide(p, "label_smoothing", 1, v, "given (B_eff %ld > %ld would otherwise get %g)",
                                p->r.lp.b_eff, reg_above, PLAN_REG_LABEL_SMOOTHING));
        }
        if (!in->given.cutmix && in->cutmix == 0) {
            snprintf(v, sizeof v, "%g", PLAN_REG_CUTMIX);
            TRY_GOTO(st, decide(p, "cutmix", 1, v,
                                "B_eff %ld > target_batch_max %ld: CutMix adds data regularisation against the "
                                "weaker generalisation of large batches",
                                p->r.lp.b_eff, reg_above));
        }
    } else {
        TRY_GOTO(st, decide(p, "[regularisation]", 0, "none",
                            "B_eff %ld <= target_batch_max %ld: the defaults (no label smoothing, no CutMix) suffice",
                            p->r.lp.b_eff, reg_above));
    }
    snprintf(v, sizeof v, "%ld", in->nbs);
    TRY_GOTO(st, decide(p, "nbs", 1, v, "%s: lr0 and weight_decay refer to this batch",
                        in->given.nbs ? "given" : "the default"));

    /* the final estimate, with the settings decided above */
    p->mi.partners = p->c.mixup > 0 || p->c.cutmix > 0;
    p->mi.noise_scale = in->noise_scale && P == 1 && acc >= 2; /* its copy exists with one process */
    {
        model *fm = m;
        model *gm = NULL;
        if ((nk == NORM_GN) != (strcmp(in->norm, "gn") == 0)) { /* the memory of the decided normalisation */
            model_options mo = {.be = model_backend(m), .norm = nk == NORM_GN ? NORM_GN : NORM_BN,
                                .gn_groups = (int)in->gn_groups, .bf16 = precision_resolve(in->amp, 0, NULL)};
            TRY_GOTO(st, weights_open_model(in->model, NULL, p->nc, &mo, (uint64_t)in->seed, &gm, NULL, NULL));
            fm = gm;
        }
        st = predict(p, fm, b, &p->mem);
        model_free(gm);
        if (st < 0) goto fail;
    }
    snprintf(v, sizeof v, "%s", gib(p->mem.total, a, sizeof a));
    TRY_GOTO(st, decide(p, "[memory]", 0, v, "predicted peak of one training process at batch %d (validation at %d)", b,
                        p->mem.val_batch));
    model_free(m);
    if (p->refused) return err_set(YOLOC_ERR_INVALID, "refused: %s", p->refusal);
    return YOLOC_OK;
fail:
    model_free(m);
    return st;
}

/* ------------------------------------------------------------------------ */
/* Printing and plan.yaml. */

void plan_print(const plan *p, FILE *f) {
    char a[32], b[32];
    fprintf(f, "plan: %s on %s (%ld training images, %ld validation, %d classes), imgsz %ld, %d process%s on %d machine%s\n",
            p->model_name, p->data_name, p->train_images, p->val_images, p->nc, p->c.imgsz, p->processes,
            p->processes == 1 ? "" : "es", p->nodes, p->nodes == 1 ? "" : "s");
    fprintf(f, "memory: %s on one machine (%s)%s\n", gib(p->avail, a, sizeof a), p->avail_src,
            p->per_machine > 1 ? ", shared by the processes on it" : "");
    fprintf(f, "  predicted peak of one training process at batch %d: %s\n", p->batch, gib(p->mem.total, b, sizeof b));
    mem_print(&p->mem, f, "    ");
    fprintf(f, "decisions:\n");
    for (int i = 0; i < p->ndec; i++)
        fprintf(f, "  %s: %s  # %s\n", p->dec[i].key, p->dec[i].value, p->dec[i].reason);
    fprintf(f, "LR and batch, as `yoloc train` will print them:\n");
    lrb_print(&p->r.in, &p->r.lp, p->r.warmup_bias_lr, p->c.warmup_start_factor, p->c.lrf, f);
    if (p->checked) {
        double d = (double)p->check.peak / (double)p->check_pred.total - 1;
        fprintf(f,
                "memory check: one real training step at batch %d and a validation forward at batch %d (%dx%d) took "
                "%.1f s; peak resident memory %s measured (VmHWM%s), %s predicted: %+.1f%%%s\n",
                p->check_batch, val_batch_of_training(p->check_batch), p->check_pred.val_imgsz, p->check_pred.val_imgsz, p->check.seconds, gib(p->check.peak, a, sizeof a),
                p->check.peak_reset ? "" : ", including what this process used before", gib(p->check_pred.total, b, sizeof b),
                100 * d, fabs(d) > 0.15 ? " -- warning: the memory model is off by more than 15% here" : "");
    }
    if (p->noise_done) {
        long be = p->r.lp.b_eff;
        if (isfinite(p->b_simple) && p->b_simple > 0) {
            int given = p->c.weights && *p->c.weights; /* measured at weights= rather than the initial ones */
            const char *verdict;
            if (be > 2 * p->b_simple)
                verdict = "is above it: bigger batches than ~B_crit stop paying (each step costs more images for "
                          "hardly fewer steps); an effective batch nearer B_crit trains as fast per image";
            else if (be * 2 < p->b_simple)
                verdict = "is well below it: larger effective batches would still cut the number of steps almost in "
                          "proportion (up to ~B_crit)";
            else
                verdict = "is near it: the efficient trade-off between steps and images";
            fprintf(f,
                    "noise scale: B_simple = %.0f images over %ld optimizer steps at the %s weights (%s): the critical "
                    "batch size; B_eff %ld %s. It grows as the loss falls%s\n",
                    p->b_simple, p->noise_steps, given ? "given" : "initial", p->noise_dir, be, verdict,
                    given ? "" : ", so this value is a lower bound (weights=<a checkpoint> measures later in training)");
        } else {
            fprintf(f,
                    "noise scale: not resolved after %ld optimizer steps (%s): the estimate of |G|^2 is not positive "
                    "yet, so the gradient noise dominates at these batch sizes and B_crit lies beyond them (more "
                    "noise_steps, or a larger batch, to resolve it)\n",
                    p->noise_steps, p->noise_dir);
        }
    }
    if (p->refused && !(p->r.lp.refused && strcmp(p->refusal, p->r.lp.refusal) == 0)) /* lrb_print said that one */
        fprintf(f, "refused: %s\n", p->refusal);
}

static void yaml_scalar(FILE *f, const char *s) {
    int plain = *s && !strpbrk(s, ":#{}[],&*!|>'\"%@`") && s[0] != ' ' && s[0] != '-';
    if (plain) {
        fputs(s, f);
        return;
    }
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'') fputc('\'', f);
        fputc(*s, f);
    }
    fputc('\'', f);
}

status plan_write_yaml(const plan *p, const char *path) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return err_set(YOLOC_ERR_NOMEM, "out of memory");
    char a[32];
    fprintf(f, "# yoloc plan: %s on %s, imgsz %ld, for %d process%s on %d machine%s\n", p->model_name, p->data_name,
            p->c.imgsz, p->processes, p->processes == 1 ? "" : "es", p->nodes, p->nodes == 1 ? "" : "s");
    if (p->processes > 1)
        fprintf(f, "# train with: mpirun -np %d yoloc train cfg=%s\n", p->processes, path);
    else
        fprintf(f, "# train with: yoloc train cfg=%s\n", path);
    char b[32];
    fprintf(f, "# predicted peak memory per process: %s (%s on one machine: %s)\n", gib(p->mem.total, a, sizeof a),
            gib(p->avail, b, sizeof b), p->avail_src);
    for (int i = 0; i < p->ndec; i++)
        if (!p->dec[i].written) fprintf(f, "# %s %s: %s\n", p->dec[i].key, p->dec[i].value, p->dec[i].reason);
    size_t nopt;
    const opt_info *opts = config_options(&nopt);
    char buf[1200];
    for (size_t i = 0; i < nopt; i++) {
        if (!given_at(&p->c, i)) continue;
        const plan_decision *d = find_decision(p, opts[i].name);
        fprintf(f, "# %s\n", d ? d->reason : p->user_given[i] ? "given" : "the default, which the plan assumes");
        fprintf(f, "%s: ", opts[i].name);
        config_value_str(&p->c, &opts[i], buf, sizeof buf);
        if (opts[i].type == OPT_STR || opts[i].type == OPT_ENUM) yaml_scalar(f, buf);
        else fputs(buf, f);
        fputc('\n', f);
    }
    if (fclose(f) != 0) {
        free(text);
        return err_set(YOLOC_ERR_NOMEM, "out of memory");
    }
    status st = file_write_atomic(path, text, len);
    free(text);
    return st;
}

/* ------------------------------------------------------------------------ */
/* The memory check. */

status plan_check(plan *p, int batch) {
    if (batch <= 0) batch = p->batch;
    model *m = NULL;
    backend be;
    TRY(config_backend(&p->c, &be));
    model_options mo = {.be = be, .norm = p->norm == NORM_GN ? NORM_GN : NORM_BN,
                        .gn_groups = (int)p->c.gn_groups, .bf16 = precision_resolve(p->c.amp, 0, NULL)};
    TRY(weights_open_model(p->c.model, NULL, p->nc, &mo, (uint64_t)p->c.seed, &m, NULL, NULL));
    mem_estimate e;
    status st = predict(p, m, batch, &e);
    model_free(m);
    TRY(st);
    size_t share = p->avail / (size_t)(p->per_machine > 0 ? p->per_machine : 1);
    char a[32], b[32];
    if (e.total > share)
        return err_set(YOLOC_ERR_INVALID,
                       "check_batch %d: its predicted peak %s is more than the %s available; not running the memory "
                       "check",
                       batch, gib(e.total, a, sizeof a), gib(share, b, sizeof b));
    mem_measured ms;
    TRY(mem_measure(&p->c, &p->ds, p->norm, p->optimizer, batch, p->mi.workers, &ms));
    /* the prediction with this process's base as it was just before the step */
    e.total = e.total - e.base + ms.base;
    e.base = ms.base;
    p->check_pred = e;
    p->check = ms;
    p->check_batch = batch;
    p->checked = 1;
    return YOLOC_OK;
}

/* ------------------------------------------------------------------------ */
/* The gradient noise scale. */

typedef struct {
    double lr;
    long steps, seen;
    double last;
} noise_ctx;

static double noise_lr(void *ctx, long step) {
    (void)step;
    return ((noise_ctx *)ctx)->lr;
}

static int noise_on_step(void *ctx, const train_step_info *s) {
    noise_ctx *n = ctx;
    n->seen = s->step + 1;
    if (isfinite(s->noise_scale)) n->last = s->noise_scale;
    else n->last = NAN;
    return n->seen >= n->steps;
}

status plan_noise(plan *p, long steps, const char *project, const char *name) {
    config nc;
    TRY(config_init(&nc));
    size_t nopt;
    const opt_info *opts = config_options(&nopt);
    char buf[1200], v[64];
    status st = YOLOC_OK;
    for (size_t i = 0; i < nopt; i++)
        if (given_at(&p->c, i))
            TRY_GOTO(st, config_set(&nc, opts[i].name, config_value_str(&p->c, &opts[i], buf, sizeof buf), NULL));
    /* small batches of `batch` against a step of >= PLAN_NOISE_ACC of them */
    int acc = p->r.lp.accumulate > PLAN_NOISE_ACC ? p->r.lp.accumulate : PLAN_NOISE_ACC;
    /* The probe measures at the starting weights (given or initial): the
     * learning rate is 0, so every step's gradients are drawn at the same
     * point (training during the measurement let seeds drift apart:
     * 172..2117 from scratch). BatchNorm: each small batch normalised by
     * its own statistics couples its images and adds noise the estimator
     * does not model (measured: the estimate varied 7x between seeds), so
     * `warm` steps with batch statistics let the running statistics settle
     * at these weights, then they are frozen and the probe measures with
     * independent images. */
    long warm = p->norm != NORM_GN ? PLAN_NOISE_WARM : 0, total = warm + steps;
    long nb = (p->train_images + p->batch - 1) / p->batch;
    long spe = (nb + acc - 1) / acc;
    if (spe < 1) spe = 1;
    long epochs = (total + spe - 1) / spe + 1;
    snprintf(v, sizeof v, "%d", acc);
    TRY_GOTO(st, config_set(&nc, "accumulate", v, NULL));
    snprintf(v, sizeof v, "%ld", epochs);
    TRY_GOTO(st, config_set(&nc, "epochs", v, NULL));
    TRY_GOTO(st, config_set(&nc, "noise_scale", "True", NULL));
    TRY_GOTO(st, config_set(&nc, "val", "False", NULL));
    TRY_GOTO(st, config_set(&nc, "plots", "False", NULL));
    TRY_GOTO(st, config_set(&nc, "close_mosaic", "0", NULL));
    TRY_GOTO(st, config_set(&nc, "patience", "0", NULL));
    TRY_GOTO(st, config_set(&nc, "project", project, NULL));
    TRY_GOTO(st, config_set(&nc, "name", name, NULL));
    TRY_GOTO(st, config_set(&nc, "exist_ok", "False", NULL));
    /* the planned normalisation (SyncBN is BN in this one process) */
    TRY_GOTO(st, config_set(&nc, "norm", p->norm == NORM_GN ? "gn" : "bn", NULL));
    if (warm > 0) {
        snprintf(v, sizeof v, "%ld", warm);
        TRY_GOTO(st, config_set(&nc, "bn_freeze", v, NULL));
        TRY_GOTO(st, config_set(&nc, "backend", "cpu", NULL));
    }
    noise_ctx ctx = {.lr = 0, .steps = total, .last = NAN};
    train_hooks h = {.ctx = &ctx, .lr_at = noise_lr, .on_step = noise_on_step, .skip_final_val = 1};
    train_result res;
    dist one;
    dist_single(&one);
    printf("noise scale: %ld optimizer steps of batch %d x accumulate %d at lr 0 (measured at the starting weights, "
           "which do not move), noise_scale=True\n",
           steps, p->batch, acc);
    if (warm > 0)
        printf("noise scale: BatchNorm: %ld steps with batch statistics first, then measured with the running statistics "
               "frozen (bn_freeze=%ld), so that the images of a batch do not share statistics\n",
               warm, warm);
    fflush(stdout);
    TRY_GOTO(st, train_run_ex(&nc, &one, &h, &res));
    p->noise_done = 1;
    p->noise_steps = ctx.seen - warm;
    p->b_simple = isfinite(res.noise_scale) ? res.noise_scale : ctx.last;
    snprintf(p->noise_dir, sizeof p->noise_dir, "%.4000s/steps.csv", res.dir);
    if (p->ndec < PLAN_MAX_DECISIONS) {
        if (isfinite(p->b_simple))
            snprintf(v, sizeof v, "%.0f", p->b_simple);
        else
            snprintf(v, sizeof v, "unresolved");
        st = decide(p, "[critical batch]", 0, v, "gradient noise scale B_simple measured over %ld steps (%s), next to "
                                                  "the chosen B_eff %ld",
                    p->noise_steps, p->noise_dir, p->r.lp.b_eff);
    }
fail:
    config_free(&nc);
    return st;
}

/* ------------------------------------------------------------------------ */
/* The trainer's batch=-1. */

status plan_trainer_batch(config *c, dist *d, FILE *f) {
    plan *p = calloc(1, sizeof *p);
    if (!p) return err_set(YOLOC_ERR_NOMEM, "out of memory");
    status st = config_init(&p->c);
    model *m = NULL;
    int per_machine = 1;
    char note[160] = "";
    if (d->world > 1) {
        const char *ls = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
        long n = ls ? strtol(ls, NULL, 10) : 0;
        if (n >= 1) {
            per_machine = (int)n;
            snprintf(note, sizeof note, "%d processes on this machine (OMPI_COMM_WORLD_LOCAL_SIZE)", per_machine);
        } else {
            per_machine = d->world;
            snprintf(note, sizeof note, "assuming all %d processes share this machine", d->world);
        }
    }
    double asked = c->batch;
    if (st == YOLOC_OK) st = setup_common(c, p, d->world, per_machine, note, 0, &m);
    if (st == YOLOC_OK) st = choose_batch(c, p, m);
    model_free(m);
    int mine = st == YOLOC_OK && !p->refused ? p->batch : 0;
    if (st == YOLOC_OK && p->refused) st = err_set(YOLOC_ERR_INVALID, "batch=%g: %s", asked, p->refusal);
    if (d->world > 1) { /* every rank takes the smallest choice (a failed rank offers 0 and fails itself) */
        void *all = NULL;
        size_t *sz = calloc((size_t)d->world, sizeof *sz);
        int agreed = 0;
        status gs = sz ? dist_gather(d, &mine, sizeof mine, 0, &all, sz) : err_set(YOLOC_ERR_NOMEM, "out of memory");
        if (gs == YOLOC_OK && d->rank == 0) {
            const int *v = all;
            for (int r = 0; r < d->world; r++)
                if (v[r] > 0 && (agreed == 0 || v[r] < agreed)) agreed = v[r];
        }
        free(all);
        free(sz);
        if (gs == YOLOC_OK) gs = dist_broadcast(d, &agreed, sizeof agreed, 0);
        if (gs < 0 && st == YOLOC_OK) st = gs;
        if (st == YOLOC_OK && agreed > 0 && agreed != mine) {
            fprintf(f, "batch: %d fits on this rank, but another rank has room for only %d: all take %d\n", mine,
                    agreed, agreed);
            p->batch = agreed;
        }
    }
    if (st == YOLOC_OK) {
        char v[32];
        snprintf(v, sizeof v, "%d", p->batch);
        st = config_set(c, "batch", v, NULL);
        const plan_decision *dd = find_decision(p, "batch");
        if (st == YOLOC_OK) fprintf(f, "batch: %d per process, %s\n", p->batch, dd ? dd->reason : "");
        if (st == YOLOC_OK && !(c->given.accumulate && c->accumulate > 0)) { /* the rest of the effective batch */
            int acc = lrb_accumulate_for(p->target_batch, (long)d->world * p->batch);
            snprintf(v, sizeof v, "%d", acc);
            st = config_set(c, "accumulate", v, NULL);
            if (st == YOLOC_OK)
                fprintf(f, "accumulate: %d = max(round(effective batch %ld / (%d process%s x batch %d)), 1)\n", acc,
                        p->target_batch, d->world, d->world == 1 ? "" : "es", p->batch);
        }
    }
    plan_free(p);
    free(p);
    return st;
}
