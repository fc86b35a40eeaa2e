/* The backend interface: where the numbers live and which code touches them.
 *
 * A backend is one table of functions (struct ops_backend) and one folder
 * under src/ops/ (ops/ref/, ops/cpu/), registered by one line in
 * ops/backends.c. Nothing outside the dispatch (ops/ops.c, ops/conv2d.c)
 * asks which backend runs: callers hold a `backend` (a pointer to its table)
 * and ask it what it offers (the fused ops are NULL where not offered).
 *
 * What a backend provides:
 *   - a context (engine, streams, scratch), created once per model;
 *   - buffers: allocation (zeroed), release, copies host <-> backend and
 *     backend <-> backend, and synchronisation (a no-op for host backends);
 *   - every op of ops/ops.h, forward and backward, with the conventions
 *     stated there (parameter gradients accumulate, dx = beta_dx*dx + grad,
 *     NULL gradients are not computed); ops with a plan (conv2d, bn, silu,
 *     maxpool) get init/free and keep their plan in the op handle's `impl`;
 *   - optionally, fused ops: BatchNorm/SyncBN + SiLU (bnsilu_*).
 * Sizes reach a backend already validated by the dispatcher (*_op_init), so
 * a backend function only fails on its own errors (YOLOC_ERR_BACKEND or
 * YOLOC_ERR_NOMEM with a message).
 *
 * The reference backend (ops/ref/) stays the oracle: tests/ops/
 * test_backend_ops.c runs every op of every backend built in against it,
 * forward and backward, on the real models' shapes and odd ones, and
 * tests/nn/test_backend_model.c compares whole models (forward, loss,
 * backward). docs/backends.md says how to add one. */
#ifndef YOLOC_OPS_BACKEND_H
#define YOLOC_OPS_BACKEND_H

#include "ops/ops.h"

struct v8_loss; /* ops/loss/v8loss.h */
struct v5_loss; /* ops/loss/v5loss.h */

/* The raw head's grid for the losses: batch images; per level, h x w cells
 * at stride pixels (the input is h[0]*stride[0] x w[0]*stride[0]). */
#define OPS_HEAD_MAX_LEVELS 8
typedef struct {
    int batch, nlevels;
    int h[OPS_HEAD_MAX_LEVELS], w[OPS_HEAD_MAX_LEVELS], stride[OPS_HEAD_MAX_LEVELS];
} ops_head_grid;

struct ops_backend {
    const char *name;  /* "ref", "cpu": the value of backend= */
    const char *about; /* one line for `yoloc version` and errors */
    int host_memory;   /* 1: buffers are host memory the host may read and write directly */
    int gpu;           /* 1: serves device=0,1,... (a GPU); 0: device=cpu */
    /* 1 when convolutions with conv2d_desc.bf16 run on this machine (the
     * rounding contract of ops.h); 0: conv2d_init refuses them. Fast or not
     * is ops_amp_bf16's business. */
    int (*bf16_convs)(void);

    /* ---- context */
    status (*ctx_create)(void **out);
    void (*ctx_free)(void *ctx);

    /* ---- buffers */
    /* bytes zeroed, 64-byte aligned; *out NULL on failure (YOLOC_ERR_NOMEM,
     * message set). Large buffers should not be touched until used (the
     * planner measures resident memory). */
    status (*buf_alloc)(void *ctx, size_t bytes, void **out);
    void (*buf_free)(void *ctx, void *p);
    status (*copy_to_host)(void *ctx, void *dst_host, const void *src, size_t bytes);
    status (*copy_from_host)(void *ctx, void *dst, const void *src_host, size_t bytes);
    status (*copy)(void *ctx, void *dst, const void *src, size_t bytes);
    status (*zero)(void *ctx, void *p, size_t bytes);
    /* Waits until every queued operation has finished. */
    status (*sync)(void *ctx);

    /* ---- convolution (op->d set and checked; op->impl is the backend's) */
    status (*conv2d_init)(conv2d_op *op, void *ctx, int training);
    status (*conv2d_forward)(conv2d_op *op, const float *x, const float *w, const float *b, float *y,
                             int weights_unchanged);
    status (*conv2d_backward)(conv2d_op *op, const float *x, const float *w, const float *dy, float *dx,
                              float beta_dx, float *dw, float *db);
    void (*conv2d_free)(conv2d_op *op);

