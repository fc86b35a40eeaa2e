/* Precise BatchNorm statistics (see bnstats.h). */
#include "train/bnstats.h"

#include "core/log.h"
#include "core/timer.h"
#include "data/loader.h"
#include "ops/backend.h"

#include <stdlib.h>
#include <string.h>

static int is_bn_stat(const param_info *p) {
    size_t n = strlen(p->name);
    static const char *const ends[2] = {".running_mean", ".running_var"};
    for (int k = 0; k < 2; k++) {
        size_t e = strlen(ends[k]);
        if (p->buffer && n > e && strcmp(p->name + n - e, ends[k]) == 0) return 1;
    }
    return 0;
}

int bnstats_model_has_bn(const model *m) {
    for (size_t i = 0; i < model_num_tensors(m); i++)
        if (is_bn_stat(model_tensor(m, i))) return 1;
    return 0;
}

/* The selection: item i is the split's image floor(i * n / count) when
 * count <= n, else i mod n (a split smaller than one batch repeats). */
typedef struct {
    const dataset *ds;
    const ds_split *sp;
    size_t count;
} pick_ctx;

static size_t pick_index(const pick_ctx *c, size_t i) {
    size_t n = c->sp->nimages;
    return c->count <= n ? (size_t)((double)i * (double)n / (double)c->count) : i % n;
}

static status pick_load(const aug_source *src, size_t i, image *img) {
    const pick_ctx *c = src->ctx;
    return dataset_load_image(c->ds, c->sp, pick_index(c, i), img);
}

status bnstats_recompute(model *m, const float *params, float *bufs, const dataset *ds, const ds_split *sp,
                         const bnstats_options *o, bnstats_result *r) {
    memset(r, 0, sizeof *r);
    if (!bnstats_model_has_bn(m)) return YOLOC_OK;
    if (!sp || sp->nimages == 0) return err_set(YOLOC_ERR_INVALID, "BatchNorm statistics: the split has no images");
    if (o->batch < 1 || o->imgsz < 1)
        return err_set(YOLOC_ERR_INVALID, "BatchNorm statistics: bad batch %d or imgsz %d", o->batch, o->imgsz);
    double t0 = time_now();
    size_t nb = o->images > o->batch ? (size_t)((o->images + o->batch / 2) / o->batch) : 1;
    pick_ctx pc = {ds, sp, nb * (size_t)o->batch};
    ds_image *items = malloc(pc.count * sizeof *items);
    size_t np = model_num_params(m), nbuf = model_num_bufs(m);
    /* the model's own weights and buffers are kept aside, in the backend's
     * memory, and copied there and back by the backend */
    backend be = model_backend(m);
    void *bx = model_backend_ctx(m);
    status ast = YOLOC_OK;
    float *save_p = backend_alloc_floats(be, bx, np, &ast), *save_b = backend_alloc_floats(be, bx, nbuf ? nbuf : 1, &ast);
    float *tmp_b = backend_alloc_floats(be, bx, nbuf ? nbuf : 1, &ast);
    if (!items || !save_p || !save_b || !tmp_b) {
        free(items);
        backend_free(be, bx, save_p);
        backend_free(be, bx, save_b);
        backend_free(be, bx, tmp_b);
        return err_set(YOLOC_ERR_NOMEM, "out of memory (BatchNorm statistics)");
    }
    for (size_t i = 0; i < pc.count; i++) items[i] = sp->images[pick_index(&pc, i)];
    aug_source src = {.n = pc.count, .items = items, .load = pick_load, .ctx = &pc};

    status st = backend_copy(be, bx, save_p, model_params(m), np * sizeof(float));
    if (st == YOLOC_OK) st = backend_copy(be, bx, save_b, model_bufs(m), nbuf * sizeof(float));
    int64_t save_batches = model_bn_batches(m);
    double save_mom = model_bn_momentum(m);
    if (st == YOLOC_OK) st = backend_copy(be, bx, model_params(m), params, np * sizeof(float));

    loader_options lo;
    loader_options_default(&lo);
    lo.batch = o->batch;
    lo.workers = o->workers;
    lo.shuffle = 0;
    lo.drop_last = 1;
    lo.augment = o->augment != 0;
    lo.rect = 0;
    lo.seed = o->seed;
    lo.stride = model_stride(m, model_nlevels(m) - 1);
    if (o->augment) lo.aug = o->aug;
    lo.aug.imgsz = o->imgsz;
    loader *L = NULL;
    if (st == YOLOC_OK) st = loader_open(&L, &src, &lo);
    if (st == YOLOC_OK) st = loader_start_epoch(L, 0);
    if (st == YOLOC_OK) st = model_plan(m, o->batch, o->imgsz, o->imgsz, 1);
    int k = 0;
    while (st == YOLOC_OK) {
        const loader_batch *b;
        if ((st = loader_next(L, &b)) < 0 || !b) break;
        const float *out;
        if (k == 0) { /* priming: the running means become this batch's, the shift of the sums below */
            model_set_bn_momentum(m, 1.0);
            if ((st = model_forward(m, b->images, &out)) < 0) break;
        }
        model_set_bn_momentum(m, 1.0 / (k + 1));
        if ((st = model_forward(m, b->images, &out)) < 0) break;
        r->images += b->n;
        k++;
    }
    loader_close(L);
    r->batches = k;
    if (st == YOLOC_OK && k == 0) st = err_set(YOLOC_ERR_INVALID, "BatchNorm statistics: no batch was formed");
    /* swap: the model gets its buffers back, save_b holds the result (bufs
     * may be the model's own) */
    const size_t bb = nbuf * sizeof(float);
    status cst = backend_copy(be, bx, tmp_b, model_bufs(m), bb);
    if (cst == YOLOC_OK) cst = backend_copy(be, bx, model_bufs(m), save_b, bb);
    if (cst == YOLOC_OK) cst = backend_copy(be, bx, save_b, tmp_b, bb);
    if (cst == YOLOC_OK) cst = backend_copy(be, bx, model_params(m), save_p, np * sizeof(float));
    for (size_t i = 0; st == YOLOC_OK && cst == YOLOC_OK && i < model_num_tensors(m); i++) {
        const param_info *p = model_tensor(m, i);
        if (is_bn_stat(p)) cst = backend_copy(be, bx, bufs + p->off, save_b + p->off, p->numel * sizeof(float));
    }
    if (st == YOLOC_OK) st = cst;
    model_set_bn_batches(m, save_batches);
    model_set_bn_momentum(m, save_mom);
    backend_free(be, bx, save_p);
    backend_free(be, bx, save_b);
    backend_free(be, bx, tmp_b);
    free(items);
    r->seconds = time_now() - t0;
    return st < 0 ? err_prefix(st, "recomputing the BatchNorm statistics") : YOLOC_OK;
}
