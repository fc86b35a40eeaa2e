/* Batch normalisation on oneDNN (fast path of bn_*; see ops.h).
 *
 * Three primitives over NHWC memory, created once per plan with the scale
 * and shift flags of oneDNN 2.6 (dnnl_use_scale | dnnl_use_shift):
 *   - forward training: batch mean and biased variance come OUT of oneDNN
 *     into the caller's save_mean/save_var;
 *   - forward inference (dnnl_use_global_stats): running mean/var go IN;
 *   - backward (of the training forward): diff_scale/diff_shift come out
 *     into two [c] plan buffers and are then added (+=) into dgamma/dbeta.
 * oneDNN only gives the biased batch variance, so the PyTorch running-stat
 * update (momentum, unbiased variance var*m/(m-1)) is a small loop here.
 * oneDNN's diff_src overwrites, so dx with beta != 0 (and a NULL dx) goes
 * through a temporary that lives in the context's shared scratch, behind
 * oneDNN's own scratchpad, and is then accumulated.
 * A training plan holds all three (validation runs the training model in
 * eval mode); an inference plan (training = 0) only the inference one.
 * save_mean/save_var must not be NULL in training (oneDNN writes them).
 * Leaves out: fused ReLU, affine-free BN. */
#include "ops/cpu/dnnl_util.h"

#include <stdint.h>
#include <stdlib.h>

struct bn_cpu {
    bn_desc d;
    cpu_ctx *ctx;
    int training;
    dnnl_primitive_t fwd_train, fwd_eval, bwd;
    /* Memory objects without buffers; handles are set per call. */
    dnnl_memory_t x, y, dy, dx;                               /* NHWC */
    dnnl_memory_t gamma, beta, mean, var, dgam, dbet, zshift; /* [c] */
    float *dgam_buf, *dbet_buf; /* [c] each, backward outputs (one allocation) */
    float *zero_shift;          /* [c] zeros: oneDNN 2.6 wants a shift in backward */
    size_t tmp_off;             /* byte offset of the dx temporary in ctx->scratch */
};

/* oneDNN takes non-const handles even for inputs. */
static void *bn_cpu_handle(const void *p) {
    return (void *)(uintptr_t)p;
}

static status bn_cpu_set(dnnl_memory_t m, const void *p) {
    DNNL_TRY(dnnl_memory_set_data_handle(m, bn_cpu_handle(p)), "memory_set_data_handle");
    return YOLOC_OK;
}

/* Creates the primitive for op_desc (user scratchpad, scratch reserved in
 * ctx); *pd_out keeps the primitive descriptor when non-NULL (caller
 * destroys it), else it is destroyed here. */
static status bn_cpu_make(cpu_ctx *ctx, const_dnnl_op_desc_t od, const_dnnl_primitive_desc_t hint,
                          dnnl_primitive_t *prim, dnnl_primitive_desc_t *pd_out, const char *what) {
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    TRY(dnnl_attr_user_scratchpad(&attr));
    status st = dnnl_check(dnnl_primitive_desc_create(&pd, od, attr, ctx->engine, hint), what);
    dnnl_primitive_attr_destroy(attr);
    if (st == YOLOC_OK) st = dnnl_reserve_pd_scratch(ctx, pd);
    if (st == YOLOC_OK) st = dnnl_check(dnnl_primitive_create(prim, pd), what);
    if (st != YOLOC_OK || !pd_out) {
        if (pd) dnnl_primitive_desc_destroy(pd);
        pd = NULL;
    }
    if (pd_out) *pd_out = pd;
    return st;
}