    /* ---- batch normalisation */
    status (*bn_init)(bn_op *op, void *ctx, int training);
    status (*bn_forward_train)(bn_op *op, const float *x, const float *gamma, const float *beta, float *y,
                               float *save_mean, float *save_var, float *running_mean, float *running_var);
    status (*bn_forward_eval)(bn_op *op, const float *x, const float *gamma, const float *beta,
                              const float *running_mean, const float *running_var, float *y);
    status (*bn_backward)(bn_op *op, const float *x, const float *gamma, const float *save_mean,
                          const float *save_var, const float *dy, float *dx, float beta_dx, float *dgamma,
                          float *dbeta);
    /* frozen statistics (ops.h bn_ref_backward_frozen) */
    status (*bn_backward_frozen)(bn_op *op, const float *x, const float *gamma, const float *running_mean,
                                 const float *running_var, const float *dy, float *dx, float beta_dx, float *dgamma,
                                 float *dbeta);
    void (*bn_free)(bn_op *op);
    /* SyncBatchNorm (ops.h syncbn_*); work: syncbn_workspace(d) doubles. */
    status (*syncbn_forward_train)(const bn_desc *d, const ops_reducer *r, const float *x, const float *gamma,
                                   const float *beta, float *y, float *save_mean, float *save_var,
                                   float *running_mean, float *running_var, double *work);
    status (*syncbn_backward)(const bn_desc *d, const ops_reducer *r, const float *x, const float *gamma,
                              const float *save_mean, const float *save_var, const float *dy, float *dx,
                              float beta_dx, float *dgamma, float *dbeta, double *work);

    /* ---- fused BatchNorm (r NULL) / SyncBN + SiLU (ops.h bnsilu_*), the
     * frozen-statistics backward included; all four NULL where the backend
     * does not offer the fusion (then the Conv block runs bn, then silu,
     * and keeps the BN output). */
    status (*bnsilu_forward_train)(const bn_desc *d, const ops_reducer *r, const float *x, const float *gamma,
                                   const float *beta, float *y, float *save_mean, float *save_var,
                                   float *running_mean, float *running_var, double *work);
    status (*bnsilu_forward_eval)(const bn_desc *d, const float *x, const float *gamma, const float *beta,
                                  const float *running_mean, const float *running_var, float *y);
    status (*bnsilu_backward)(const bn_desc *d, const ops_reducer *r, const float *x, const float *gamma,
                              const float *beta, const float *save_mean, const float *save_var, const float *dy,
                              float *dx, float beta_dx, float *dgamma, float *dbeta, double *work);
    status (*bnsilu_backward_frozen)(const bn_desc *d, const float *x, const float *gamma, const float *beta,
                                     const float *running_mean, const float *running_var, const float *dy,
                                     float *dx, float beta_dx, float *dgamma, float *dbeta, double *work);

    /* ---- group normalisation */
    status (*gn_forward)(const gn_desc *d, const float *x, const float *gamma, const float *beta, float *y,
                         float *save_mean, float *save_rstd);
    status (*gn_backward)(const gn_desc *d, const float *x, const float *gamma, const float *save_mean,
                          const float *save_rstd, const float *dy, float *dx, float beta_dx, float *dgamma,
                          float *dbeta);

    /* ---- SiLU */
    status (*silu_init)(silu_op *op, void *ctx, int training);
    status (*silu_forward)(silu_op *op, const float *x, float *y);
    status (*silu_backward)(silu_op *op, const float *x, const float *dy, float *dx, float beta_dx);
    void (*silu_free)(silu_op *op);

    /* ---- max pooling: workspace bytes the caller keeps per layer
     * between forward and backward (0: backward recomputes from x). */
    status (*maxpool_init)(maxpool_op *op, void *ctx, int training);
    size_t (*maxpool_workspace)(const maxpool_op *op);
    status (*maxpool_forward)(maxpool_op *op, const float *x, float *y, void *ws);
    status (*maxpool_backward)(maxpool_op *op, const float *x, const float *dy, float *dx, float beta_dx,
                               const void *ws);
    void (*maxpool_free)(maxpool_op *op);

