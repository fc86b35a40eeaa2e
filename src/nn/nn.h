/* Internals shared by the model (model.c) and the module files (conv.c,
 * c2f.c, c3.c, sppf.c, detect.c, detect_v5.c, resize.c): the layer table,
 * the planning context and the Conv block every module is made of. Not part
 * of the public API. */
#ifndef YOLOC_NN_NN_H
#define YOLOC_NN_NN_H

#include "core/arena.h"
#include "core/timer.h"
#include "nn/model.h"
#include "nn/module.h"
#include "ops/backend.h"

/* ------------------------------------------------------------------------ */
/* Planning: modules take their activation buffers from the arena. The first
 * pass measures (arena without memory, ops not created); the second
 * allocates and creates the ops. */
typedef struct {
    arena *a;
    int training;
    int measure;       /* 1: only count bytes and flops */
    double flops;      /* forward FLOPs of the planned batch (convolutions) */
    double norm_elems; /* elements the normalisation layers see (model_flops' unfused count) */
    size_t scratch;    /* floats of the largest shared scratch a module needs */
} plan_ctx;

float *plan_floats(plan_ctx *pc, size_t n);

/* ------------------------------------------------------------------------ */
/* The Conv block: conv2d (no bias) -> norm (BN or GN) -> SiLU, as
 * Ultralytics' Conv; or, with norm = 0 and act = 0, a plain conv2d with bias
 * (the last convolution of each Detect branch). */
typedef struct {
    int c1, c2, k, s, p, g, d;
    int norm; /* 1: BN/GN after the conv (no conv bias); 0: conv bias */
    int act;  /* 1: SiLU */
    norm_kind nk;
    int gn_groups;
    size_t w_off, b_off, gamma_off, beta_off; /* in params */
    size_t rm_off, rv_off;                    /* in bufs (BN) */
    /* plan */
    int n, h, w, oh, ow;
    double flops;      /* forward FLOPs of the planned convolution (profiling) */
    conv2d_op conv;
    bn_op bn;
    gn_op gn;
    silu_op silu;
    int have_ops;
    int fused;         /* BN/SyncBN + SiLU through bnsilu_cpu_* (no norm_out, no bn/silu ops) */
    int folded;        /* eval plan of a fused block: BN folded into the conv, SiLU as post-op */
    float *wf;         /* folded: the weights, then the bias (plan buffer) */
    unsigned wgen;     /* the static_gen wf and the conv's reordered weights are from (0: none) */
    float *conv_out, *norm_out, *y;
    float *mean, *var; /* BN: batch mean/var; GN: mean/rstd per (n, group) */
    double *sync_work; /* SyncBN: syncbn_workspace doubles (training plans) */
} convblock;

/* Registers the block's parameters under `prefix` ("model.0", "model.2.cv1",
 * "model.22.cv2.0.2"): conv.weight + bn.* for a normed block, weight + bias
 * for a plain one. */
status convblock_build(convblock *cb, model *m, int layer, const char *prefix, int c1, int c2,
                       int k, int s, int p, int g, int d, int norm, int act);
status convblock_plan(convblock *cb, model *m, plan_ctx *pc, int n, int h, int w);
status convblock_forward(convblock *cb, model *m, const float *x);
/* dx may be NULL (the input needs no gradient). */
status convblock_backward(convblock *cb, model *m, const float *x, const float *dy, float *dx,
                          float beta_dx);
void convblock_release(convblock *cb);
static inline size_t convblock_out_size(const convblock *cb) {
    return (size_t)cb->n * cb->oh * cb->ow * cb->c2;
}

/* ------------------------------------------------------------------------ */
/* Blocks below the module level (nn/blocks.c), registered under a prefix
 * ("model.2.m.0").
 *
 * Bottleneck(c1, c2, shortcut, g, k=(k1, k2), e): c_ = int(c2*e);
 * cv1 = Conv(c1, c_, k1), cv2 = Conv(c_, c2, k2, g), plus the input when
 * shortcut and c1 == c2. C2f uses k (3, 3), e 1; C3 k (1, 3), e 1; C3k2's
 * own Bottleneck k (3, 3), e 0.5; C3k k (3, 3), e 1. Its backward needs a
 * scratch d_mid of the hidden activation's size. */