static status bn_cpu_build(bn_cpu *p) {
    const bn_desc *d = &p->d;
    cpu_ctx *ctx = p->ctx;
    dnnl_memory_desc_t data_md, vec_md;
    TRY(dnnl_md_nhwc(&data_md, d->n, d->c, d->h, d->w));
    dnnl_dims_t vdims = {d->c};
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&vec_md, 1, vdims, dnnl_f32, dnnl_a),
             "memory_desc_init (batchnorm [c])");
    dnnl_memory_t *data_mems[] = {&p->x, &p->y, &p->dy, &p->dx};
    for (size_t i = 0; i < sizeof data_mems / sizeof *data_mems; i++)
        TRY(dnnl_mem_empty(data_mems[i], &data_md, ctx));
    dnnl_memory_t *vec_mems[] = {&p->gamma, &p->beta, &p->mean,  &p->var,
                                 &p->dgam,  &p->dbet, &p->zshift};
    for (size_t i = 0; i < sizeof vec_mems / sizeof *vec_mems; i++)
        TRY(dnnl_mem_empty(vec_mems[i], &vec_md, ctx));

    const unsigned ss = dnnl_use_scale | dnnl_use_shift;
    dnnl_batch_normalization_desc_t od;
    DNNL_TRY(dnnl_batch_normalization_forward_desc_init(&od, dnnl_forward_inference, &data_md,
                                                        d->eps, ss | dnnl_use_global_stats),
             "batch_normalization_forward_desc_init (inference)");
    TRY(bn_cpu_make(ctx, &od, NULL, &p->fwd_eval, NULL, "batch_normalization (inference)"));
    if (!p->training) return YOLOC_OK;

    dnnl_primitive_desc_t fwd_pd = NULL;
    DNNL_TRY(dnnl_batch_normalization_forward_desc_init(&od, dnnl_forward_training, &data_md,
                                                        d->eps, ss),
             "batch_normalization_forward_desc_init (training)");
    TRY(bn_cpu_make(ctx, &od, NULL, &p->fwd_train, &fwd_pd, "batch_normalization (training)"));
    dnnl_primitive_desc_t bwd_pd = NULL;
    status st = dnnl_check(dnnl_batch_normalization_backward_desc_init(&od, dnnl_backward, &data_md,
                                                                       &data_md, d->eps, ss),
                           "batch_normalization_backward_desc_init");
    if (st == YOLOC_OK)
        st = bn_cpu_make(ctx, &od, fwd_pd, &p->bwd, &bwd_pd, "batch_normalization (backward)");
    dnnl_primitive_desc_destroy(fwd_pd);
    if (st != YOLOC_OK) return st;
    const dnnl_memory_desc_t *smd =
        dnnl_primitive_desc_query_md(bwd_pd, dnnl_query_scratchpad_md, 0);
    size_t sbytes = smd ? dnnl_memory_desc_get_size(smd) : 0;
    dnnl_primitive_desc_destroy(bwd_pd);
    p->tmp_off = (sbytes + 63) & ~(size_t)63;
    TRY(cpu_ctx_reserve_scratch(ctx, p->tmp_off + dnnl_memory_desc_get_size(&data_md)));

    p->dgam_buf = calloc(3 * (size_t)d->c, sizeof(float));
    if (!p->dgam_buf)
        return err_set(YOLOC_ERR_NOMEM, "cannot allocate batchnorm gradient buffers (c=%d)", d->c);
    p->dbet_buf = p->dgam_buf + d->c;
    p->zero_shift = p->dgam_buf + 2 * (size_t)d->c;
    TRY(bn_cpu_set(p->dgam, p->dgam_buf));
    TRY(bn_cpu_set(p->dbet, p->dbet_buf));
    TRY(bn_cpu_set(p->zshift, p->zero_shift));
    return YOLOC_OK;
}

status bn_cpu_create(bn_cpu **out, cpu_ctx *ctx, const bn_desc *d, int training) {
    *out = NULL;
    if (d->n <= 0 || d->h <= 0 || d->w <= 0 || d->c <= 0 || !(d->eps > 0))
        return err_set(YOLOC_ERR_SHAPE, "batchnorm: bad sizes n=%d h=%d w=%d c=%d eps=%g", d->n,
                       d->h, d->w, d->c, (double)d->eps);
    if (training && (size_t)d->n * d->h * d->w < 2)
        return err_set(YOLOC_ERR_SHAPE,
                       "batchnorm: training needs more than 1 value per channel (n=%d h=%d w=%d)",
                       d->n, d->h, d->w);
    bn_cpu *p = calloc(1, sizeof *p);
    if (!p) return err_set(YOLOC_ERR_NOMEM, "cannot allocate a batchnorm plan");
    p->d = *d;
    p->ctx = ctx;
    p->training = training;
    status st = bn_cpu_build(p);
    if (st != YOLOC_OK) {
        bn_cpu_free(p);
        return err_prefix(st, "batchnorm plan n=%d h=%d w=%d c=%d", d->n, d->h, d->w, d->c);
    }
    *out = p;
    return YOLOC_OK;
}

void bn_cpu_free(bn_cpu *p) {
    if (!p) return;
    dnnl_primitive_t prims[] = {p->fwd_train, p->fwd_eval, p->bwd};
    for (size_t i = 0; i < sizeof prims / sizeof *prims; i++)
        if (prims[i]) dnnl_primitive_destroy(prims[i]);
    dnnl_memory_t mems[] = {p->x,    p->y,   p->dy,   p->dx,   p->gamma, p->beta,
                            p->mean, p->var, p->dgam, p->dbet, p->zshift};
    for (size_t i = 0; i < sizeof mems / sizeof *mems; i++)
        if (mems[i]) dnnl_memory_destroy(mems[i]);
    free(p->dgam_buf);
    free(p);
}

