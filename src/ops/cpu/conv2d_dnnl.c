/* conv2d fast path on oneDNN 2.6 (C API): a plan per layer instance that
 * holds the primitives (created once: this is the primitive cache) and the
 * few weight-sized buffers they need.
 *
 *   forward        src/dst plain NHWC (oneDNN's jit:avx2 kernels run NHWC at
 *                  150-190 GFLOP/s here; NCHW falls to gemm and strided views
 *                  to ref:any), weights in the format the primitive picks
 *                  (format_tag_any): our OIHW weights are reordered into a
 *                  plan buffer at every forward call, since the optimizer
 *                  changes them every step. No reorder when the primitive
 *                  happens to want OIHW itself.
 *   backward data  its own weights format (queried; reordered separately
 *                  when it differs from OIHW); diff_src written straight into
 *                  dx when beta_dx = 0, otherwise into a temporary that is
 *                  then added (dx = beta*dx + tmp). oneDNN 2.6 has no sum
 *                  post-op for backward data.
 *   backward wts   diff_weights in the primitive's format into a plan buffer,
 *                  then a reorder to OIHW with a sum post-op adds it into the
 *                  caller's dw (dw +=); diff_bias into a plan buffer, added
 *                  into db.
 *
 * The dx temporary lives in the cpu_ctx's shared scratch buffer, right after
 * the backward-data primitive's own scratchpad (64-byte aligned): plans run
 * one at a time, so one input-sized temporary serves every layer instead of
 * one per layer, and the memory a model needs stays the activations plus
 * the largest layer input. The handle is taken from ctx->scratch at each
 * call because another plan's creation may have grown (moved) the buffer.
 *
 * Dilation: ours counts 1 = none, oneDNN's 0 = none. Padding: symmetric
 * (ph, pw) on both sides; oneDNN accepts it whenever
 * (in - ext + 2p) / s + 1 == out, which is our output formula.
 *
 * Inference plans may fuse a SiLU into the forward primitive (desc.act, an
 * eltwise swish post-op): the Conv block with BatchNorm folded.
 *
 * bf16 (desc.bf16, amp): the primitives take bf16 src, weights and diff_dst
 * and give fp32 dst, diff_src, diff_weights and diff_bias (fp32
 * accumulation; on AMX and AVX512-BF16 CPUs the products run at bf16 speed).
 * The caller's arrays stay fp32: x and dy are converted (f32_to_bf16_cpu,
 * same NHWC layout; 3x faster than oneDNN 2.6's reorder) into the shared
 * scratch right before the primitive that reads them (the dy copy serves
 * both backward passes), the weights by the reorder that already puts them
 * in the primitive's format. Scratch layout of a plan, after the
 * largest primitive scratchpad: [dx temporary f32 | x bf16 | dy bf16].
 *
 * Leaves out: logging (nothing in the hot path), int8. */
#include "core/cpu.h"
#include "core/tensor.h"
#include "ops/cpu/dnnl_util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct conv2d_cpu {
    cpu_ctx *ctx;
    conv2d_desc d;
    int training;
    size_t nx; /* elements of x / dx */

    dnnl_primitive_t fwd;
    dnnl_primitive_t fwd_wreorder; /* OIHW -> forward weights format, or NULL */
    dnnl_primitive_t bwd_data;
    dnnl_primitive_t bwd_wreorder; /* OIHW -> backward-data weights format, or NULL */
    dnnl_primitive_t bwd_weights;
    dnnl_primitive_t dw_reorder; /* diff_weights format -> OIHW, accumulating */

    /* Memory objects over the caller's arrays (handles set per call). */
    dnnl_memory_t m_x, m_y, m_w, m_b, m_dy, m_dx, m_dw;
    /* Plan-owned buffers (allocated by oneDNN, freed with the memory). */
    dnnl_memory_t m_wfwd;  /* forward weights, or NULL: m_w is used */
    dnnl_memory_t m_wbwd;  /* backward-data weights, or NULL: m_w is used */
    dnnl_memory_t m_dwbuf; /* diff_weights in the primitive's format */
    dnnl_memory_t m_dbbuf; /* diff_bias [co], or NULL without bias */
    float *dbbuf;          /* m_dbbuf's data */
    /* diff_src temporary over the shared scratch (beta_dx != 0). */
    dnnl_memory_t m_dxtmp;
    size_t dxtmp_off; /* byte offset in ctx->scratch */
    /* bf16: x and dy converted into the shared scratch (NULL in fp32 plans). */
    dnnl_memory_t m_xb, m_dyb;
    size_t xb_off, dyb_off; /* byte offsets in ctx->scratch */
    size_t ny;              /* elements of y / dy */
    const float *wfwd_from; /* the weights m_wfwd holds (conv2d_cpu_forward_ex's reuse), or NULL */
};

