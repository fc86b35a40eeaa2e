/* Max pooling on oneDNN (fast path of maxpool_*; see ops.h).
 *
 * A training plan holds pooling_max forward_training, which records the
 * argmax of every output in a workspace (u8 window offsets for k*k < 256),
 * and the backward primitive that scatters dy through that workspace; the
 * caller keeps one workspace per layer between forward and backward. An
 * inference plan holds forward_inference only, with no workspace.
 * oneDNN keeps the first maximum in window order on ties (a later value
 * must be strictly greater), like the reference; padding never wins.
 * oneDNN's diff_src overwrites, so beta_dx != 0 goes through a temporary in
 * the context's shared scratch, behind oneDNN's own scratchpad. */
#include "ops/cpu/dnnl_util.h"

#include <stdint.h>
#include <stdlib.h>

struct maxpool_cpu {
    pool_desc d;
    cpu_ctx *ctx;
    dnnl_primitive_t fwd, bwd;
    dnnl_memory_t x, y, dy, dx, ws; /* handles set per call */
    size_t ws_size;                 /* bytes; 0 for inference plans */
    size_t tmp_off;                 /* byte offset of the dx temporary in ctx->scratch */
};

static status maxpool_cpu_set(dnnl_memory_t m, const void *p) {
    DNNL_TRY(dnnl_memory_set_data_handle(m, (void *)(uintptr_t)p), "memory_set_data_handle");
    return YOLOC_OK;
}

/* Primitive for op_desc with a user scratchpad reserved in ctx; the pd is
 * returned (caller destroys it) on success. */
static status maxpool_cpu_make(cpu_ctx *ctx, const_dnnl_op_desc_t od,
                               const_dnnl_primitive_desc_t hint, dnnl_primitive_t *prim,
                               dnnl_primitive_desc_t *pd_out, const char *what) {
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    *pd_out = NULL;
    TRY(dnnl_attr_user_scratchpad(&attr));
    status st = dnnl_check(dnnl_primitive_desc_create(&pd, od, attr, ctx->engine, hint), what);
    dnnl_primitive_attr_destroy(attr);
    if (st == YOLOC_OK) st = dnnl_reserve_pd_scratch(ctx, pd);
    if (st == YOLOC_OK) st = dnnl_check(dnnl_primitive_create(prim, pd), what);
    if (st != YOLOC_OK) {
        if (pd) dnnl_primitive_desc_destroy(pd);
        return st;
    }
    *pd_out = pd;
    return YOLOC_OK;
}

static status maxpool_cpu_build(maxpool_cpu *p, int training) {
    const pool_desc *d = &p->d;
    cpu_ctx *ctx = p->ctx;
    const int oh = pool_out_h(d), ow = pool_out_w(d);
    dnnl_memory_desc_t src_md, dst_md;
    TRY(dnnl_md_nhwc(&src_md, d->n, d->c, d->h, d->w));
    TRY(dnnl_md_nhwc(&dst_md, d->n, d->c, oh, ow));
    TRY(dnnl_mem_empty(&p->x, &src_md, ctx));
    TRY(dnnl_mem_empty(&p->dx, &src_md, ctx));
    TRY(dnnl_mem_empty(&p->y, &dst_md, ctx));
    TRY(dnnl_mem_empty(&p->dy, &dst_md, ctx));

    /* Right padding p as well: oneDNN's output size (h - k + 2p)/s + 1 with
     * floor division is PyTorch's; unused right padding is never read. */
    dnnl_dims_t strides = {d->s, d->s}, kernel = {d->k, d->k}, pad = {d->p, d->p};
    dnnl_pooling_desc_t od;
    DNNL_TRY(dnnl_pooling_forward_desc_init(
                 &od, training ? dnnl_forward_training : dnnl_forward_inference, dnnl_pooling_max,
                 &src_md, &dst_md, strides, kernel, pad, pad),
             "pooling_forward_desc_init");
    dnnl_primitive_desc_t fwd_pd = NULL;
    TRY(maxpool_cpu_make(ctx, &od, NULL, &p->fwd, &fwd_pd, "pooling_max (forward)"));
    if (!training) {
        dnnl_primitive_desc_destroy(fwd_pd);
        return YOLOC_OK;
    }
    status st = YOLOC_OK;
    const dnnl_memory_desc_t *wmd =
        dnnl_primitive_desc_query_md(fwd_pd, dnnl_query_workspace_md, 0);
    if (!wmd || dnnl_memory_desc_get_size(wmd) == 0)
        st = err_set(YOLOC_ERR_BACKEND, "oneDNN pooling_max: no workspace for training");
    if (st == YOLOC_OK) {
        p->ws_size = dnnl_memory_desc_get_size(wmd);
        st = dnnl_mem_empty(&p->ws, wmd, ctx);
    }
    if (st == YOLOC_OK)
        st = dnnl_check(dnnl_pooling_backward_desc_init(&od, dnnl_pooling_max, &src_md, &dst_md,
                                                        strides, kernel, pad, pad),
                        "pooling_backward_desc_init");
    dnnl_primitive_desc_t bwd_pd = NULL;
    if (st == YOLOC_OK)
        st = maxpool_cpu_make(ctx, &od, fwd_pd, &p->bwd, &bwd_pd, "pooling_max (backward)");
    dnnl_primitive_desc_destroy(fwd_pd);
    if (st != YOLOC_OK) return st;
    const dnnl_memory_desc_t *smd =
        dnnl_primitive_desc_query_md(bwd_pd, dnnl_query_scratchpad_md, 0);
    size_t sbytes = smd ? dnnl_memory_desc_get_size(smd) : 0;
    dnnl_primitive_desc_destroy(bwd_pd);
    p->tmp_off = (sbytes + 63) & ~(size_t)63;
    return cpu_ctx_reserve_scratch(ctx, p->tmp_off + dnnl_memory_desc_get_size(&src_md));
}