    /* ---- stateless ops (sizes owned by the caller) */
    void (*upsample_forward)(int n, int h, int w, int c, int f, const float *x, float *y);
    void (*upsample_backward)(int n, int h, int w, int c, int f, const float *dy, float *dx, float beta_dx);
    void (*chcopy)(size_t npix, int c, const float *src, int src_ct, int src_off, float *dst, int dst_ct,
                   int dst_off, float beta);
    void (*add)(size_t n, const float *a, const float *b, float *y);
    void (*acc)(size_t n, const float *src, float *dst, float beta);
    void (*f32_to_bf16)(size_t n, const float *x, uint16_t *y);
    /* the attention's batched product (checked by the dispatcher) and row softmax */
    status (*bmm)(const bmm_desc *d, float alpha, const float *A, const float *B, float beta, float *C);
    void (*softmax_forward)(size_t rows, int n, const float *x, float *y);
    void (*softmax_backward)(size_t rows, int n, const float *y, const float *dy, float *dx, float beta_dx);

    /* ---- the heads' eval decode and the BatchNorm fold (ops.h) */
    void (*dfl_decode)(const dfl_decode_desc *d, const float *box, const float *cls, const float *dfl_w, float *out);
    void (*v5_decode)(const v5_decode_desc *d, const float *raw, const float *anchors, float *dec, float *out);
    void (*bn_fold)(int co, size_t per, float eps, const float *w, const float *gamma, const float *beta,
                    const float *running_mean, const float *running_var, float *wf, float *bf);

    /* ---- the detection losses (ops/loss/v8loss.h, v5loss.h: the math and
     * its errors), assignment included, on the raw head: pred and grad
     * (NULL: no gradient; else overwritten) are backend buffers [B, A, no];
     * the grid, the targets [N, 6] and the v5 anchor sizes [nl, na, 2] are
     * host memory (what goes in). What comes out to the host: terms[3] and
     * the loss's scalars in L (v8: tss, tss_raw, nfg). L is the host-side
     * state; a backend keeps its workspace under it. */
    status (*v8_loss)(void *ctx, struct v8_loss *L, const float *pred, const ops_head_grid *g,
                      const float *targets, size_t ntargets, float terms[3], float *grad);
    status (*v5_loss)(void *ctx, struct v5_loss *L, const float *pred, const ops_head_grid *g,
                      const float *anchors, const float *targets, size_t ntargets, float terms[3],
                      float *grad);

    /* ---- multi-tensor ops over the flat parameter buffers (ops.h): the
     * optimizer's update, EMA, and the gradient norm, scale and finite
     * check; partials is backend memory, the chunk list host memory */
    void (*sgd_update)(const ops_chunk *ch, size_t nch, size_t numel, float *p, const float *g, float *b,
                       const ops_sgd_hp *hp);
    void (*adam_update)(const ops_chunk *ch, size_t nch, size_t numel, float *p, const float *g, float *m,
                        float *v, const ops_adam_hp *hp);
    double (*chunk_sumsq)(const ops_chunk *ch, size_t nch, size_t numel, const float *x, double *partials);
    void (*chunk_scale)(const ops_chunk *ch, size_t nch, size_t numel, float *x, float f);
    int (*chunk_all_finite)(const ops_chunk *ch, size_t nch, size_t numel, const float *x);
    void (*ema_blend)(size_t n, float *x, const float *y, float d, float omd);
    double (*chunk_sqdiff_copy)(const ops_chunk *ch, size_t nch, size_t numel, const float *g, float *prev,
                                double *partials);
};

/* The backends built in, in registration order (ops/backends.c), NULL
 * terminated; the first is the reference. */
const ops_backend *const *backend_list(void);
/* Adds a backend at run time (after those built in): a table defined
 * outside src/ops/, e.g. a test's. Not thread-safe: call before any run.
 * YOLOC_ERR_INVALID when the name exists or the list is full. */
status backend_register(const ops_backend *be);
/* "ref, cpu": the names built in (and registered), for messages. */
const char *backend_names(void);
/* The default backend (cpu). */
backend backend_default(void);

/* What device= and backend= select, as Ultralytics spells device:
 *   device "cpu" (any case) or empty: the backend named `name` (empty or
 *   NULL: the default), which must not be a GPU backend;
 *   device "0", "0,1", "cuda", "cuda:0": a GPU backend built in; this build
 *   has none unless one is registered, and the error says what is built in.
 * YOLOC_ERR_INVALID with a message naming the key otherwise. */