/* Jumps to the enclosing function's fail label with st set. */
#define DNNL_GOTO(call, what)                                                                      \
    do {                                                                                           \
        dnnl_status_t dnnl_s_ = (call);                                                            \
        if (dnnl_s_ != dnnl_success) {                                                             \
            st = dnnl_check(dnnl_s_, what);                                                        \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)

/* The OIHW (goihw with groups: {g, co/g, ci/g, kh, kw}) descriptor of
 * weights of type dt, with tag dnnl_format_tag_any when `any` is set. */
static status conv2d_cpu_weights_md(dnnl_memory_desc_t *md, const conv2d_desc *d, int any,
                                    dnnl_data_type_t dt) {
    if (d->groups == 1) {
        dnnl_dims_t dims = {d->co, d->ci, d->kh, d->kw};
        DNNL_TRY(dnnl_memory_desc_init_by_tag(md, 4, dims, dt,
                                              any ? dnnl_format_tag_any : dnnl_oihw),
                 "memory_desc_init (weights)");
    } else {
        dnnl_dims_t dims = {d->groups, d->co / d->groups, d->ci / d->groups, d->kh, d->kw};
        DNNL_TRY(dnnl_memory_desc_init_by_tag(md, 5, dims, dt,
                                              any ? dnnl_format_tag_any : dnnl_goihw),
                 "memory_desc_init (grouped weights)");
    }
    return YOLOC_OK;
}

/* Creates a primitive from an op descriptor with a user scratchpad, grows
 * the shared scratch to what it needs and returns its descriptor in *pd_out
 * (caller destroys) when pd_out is not NULL. */
static status conv2d_cpu_make_prim(cpu_ctx *ctx, const_dnnl_op_desc_t op,
                                   const_dnnl_primitive_desc_t hint, int silu, dnnl_primitive_t *prim,
                                   dnnl_primitive_desc_t *pd_out, const char *what) {
    status st = YOLOC_OK;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_post_ops_t ops = NULL;
    TRY_GOTO(st, dnnl_attr_user_scratchpad(&attr));
    if (silu) { /* swish with alpha 1: x * sigmoid(x) */
        DNNL_GOTO(dnnl_post_ops_create(&ops), "post_ops_create");
        DNNL_GOTO(dnnl_post_ops_append_eltwise(ops, 1.0f, dnnl_eltwise_swish, 1.0f, 0.0f), "post_ops_append_eltwise");
        DNNL_GOTO(dnnl_primitive_attr_set_post_ops(attr, ops), "primitive_attr_set_post_ops");
        dnnl_post_ops_destroy(ops);
        ops = NULL;
    }
    DNNL_GOTO(dnnl_primitive_desc_create(&pd, op, attr, ctx->engine, hint), what);
    TRY_GOTO(st, dnnl_reserve_pd_scratch(ctx, pd));
    DNNL_GOTO(dnnl_primitive_create(prim, pd), what);
    dnnl_primitive_attr_destroy(attr);
    if (pd_out)
        *pd_out = pd;
    else
        dnnl_primitive_desc_destroy(pd);
    return YOLOC_OK;
fail:
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (ops) dnnl_post_ops_destroy(ops);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return st;
}

/* A reorder src -> dst; with `accumulate` a sum post-op makes it dst += src. */
static status conv2d_cpu_make_reorder(cpu_ctx *ctx, const dnnl_memory_desc_t *src,
                                      const dnnl_memory_desc_t *dst, int accumulate,
                                      dnnl_primitive_t *prim) {
    status st = YOLOC_OK;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t ops = NULL;
    dnnl_primitive_desc_t pd = NULL;
    TRY_GOTO(st, dnnl_attr_user_scratchpad(&attr));
    if (accumulate) {
        DNNL_GOTO(dnnl_post_ops_create(&ops), "post_ops_create");
        DNNL_GOTO(dnnl_post_ops_append_sum(ops, 1.0f), "post_ops_append_sum");
        DNNL_GOTO(dnnl_primitive_attr_set_post_ops(attr, ops), "primitive_attr_set_post_ops");
    }
    DNNL_GOTO(dnnl_reorder_primitive_desc_create(&pd, src, ctx->engine, dst, ctx->engine, attr),
              "reorder_primitive_desc_create (weights)");
    TRY_GOTO(st, dnnl_reserve_pd_scratch(ctx, pd));
    DNNL_GOTO(dnnl_primitive_create(prim, pd), "primitive_create (reorder)");
fail:
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (ops) dnnl_post_ops_destroy(ops);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return st;
}

/* When the primitive's weights format `want` is OIHW itself, nothing to do
 * (*buf and *reorder stay NULL); otherwise a plan buffer in that format and
 * the reorder that fills it from OIHW. */
static status conv2d_cpu_weights_copy(cpu_ctx *ctx, const dnnl_memory_desc_t *user,
                                      const dnnl_memory_desc_t *want, dnnl_memory_t *buf,
                                      dnnl_primitive_t *reorder) {
    if (dnnl_memory_desc_equal(user, want)) return YOLOC_OK;
    DNNL_TRY(dnnl_memory_create(buf, want, ctx->engine, DNNL_MEMORY_ALLOCATE),
             "memory_create (weights buffer)");
    return conv2d_cpu_make_reorder(ctx, user, want, 0, reorder);
}

/* The larger of cur and the scratchpad bytes pd asks for. */
static size_t conv2d_cpu_max_scratch(size_t cur, const_dnnl_primitive_desc_t pd) {
    const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t s = smd ? dnnl_memory_desc_get_size(smd) : 0;
    return s > cur ? s : cur;
}

static size_t conv2d_cpu_align64(size_t bytes) { return (bytes + 63) & ~(size_t)63; }

static status conv2d_cpu_build(conv2d_cpu *p) {
    cpu_ctx *ctx = p->ctx;
    const conv2d_desc *d = &p->d;
    const int oh = conv2d_out_h(d), ow = conv2d_out_w(d);
    status st = YOLOC_OK;
    dnnl_primitive_desc_t fwd_pd = NULL, bd_pd = NULL, bw_pd = NULL;
    dnnl_memory_desc_t x_md, y_md, w_md, w_any, b_md, xc_md, yc_md, dw_any;
    const dnnl_data_type_t ct = d->bf16 ? dnnl_bf16 : dnnl_f32; /* what the products read */
    size_t spad = 0; /* the largest primitive scratchpad of the plan */
    dnnl_convolution_desc_t cd;
    dnnl_dims_t strides = {d->sh, d->sw}, dil = {d->dh - 1, d->dw - 1}, pad = {d->ph, d->pw};

    TRY(dnnl_md_nhwc(&x_md, d->n, d->ci, d->h, d->w));
    TRY(dnnl_md_nhwc(&y_md, d->n, d->co, oh, ow));
    TRY(conv2d_cpu_weights_md(&w_md, d, 0, dnnl_f32));
    TRY(conv2d_cpu_weights_md(&w_any, d, 1, ct));
    TRY(conv2d_cpu_weights_md(&dw_any, d, 1, dnnl_f32));
    xc_md = x_md;
    yc_md = y_md;
    if (d->bf16) {
        xc_md.data_type = dnnl_bf16;
        yc_md.data_type = dnnl_bf16;
    }
    dnnl_dims_t bdims = {d->co};
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&b_md, 1, bdims, dnnl_f32, dnnl_x),
             "memory_desc_init (bias)");
    const dnnl_memory_desc_t *bias_md = d->bias ? &b_md : NULL;

    TRY(dnnl_mem_empty(&p->m_x, &x_md, ctx));
    TRY(dnnl_mem_empty(&p->m_y, &y_md, ctx));
    TRY(dnnl_mem_empty(&p->m_w, &w_md, ctx));
    if (d->bias) TRY(dnnl_mem_empty(&p->m_b, &b_md, ctx));

    /* Forward. */
    DNNL_TRY(dnnl_dilated_convolution_forward_desc_init(
                 &cd, p->training ? dnnl_forward_training : dnnl_forward_inference,
                 dnnl_convolution_direct, &xc_md, &w_any, bias_md, &y_md, strides, dil, pad, pad),
             "convolution_forward_desc_init");
    TRY(conv2d_cpu_make_prim(ctx, &cd, NULL, d->act, &p->fwd, &fwd_pd, "convolution forward"));
    spad = conv2d_cpu_max_scratch(0, fwd_pd);
    TRY_GOTO(st, conv2d_cpu_weights_copy(
                     ctx, &w_md, dnnl_primitive_desc_query_md(fwd_pd, dnnl_query_weights_md, 0),
                     &p->m_wfwd, &p->fwd_wreorder));
    if (!p->training) goto layout;

    TRY_GOTO(st, dnnl_mem_empty(&p->m_dy, &y_md, ctx));
    TRY_GOTO(st, dnnl_mem_empty(&p->m_dx, &x_md, ctx));
    TRY_GOTO(st, dnnl_mem_empty(&p->m_dw, &w_md, ctx));
    TRY_GOTO(st, dnnl_mem_empty(&p->m_dxtmp, &x_md, ctx));

    /* Backward data. */
    DNNL_GOTO(dnnl_dilated_convolution_backward_data_desc_init(
                  &cd, dnnl_convolution_direct, &x_md, &w_any, &yc_md, strides, dil, pad, pad),
              "convolution_backward_data_desc_init");
    TRY_GOTO(st, conv2d_cpu_make_prim(ctx, &cd, fwd_pd, 0, &p->bwd_data, &bd_pd,
                                      "convolution backward data"));
    TRY_GOTO(st, conv2d_cpu_weights_copy(
                     ctx, &w_md, dnnl_primitive_desc_query_md(bd_pd, dnnl_query_weights_md, 0),
                     &p->m_wbwd, &p->bwd_wreorder));
    spad = conv2d_cpu_max_scratch(spad, bd_pd);

    /* Backward weights (and bias). */
    DNNL_GOTO(dnnl_dilated_convolution_backward_weights_desc_init(&cd, dnnl_convolution_direct,
                                                                  &xc_md, &dw_any, bias_md, &yc_md,
                                                                  strides, dil, pad, pad),
              "convolution_backward_weights_desc_init");
    TRY_GOTO(st, conv2d_cpu_make_prim(ctx, &cd, fwd_pd, 0, &p->bwd_weights, &bw_pd,
                                      "convolution backward weights"));
    spad = conv2d_cpu_max_scratch(spad, bw_pd);
    const dnnl_memory_desc_t *dw_md =
        dnnl_primitive_desc_query_md(bw_pd, dnnl_query_diff_weights_md, 0);
    DNNL_GOTO(dnnl_memory_create(&p->m_dwbuf, dw_md, ctx->engine, DNNL_MEMORY_ALLOCATE),
              "memory_create (diff weights)");
    TRY_GOTO(st, conv2d_cpu_make_reorder(ctx, dw_md, &w_md, 1, &p->dw_reorder));
    if (d->bias) {
        const dnnl_memory_desc_t *db_md =
            dnnl_primitive_desc_query_md(bw_pd, dnnl_query_diff_weights_md, 1);
        /* A plain [co] vector is what the add loop in backward assumes. */
        if (!db_md || !dnnl_memory_desc_equal(db_md, &b_md)) {
            st = err_set(YOLOC_ERR_BACKEND, "oneDNN backward weights: unexpected diff_bias format");
            goto fail;
        }
        DNNL_GOTO(dnnl_memory_create(&p->m_dbbuf, db_md, ctx->engine, DNNL_MEMORY_ALLOCATE),
                  "memory_create (diff bias)");
        void *h = NULL;
        DNNL_GOTO(dnnl_memory_get_data_handle(p->m_dbbuf, &h), "memory_get_data_handle");
        p->dbbuf = h;
    }