typedef struct {
    convblock cv1, cv2;
    int add;
    float *y; /* output: cv2.y, or its own buffer when add */
} bottleneck;
status bottleneck_build(bottleneck *b, model *m, int layer, const char *prefix, int c1, int c2, int shortcut, int g,
                        int k1, int k2, float e);
status bottleneck_plan(bottleneck *b, model *m, plan_ctx *pc, int n, int h, int w);
status bottleneck_forward(bottleneck *b, model *m, const float *x);
status bottleneck_backward(bottleneck *b, model *m, const float *x, const float *dy, float *dx, float beta_dx,
                           float *d_mid);
void bottleneck_release(bottleneck *b);

/* The C3 core (YOLOv5's C3; YOLO11's C3k with k1 = 3):
 * C3(c1, c2, n, shortcut, g, e): c_ = int(c2*e); cv1 = Conv(c1, c_, 1),
 * cv2 = Conv(c1, c_, 1), m = n Bottleneck(c_, c_, shortcut, g, k=(k1, 3),
 * e=1) chained on cv1's output, cv3 = Conv(2c_, c2, 1) over
 * cat(m(cv1(x)), cv2(x)). Output: cv3.y. NHWC channel slices are not views
 * for oneDNN, so the concat and its gradient split are channel copies. */
typedef struct {
    int c, n;
    convblock cv1, cv2, cv3;
    bottleneck *m;
    /* plan */
    size_t npix;
    float *cat;    /* [npix, 2c]: m's output, then cv2's */
    float *d_cat;  /* gradient of cat */
    float *d_c2;   /* contiguous gradient of cv2's output */
    float *d_mid;  /* gradient of a bottleneck's inner activation */
    float *d_t[2]; /* ping-pong: gradients of the chain's activations */
} csp3;
status csp3_build(csp3 *C, model *m, int layer, const char *prefix, int c1, int c2, int n, int shortcut, int g,
                  float e, int k1);
status csp3_plan(csp3 *C, model *m, plan_ctx *pc, int n, int h, int w);
status csp3_forward(csp3 *C, model *m, const float *x);
status csp3_backward(csp3 *C, model *m, const float *x, const float *dy, float *dx, float beta_dx);
void csp3_release(csp3 *C);
void csp3_destroy(csp3 *C); /* frees what build allocated */

/* ------------------------------------------------------------------------ */
/* A model layer: one module instance behind a small table of functions. */
typedef struct nn_layer nn_layer;
struct nn_module_vt {
    /* Registers parameters and allocates the module's private state. */
    status (*build)(nn_layer *L, model *m, const layer_spec *ls);
    /* Given the input shapes (L->in_h/in_w), sets the output shape, creates
     * ops and takes buffers (L->y for the output). */
    status (*plan)(nn_layer *L, model *m, plan_ctx *pc);
    status (*forward)(nn_layer *L, model *m, const float *const *x);
    /* dy: gradient of the output; dx[i]: where input i's gradient goes
     * (NULL = not needed), beta[i]: 0 overwrite / 1 accumulate. */
    status (*backward)(nn_layer *L, model *m, const float *const *x, const float *dy, float *const *dx,
                       const float *beta);
    void (*release)(nn_layer *L); /* frees what plan created */
    void (*destroy)(nn_layer *L); /* frees what build created */
    /* After the parameters are (re-)initialised from the seed: the module's
     * own initialisation on top (the heads' biases, DFL weights, anchors);
     * NULL: none. */
    void (*init_params)(nn_layer *L, model *m);
};

struct nn_layer {
    const layer_spec *spec;
    const nn_module_vt *vt;
    void *impl;
    int n;                         /* batch */
    int in_h[SPEC_MAX_FROM], in_w[SPEC_MAX_FROM], in_c[SPEC_MAX_FROM];
    int h, w, c;                   /* output */
    float *y;                      /* output activation (NHWC) */
    float *dy;                     /* gradient of the output (training plans) */
    size_t nparams;                /* parameter count (for `yoloc info`) */
};


/* Detect's helpers shared with YOLOv5's head (nn/detect.c): the planner's
 * convolution input and the `yoloc info` arguments string. */
size_t detect_conv_input(const model_spec *s, const layer_spec *l, int imgsz);
void detect_args_str(layer_spec *L, const char *what);
/* The blocks' ONNX export (nn/blocks.c), for their modules'. */
status bottleneck_onnx(onnx_exporter *e, int i, const char *prefix, const char *scope, const char *x, int c1, int c2,
                       int shortcut, int g, int k1, int k2, float ex, const char **y);