status backend_select(const char *device, const char *name, backend *out);

/* The backends' tables (one per folder). */
extern const ops_backend OPS_BACKEND_REF; /* ops/ref/backend_ref.c */
extern const ops_backend OPS_BACKEND_CPU; /* ops/cpu/backend_cpu.c */

/* A backend's context and buffers through its table (NULL-safe frees).
 * These inline functions and ops/ops.c are the dispatch: nothing else
 * reads a backend's table. */
static inline status backend_ctx_create(backend be, void **ctx) {
    *ctx = NULL;
    return be->ctx_create ? be->ctx_create(ctx) : YOLOC_OK;
}
static inline void backend_ctx_free(backend be, void *ctx) {
    if (be && be->ctx_free && ctx) be->ctx_free(ctx);
}
/* bytes zeroed. */
static inline status backend_alloc(backend be, void *ctx, size_t bytes, void **out) {
    return be->buf_alloc(ctx, bytes, out);
}
static inline float *backend_alloc_floats(backend be, void *ctx, size_t n, status *st) {
    void *p = NULL;
    *st = be->buf_alloc(ctx, n * sizeof(float), &p);
    return p;
}
static inline void backend_free(backend be, void *ctx, void *p) {
    if (be && p) be->buf_free(ctx, p);
}
static inline status backend_copy(backend be, void *ctx, void *dst, const void *src, size_t bytes) {
    return be->copy(ctx, dst, src, bytes);
}
static inline status backend_to_host(backend be, void *ctx, void *dst_host, const void *src, size_t bytes) {
    return be->copy_to_host(ctx, dst_host, src, bytes);
}
static inline status backend_from_host(backend be, void *ctx, void *dst, const void *src_host, size_t bytes) {
    return be->copy_from_host(ctx, dst, src_host, bytes);
}
static inline status backend_sync(backend be, void *ctx) { return be->sync(ctx); }
static inline status backend_zero(backend be, void *ctx, void *p, size_t bytes) { return be->zero(ctx, p, bytes); }

/* The multi-tensor ops (ops.h) through the table. */
static inline void backend_sgd_update(backend be, const ops_chunk *ch, size_t nch, size_t numel, float *p,
                                      const float *g, float *b, const ops_sgd_hp *hp) {
    be->sgd_update(ch, nch, numel, p, g, b, hp);
}
static inline void backend_adam_update(backend be, const ops_chunk *ch, size_t nch, size_t numel, float *p,
                                       const float *g, float *m, float *v, const ops_adam_hp *hp) {
    be->adam_update(ch, nch, numel, p, g, m, v, hp);
}
static inline double backend_chunk_sumsq(backend be, const ops_chunk *ch, size_t nch, size_t numel, const float *x,
                                         double *partials) {
    return be->chunk_sumsq(ch, nch, numel, x, partials);
}
static inline void backend_chunk_scale(backend be, const ops_chunk *ch, size_t nch, size_t numel, float *x, float f) {
    be->chunk_scale(ch, nch, numel, x, f);
}
static inline int backend_chunk_all_finite(backend be, const ops_chunk *ch, size_t nch, size_t numel,
                                           const float *x) {
    return be->chunk_all_finite(ch, nch, numel, x);
}
static inline double backend_chunk_sqdiff_copy(backend be, const ops_chunk *ch, size_t nch, size_t numel,
                                               const float *g, float *prev, double *partials) {
    return be->chunk_sqdiff_copy(ch, nch, numel, g, prev, partials);
}
/* The detection losses (see the table) through the table. */
static inline status backend_v8_loss(backend be, void *ctx, struct v8_loss *L, const float *pred,
                                     const ops_head_grid *g, const float *targets, size_t ntargets, float terms[3],
                                     float *grad) {
    return be->v8_loss(ctx, L, pred, g, targets, ntargets, terms, grad);
}
static inline status backend_v5_loss(backend be, void *ctx, struct v5_loss *L, const float *pred,
                                     const ops_head_grid *g, const float *anchors, const float *targets,
                                     size_t ntargets, float terms[3], float *grad) {
    return be->v5_loss(ctx, L, pred, g, anchors, targets, ntargets, terms, grad);
}
static inline void backend_ema_blend(backend be, size_t n, float *x, const float *y, float d, float omd) {
    be->ema_blend(n, x, y, d, omd);
}

#endif