layout:
    /* The shared scratch after the largest scratchpad: [dx tmp | x bf16 | dy bf16]. */
    {
        size_t off = conv2d_cpu_align64(spad);
        if (p->training) {
            p->dxtmp_off = off;
            off += conv2d_cpu_align64(p->nx * sizeof(float));
        }
        if (d->bf16) {
            p->xb_off = off;
            off += conv2d_cpu_align64(p->nx * sizeof(uint16_t));
            TRY_GOTO(st, dnnl_mem_empty(&p->m_xb, &xc_md, ctx));
            if (p->training) {
                p->dyb_off = off;
                off += conv2d_cpu_align64(p->ny * sizeof(uint16_t));
                TRY_GOTO(st, dnnl_mem_empty(&p->m_dyb, &yc_md, ctx));
            }
        }
        TRY_GOTO(st, cpu_ctx_reserve_scratch(ctx, off));
    }
fail:
    if (bw_pd) dnnl_primitive_desc_destroy(bw_pd);
    if (bd_pd) dnnl_primitive_desc_destroy(bd_pd);
    if (fwd_pd) dnnl_primitive_desc_destroy(fwd_pd);
    return st;
}

status conv2d_cpu_create(conv2d_cpu **out, cpu_ctx *ctx, const conv2d_desc *d, int training) {
    *out = NULL;
    TRY(conv2d_desc_check(d));
    if (!ctx) return err_set(YOLOC_ERR_INVALID, "conv2d: no cpu_ctx");
    conv2d_cpu *p = calloc(1, sizeof *p);
    if (!p) return err_set(YOLOC_ERR_NOMEM, "conv2d: cannot allocate the plan");
    p->ctx = ctx;
    p->d = *d;
    p->training = training != 0;
    p->nx = (size_t)d->n * d->h * d->w * d->ci;
    p->ny = (size_t)d->n * conv2d_out_h(d) * conv2d_out_w(d) * d->co;
    status st = conv2d_cpu_build(p);
    if (st != YOLOC_OK) {
        conv2d_cpu_free(p);
        return err_prefix(st, "conv2d %dx%dx%dx%d -> %d, k %dx%d s %dx%d p %dx%d d %dx%d g %d",
                          d->n, d->h, d->w, d->ci, d->co, d->kh, d->kw, d->sh, d->sw, d->ph, d->pw,
                          d->dh, d->dw, d->groups);
    }
    *out = p;
    return YOLOC_OK;
}