status csp3_onnx(onnx_exporter *e, int i, const char *prefix, const char *scope, const char *x, int c1, int c2, int n,
                 int shortcut, int g, float ex, int k1, const char **y);

/* The heads' hooks the model calls besides the table (model.c). raw_output: the raw head of the
 * last forward; v5: the anchor sizes [nl, na, 2] in grid units (in bufs)
 * and the ONNX-style decoded output [B, A, 5+nc] of the last eval forward
 * (NULL in training plans). */
const float *detect_raw_output(const nn_layer *L);
const float *detect_v5_raw_output(const nn_layer *L);
const float *detect_v5_anchors(const nn_layer *L, const model *m);
const float *detect_v5_decoded(const nn_layer *L);

/* ------------------------------------------------------------------------ */
/* Parameter registration (model.c). Returns the offset (floats) in params
 * or bufs; *out_off set; errors only on allocation failure. */
status model_add_param(model *m, int layer, const char *name, int ndim, const int64_t *shape,
                       param_group group, size_t *out_off);
status model_add_buffer(model *m, int layer, const char *name, int ndim, const int64_t *shape,
                        size_t *out_off);

/* What modules need from the model while running. */
struct model {
    model_spec spec;
    model_options opt;
    void *bectx; /* the backend's context (backend_ctx_create) */

    size_t ntensors, tensors_cap;
    param_info *tensors;
    size_t nparam_floats, nbuf_floats;
    float *params, *grads, *bufs;
    int64_t bn_batches;

    nn_layer layers[SPEC_MAX_LAYERS];
    int nlayers;

    /* Current plan. */
    int planned, plan_n, plan_h, plan_w, plan_training;
    arena act;               /* over act_mem, the backend's memory */
    void *act_mem;
    float *input;            /* NHWC copy of the input */
    /* staging for a backend without host memory (NULL otherwise): the NHWC
     * input, the raw head and its gradient on the host side, and the
     * gradient on the backend side */
    float *input_host, *raw_host, *out_host;
    float *head_grad; /* training plans: the loss's gradient of the raw head (backend memory) */
    float *scratch[2];       /* shared by Conv blocks in backward / eval */
    size_t scratch_floats;
    const float *out;        /* the model's output for this plan */
    int out_channels;
    int training_forward_done;
    char *grad_seen;         /* per layer: output gradient written this backward */

    /* bytes across the host/backend boundary since model_traffic_reset */
    uint64_t traffic_to_backend, traffic_to_host;

    ops_reducer reducer;          /* SyncBN */
    int bn_frozen;                /* model_set_bn_frozen */
    float bn_momentum;            /* model_set_bn_momentum (MODEL_BN_MOMENTUM) */
    unsigned static_gen;          /* model_set_static_weights: 0 off, else this promise's number */
    unsigned gen_counter;
    void (*bwd_hook)(void *ctx, int layer);
    void *bwd_hook_ctx;

    /* Detect geometry of the plan (na: anchors per cell, 0 for the
     * anchor-free head; `anchors` counts output rows, na*H*W per level). */
    int nc, reg_max, nlevels, anchors, na;
    int strides[SPEC_MAX_LEVELS], level_h[SPEC_MAX_LEVELS], level_w[SPEC_MAX_LEVELS];

    /* Profiling (model_profile_enable): counters per layer, NULL when off;
     * prof_layer is the layer now running forward or backward. */
    layer_prof *prof;
    int prof_layer;
};

/* The running layer's profile counters, NULL when profiling is off. */
static inline layer_prof *nn_prof(model *m) { return m->prof ? &m->prof[m->prof_layer] : NULL; }
/* Profiling: adds the time since *t to counter `acc` of lp and restarts *t. */
#define NN_PROF_LAP(lp, acc, t)                                                  \
    do {                                                                         \
        if (lp) {                                                                \
            double now_ = time_now();                                            \
            (lp)->acc += now_ - (t);                                             \
            (t) = now_;                                                          \
        }                                                                        \
    } while (0)

static inline float *P(model *m, size_t off) { return m->params + off; }
static inline float *G(model *m, size_t off) { return m->grads + off; }
static inline float *B(model *m, size_t off) { return m->bufs + off; }

#endif