status maxpool_cpu_create(maxpool_cpu **out, cpu_ctx *ctx, const pool_desc *d, int training) {
    *out = NULL;
    if (d->n <= 0 || d->h <= 0 || d->w <= 0 || d->c <= 0 || d->k <= 0 || d->s <= 0 || d->p < 0 ||
        2 * d->p > d->k || d->h + 2 * d->p < d->k || d->w + 2 * d->p < d->k)
        return err_set(YOLOC_ERR_SHAPE,
                       "maxpool: bad sizes n=%d h=%d w=%d c=%d k=%d s=%d p=%d (need p <= k/2 and "
                       "a window that fits)",
                       d->n, d->h, d->w, d->c, d->k, d->s, d->p);
    maxpool_cpu *p = calloc(1, sizeof *p);
    if (!p) return err_set(YOLOC_ERR_NOMEM, "cannot allocate a maxpool plan");
    p->d = *d;
    p->ctx = ctx;
    status st = maxpool_cpu_build(p, training);
    if (st != YOLOC_OK) {
        maxpool_cpu_free(p);
        return err_prefix(st, "maxpool plan n=%d h=%d w=%d c=%d k=%d s=%d p=%d", d->n, d->h, d->w,
                          d->c, d->k, d->s, d->p);
    }
    *out = p;
    return YOLOC_OK;
}

void maxpool_cpu_free(maxpool_cpu *p) {
    if (!p) return;
    if (p->fwd) dnnl_primitive_destroy(p->fwd);
    if (p->bwd) dnnl_primitive_destroy(p->bwd);
    dnnl_memory_t mems[] = {p->x, p->y, p->dy, p->dx, p->ws};
    for (size_t i = 0; i < sizeof mems / sizeof *mems; i++)
        if (mems[i]) dnnl_memory_destroy(mems[i]);
    free(p);
}

size_t maxpool_cpu_workspace_size(const maxpool_cpu *p) {
    return p->ws_size;
}

status maxpool_cpu_forward(maxpool_cpu *p, const float *x, float *y, void *ws) {
    TRY(maxpool_cpu_set(p->x, x));
    TRY(maxpool_cpu_set(p->y, y));
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, p->x}, {DNNL_ARG_DST, p->y}, {0, NULL}};
    int nargs = 2;
    if (p->ws) {
        if (!ws) return err_set(YOLOC_ERR_INVALID, "maxpool: training forward needs a workspace");
        TRY(maxpool_cpu_set(p->ws, ws));
        args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_WORKSPACE, p->ws};
    }
    return dnnl_exec(p->ctx, p->fwd, nargs, args);
}

status maxpool_cpu_backward(maxpool_cpu *p, const float *dy, float *dx, float beta_dx,
                            const void *ws) {
    if (!p->bwd) return err_set(YOLOC_ERR_INVALID, "maxpool: backward on an inference plan");
    if (!dx) return YOLOC_OK;
    if (!ws) return err_set(YOLOC_ERR_INVALID, "maxpool: backward needs the forward's workspace");
    float *out = beta_dx == 0.0f ? dx : (float *)((char *)p->ctx->scratch + p->tmp_off);
    TRY(maxpool_cpu_set(p->dy, dy));
    TRY(maxpool_cpu_set(p->dx, out));
    TRY(maxpool_cpu_set(p->ws, ws));
    dnnl_exec_arg_t args[] = {
        {DNNL_ARG_DIFF_DST, p->dy}, {DNNL_ARG_WORKSPACE, p->ws}, {DNNL_ARG_DIFF_SRC, p->dx}};
    TRY(dnnl_exec(p->ctx, p->bwd, 3, args));
    if (out != dx) acc_cpu((size_t)p->d.n * p->d.h * p->d.w * p->d.c, out, dx, beta_dx);
    return YOLOC_OK;
}