void conv2d_cpu_free(conv2d_cpu *p) {
    if (!p) return;
    dnnl_primitive_t prims[] = {p->fwd,          p->fwd_wreorder, p->bwd_data,
                                p->bwd_wreorder, p->bwd_weights,  p->dw_reorder};
    for (size_t i = 0; i < sizeof prims / sizeof prims[0]; i++)
        if (prims[i]) dnnl_primitive_destroy(prims[i]);
    dnnl_memory_t mems[] = {p->m_x,     p->m_y,     p->m_w,     p->m_b,     p->m_dy,
                            p->m_dx,    p->m_dw,    p->m_wfwd,  p->m_wbwd,  p->m_dwbuf,
                            p->m_dbbuf, p->m_dxtmp, p->m_xb,    p->m_dyb};
    for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++)
        if (mems[i]) dnnl_memory_destroy(mems[i]);
    free(p);
}

/* Points a memory object at a caller array (oneDNN never writes inputs,
 * hence the const cast). */
static status conv2d_cpu_bind(conv2d_cpu *p, dnnl_memory_t m, const void *ptr) {
    DNNL_TRY(dnnl_memory_set_data_handle_v2(m, (void *)(uintptr_t)ptr, p->ctx->stream),
             "memory_set_data_handle");
    return YOLOC_OK;
}