status bn_cpu_forward_train(bn_cpu *p, const float *x, const float *gamma, const float *beta,
                            float *y, float *save_mean, float *save_var, float *running_mean,
                            float *running_var) {
    if (!p->fwd_train)
        return err_set(YOLOC_ERR_INVALID, "batchnorm: training forward on an inference plan");
    TRY(bn_cpu_set(p->x, x));
    TRY(bn_cpu_set(p->y, y));
    TRY(bn_cpu_set(p->gamma, gamma));
    TRY(bn_cpu_set(p->beta, beta));
    TRY(bn_cpu_set(p->mean, save_mean));
    TRY(bn_cpu_set(p->var, save_var));
    dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, p->x},       {DNNL_ARG_DST, p->y},
                              {DNNL_ARG_SCALE, p->gamma}, {DNNL_ARG_SHIFT, p->beta},
                              {DNNL_ARG_MEAN, p->mean},   {DNNL_ARG_VARIANCE, p->var}};
    TRY(dnnl_exec(p->ctx, p->fwd_train, 6, args));

    const int c = p->d.c;
    const float mom = p->d.momentum, keep = 1.0f - mom;
    const double m = (double)p->d.n * p->d.h * p->d.w;
    const float unbias = (float)(m / (m - 1.0));
    if (running_mean)
        for (int k = 0; k < c; k++) running_mean[k] = keep * running_mean[k] + mom * save_mean[k];
    if (running_var)
        for (int k = 0; k < c; k++)
            running_var[k] = keep * running_var[k] + mom * (save_var[k] * unbias);
    return YOLOC_OK;
}

status bn_cpu_forward_eval(bn_cpu *p, const float *x, const float *gamma, const float *beta,
                           const float *running_mean, const float *running_var, float *y) {
    TRY(bn_cpu_set(p->x, x));
    TRY(bn_cpu_set(p->y, y));
    TRY(bn_cpu_set(p->gamma, gamma));
    TRY(bn_cpu_set(p->beta, beta));
    TRY(bn_cpu_set(p->mean, running_mean));
    TRY(bn_cpu_set(p->var, running_var));
    dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, p->x},       {DNNL_ARG_DST, p->y},
                              {DNNL_ARG_SCALE, p->gamma}, {DNNL_ARG_SHIFT, p->beta},
                              {DNNL_ARG_MEAN, p->mean},   {DNNL_ARG_VARIANCE, p->var}};
    return dnnl_exec(p->ctx, p->fwd_eval, 6, args);
}

status bn_cpu_backward(bn_cpu *p, const float *x, const float *gamma, const float *save_mean,
                       const float *save_var, const float *dy, float *dx, float beta_dx,
                       float *dgamma, float *dbeta) {
    if (!p->bwd) return err_set(YOLOC_ERR_INVALID, "batchnorm: backward on an inference plan");
    if (!dx && !dgamma && !dbeta) return YOLOC_OK;
    /* oneDNN writes diff_src: straight into dx when overwriting, else into
     * the temporary. */
    float *out = (dx && beta_dx == 0.0f) ? dx : (float *)((char *)p->ctx->scratch + p->tmp_off);
    TRY(bn_cpu_set(p->x, x));
    TRY(bn_cpu_set(p->gamma, gamma));
    TRY(bn_cpu_set(p->mean, save_mean));
    TRY(bn_cpu_set(p->var, save_var));
    TRY(bn_cpu_set(p->dy, dy));
    TRY(bn_cpu_set(p->dx, out));
    /* The shift does not enter the gradients, but oneDNN 2.6 refuses a
     * backward with dnnl_use_shift and no DNNL_ARG_SHIFT (invalid_arguments). */
    dnnl_exec_arg_t args[] = {
        {DNNL_ARG_SRC, p->x},       {DNNL_ARG_MEAN, p->mean},       {DNNL_ARG_VARIANCE, p->var},
        {DNNL_ARG_DIFF_DST, p->dy}, {DNNL_ARG_SCALE, p->gamma},     {DNNL_ARG_SHIFT, p->zshift},
        {DNNL_ARG_DIFF_SRC, p->dx}, {DNNL_ARG_DIFF_SCALE, p->dgam}, {DNNL_ARG_DIFF_SHIFT, p->dbet}};
    TRY(dnnl_exec(p->ctx, p->bwd, 9, args));
    const int c = p->d.c;
    if (dgamma)
        for (int k = 0; k < c; k++) dgamma[k] += p->dgam_buf[k];
    if (dbeta)
        for (int k = 0; k < c; k++) dbeta[k] += p->dbet_buf[k];
    if (dx && out != dx) acc_cpu((size_t)p->d.n * p->d.h * p->d.w * p->d.c, out, dx, beta_dx);
    return YOLOC_OK;
}