/* Reorders the caller's OIHW weights (already bound to m_w) into buf with
 * `reorder`, or returns m_w when the primitive reads OIHW directly. */
static status conv2d_cpu_weights_for(conv2d_cpu *p, dnnl_primitive_t reorder, dnnl_memory_t buf,
                                     dnnl_memory_t *use) {
    *use = p->m_w;
    if (!reorder) return YOLOC_OK;
    dnnl_exec_arg_t args[] = {{DNNL_ARG_FROM, p->m_w}, {DNNL_ARG_TO, buf}};
    TRY(dnnl_exec(p->ctx, reorder, 2, args));
    *use = buf;
    return YOLOC_OK;
}

/* bf16 plans: converts the n fp32 values src (bound to `from`) into the
 * scratch at byte offset off and returns the bf16 memory `to` over them.
 * fp32 plans: returns `from`. */
static status conv2d_cpu_to_bf16(conv2d_cpu *p, const float *src, size_t n, dnnl_memory_t from, dnnl_memory_t to,
                                 size_t off, dnnl_memory_t *use) {
    *use = from;
    if (!p->d.bf16) return YOLOC_OK;
    uint16_t *dst = (uint16_t *)((char *)p->ctx->scratch + off);
    f32_to_bf16_cpu(n, src, dst);
    TRY(conv2d_cpu_bind(p, to, dst));
    *use = to;
    return YOLOC_OK;
}

status conv2d_cpu_forward(conv2d_cpu *p, const float *x, const float *w, const float *b, float *y) {
    return conv2d_cpu_forward_ex(p, x, w, b, y, 0);
}

status conv2d_cpu_forward_ex(conv2d_cpu *p, const float *x, const float *w, const float *b, float *y,
                             int weights_unchanged) {
    YOLOC_ASSERT(p && x && w && y && (!p->d.bias || b));
    dnnl_memory_t wm, xm;
    TRY(conv2d_cpu_bind(p, p->m_x, x));
    TRY(conv2d_cpu_to_bf16(p, x, p->nx, p->m_x, p->m_xb, p->xb_off, &xm));
    TRY(conv2d_cpu_bind(p, p->m_y, y));
    TRY(conv2d_cpu_bind(p, p->m_w, w));
    if (weights_unchanged && p->fwd_wreorder && p->wfwd_from == w) {
        wm = p->m_wfwd; /* reordered by an earlier call from these very weights */
    } else {
        p->wfwd_from = NULL;
        TRY(conv2d_cpu_weights_for(p, p->fwd_wreorder, p->m_wfwd, &wm));
        p->wfwd_from = w;
    }
    dnnl_exec_arg_t args[4] = {
        {DNNL_ARG_SRC, xm}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, p->m_y}};
    int nargs = 3;
    if (p->d.bias) {
        TRY(conv2d_cpu_bind(p, p->m_b, b));
        args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, p->m_b};
    }
    return dnnl_exec(p->ctx, p->fwd, nargs, args);
}

/* dst = beta*dst + src over n floats, split across the OpenMP threads
 * (element-wise, so the result does not depend on the split). */
YOLOC_HOT static void conv2d_cpu_axpby(size_t n, const float *restrict src, float *restrict dst, float beta) {
    const long long nn = (long long)n;
    if (beta == 1.0f) {
#pragma omp parallel for schedule(static) if (nn > 32768)
        for (long long i = 0; i < nn; i++) dst[i] += src[i];
    } else {
#pragma omp parallel for schedule(static) if (nn > 32768)
        for (long long i = 0; i < nn; i++) dst[i] = beta * dst[i] + src[i];
    }
}

status conv2d_cpu_backward(conv2d_cpu *p, const float *x, const float *w, const float *dy,
                           float *dx, float beta_dx, float *dw, float *db) {
    YOLOC_ASSERT(p && dy && (!dx || w) && (!dw || x));
    if (!p->training)
        return err_set(YOLOC_ERR_INVALID,
                       "conv2d: backward called on an inference plan (created with training = 0)");
    if (!p->d.bias) db = NULL;
    if (!dx && !dw && !db) return YOLOC_OK;
    TRY(conv2d_cpu_bind(p, p->m_dy, dy));
    dnnl_memory_t dym = p->m_dy;
    if (dx || dw) TRY(conv2d_cpu_to_bf16(p, dy, p->ny, p->m_dy, p->m_dyb, p->dyb_off, &dym));

    if (dx) {
        dnnl_memory_t wm, target = p->m_dx;
        TRY(conv2d_cpu_bind(p, p->m_w, w));
        TRY(conv2d_cpu_weights_for(p, p->bwd_wreorder, p->m_wbwd, &wm));
        float *tmp = NULL;
        if (beta_dx == 0.0f) {
            TRY(conv2d_cpu_bind(p, p->m_dx, dx));
        } else {
            YOLOC_ASSERT(p->ctx->scratch_size >= p->dxtmp_off + p->nx * sizeof(float));
            tmp = (float *)((char *)p->ctx->scratch + p->dxtmp_off);
            TRY(conv2d_cpu_bind(p, p->m_dxtmp, tmp));
            target = p->m_dxtmp;
        }
        dnnl_exec_arg_t args[] = {
            {DNNL_ARG_DIFF_DST, dym}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DIFF_SRC, target}};
        TRY(dnnl_exec(p->ctx, p->bwd_data, 3, args));
        if (tmp) conv2d_cpu_axpby(p->nx, tmp, dx, beta_dx);
    }

    if (dw) {
        dnnl_memory_t xm;
        TRY(conv2d_cpu_bind(p, p->m_x, x));
        TRY(conv2d_cpu_to_bf16(p, x, p->nx, p->m_x, p->m_xb, p->xb_off, &xm));
        dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, xm},
                                   {DNNL_ARG_DIFF_DST, dym},
                                   {DNNL_ARG_DIFF_WEIGHTS, p->m_dwbuf}};
        int nargs = 3;
        if (p->d.bias) args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_BIAS, p->m_dbbuf};
        TRY(dnnl_exec(p->ctx, p->bwd_weights, nargs, args));
        TRY(conv2d_cpu_bind(p, p->m_dw, dw));
        dnnl_exec_arg_t rargs[] = {{DNNL_ARG_FROM, p->m_dwbuf}, {DNNL_ARG_TO, p->m_dw}};
        TRY(dnnl_exec(p->ctx, p->dw_reorder, 2, rargs));
        if (db)
            for (int o = 0; o < p->d.co; o++) db[o] += p->dbbuf[o];
    } else if (db) {
        /* Bias gradient alone (x may be NULL): a plain sum over pixels. */
        const size_t npix = (size_t)p->d.n * conv2d_out_h(&p->d) * conv2d_out_w(&p->d);
        for (size_t i = 0; i < npix; i++)
            for (int o = 0; o < p->d.co; o++)
                db[o] += p->d.bf16 ? bf16_round(dy[i * p->d.co + o]) : dy[i * p->d.co + o];
    }
    return YOLOC_OK;
}
