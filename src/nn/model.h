/* Models: a spec built into layers, parameters in one flat buffer, planned
 * for an input shape, run forward (train or eval) and backward.
 *
 * Parameters live in ONE float buffer (`params`), their gradients in a second
 * of the same layout (`grads`), BatchNorm running statistics in a third
 * (`bufs`). Each tensor has its PyTorch state_dict name
 * (`model.4.m.0.cv1.conv.weight`), so weights move to and from PyTorch.
 * Activations (NHWC) are planned once per (batch, height, width, mode) into
 * one arena; backward reuses it. The memory a plan needs is therefore known
 * before it is allocated (model_plan_bytes).
 *
 * Inputs are NCHW float32 images in [0, 1] (as loaders and PyTorch give
 * them). Outputs are anchor-major:
 *   training: the raw head [B, A, 4*reg_max + nc] (DFL logits, side-major
 *             l,t,r,b x 16 bins, then class logits);
 *   eval:     decoded [B, A, 4 + nc]: box (cx, cy, w, h) in input pixels and
 *             class scores after sigmoid.
 * Anchors are ordered level by level (strides 8, 16, 32), row-major within
 * a level. Ultralytics returns the transpose [B, C, A]; `yoloc forward`
 * writes that layout.
 *
 * YOLOv5 (anchor-based Detect, model_na() > 0 anchors per cell): rows go
 * level by level, within a level anchor by anchor, within an anchor
 * row-major (row = a0[level] + (a*H + y)*W + x), as YOLOv5's Detect
 * concatenates them; A = sum of na*H*W. Outputs:
 *   training: the raw head [B, A, 5 + nc] (x, y, w, h, objectness, class
 *             logits, before the sigmoid);
 *   eval:     decoded [B, A, 4 + nc]: (cx, cy, w, h) in input pixels and
 *             class scores = objectness x class probability (the
 *             confidence YOLOv5's NMS ranks), so validation and NMS are
 *             shared with YOLOv8; model_v5_decoded() has YOLOv5's own
 *             [B, A, 5 + nc] (box, objectness, class probabilities), the
 *             output of its ONNX export. */
#ifndef YOLOC_NN_MODEL_H
#define YOLOC_NN_MODEL_H

#include "core/arena.h"
#include "core/status.h"
#include "nn/spec.h"
#include "ops/ops.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Parameter groups, in the order results.csv/steps.csv use (pg0, pg1, pg2). */
typedef enum { PG_BIAS = 0, PG_WEIGHT = 1, PG_NORM = 2, PG_FROZEN = 3 } param_group;

typedef struct {
    char name[96];
    int ndim;
    int64_t shape[4];
    size_t off;   /* floats into params/grads (or bufs for buffers) */
    size_t numel;
    int group;    /* param_group (parameters only); PG_FROZEN once frozen */
    int group0;   /* the group at registration (initialisation reads this) */
    int buffer;   /* 1: a BatchNorm running statistic in `bufs` */
    int layer;    /* model layer index */
} param_info;

typedef struct model model;

/* NORM_SYNCBN: BatchNorm whose training statistics are reduced across
 * processes through the model's reducer (model_set_reducer); eval plans use
 * the running statistics like BatchNorm. Same tensors and names as BN. */
typedef enum { NORM_BN = 0, NORM_GN = 1, NORM_SYNCBN = 2 } norm_kind;

typedef struct {
    backend be;      /* the backend (ops/backend.h); NULL: backend_default(), cpu */
    norm_kind norm;  /* BatchNorm (default) or GroupNorm */
    int gn_groups;   /* GroupNorm groups (largest divisor of c <= this; default 32) */
    int bf16;        /* 1: convolutions in bf16 mixed precision (conv2d_desc.bf16; the rest
                        of the model, its parameters and gradients stay fp32). Set from
                        amp= through ops_amp_bf16 */
} model_options;

/* Builds a model from a spec (copied): registers every parameter, allocates
 * the flat buffers and initialises them like PyTorch/Ultralytics with the
 * given seed (uniform(+-1/sqrt(fan_in)) convolutions, BN weight 1 bias 0,
 * running var 1, the Detect bias initialisation). */
status model_create(model **out, const model_spec *spec, const model_options *opt, uint64_t seed);
void model_free(model *m);
/* Re-initialises all parameters and buffers from a seed. */
status model_init_params(model *m, uint64_t seed);

/* Plans activations for [batch, 3, h, w] inputs (h, w multiples of the
 * largest stride). training=1 keeps what backward needs. A no-op when the
 * plan already matches. */
status model_plan(model *m, int batch, int h, int w, int training);
/* Bytes of activation memory a plan would take (no allocation). */
status model_plan_bytes(model *m, int batch, int h, int w, int training, size_t *bytes);
/* Forward FLOPs (2 per multiply-add of every convolution) of one image:
 * Ultralytics' count of the model with BatchNorm folded (its "fused"
 * summary). unfused (NULL: not wanted): as Ultralytics counts the model
 * before folding (thop: 4 multiply-adds per normalised element on top). The
 * attention's products are not counted (thop counts modules, not matmul). */
status model_flops(model *m, int h, int w, double *flops, double *unfused);

/* Runs forward on input [batch, 3, h, w] (NCHW, host memory); the plan
 * must match. Returns the output (owned by the model, valid until the next
 * call), in the backend's memory: read it in place on a host-memory
 * backend, else through model_to_host. */
status model_forward(model *m, const float *input, const float **out);
/* Backward of the last training forward: dout, in the backend's memory
 * (normally model_head_grad's buffer, where the loss writes), has the raw
 * head's shape [B, A, no]. Parameter gradients ACCUMULATE into m->grads
 * (zero them with model_zero_grad before a new accumulation). */
status model_backward(model *m, const float *dout);
/* The training plan's buffer for the head's gradient [B, A, no], in the
 * backend's memory (NULL outside training plans). */
float *model_head_grad(model *m);
/* model_backward from a gradient in host memory: copied into
 * model_head_grad's buffer first (counted as traffic to the backend). */
status model_backward_host(model *m, const float *dout_host);
/* The raw head [B, A, 4*reg_max + nc] (v5: [B, A, 5 + nc]) of the last
 * forward, in training and eval plans (eval: for validation losses). NULL
 * when not planned. */
const float *model_raw_output(const model *m);
/* The same, readable on the host: in place on a host-memory backend, else
 * copied into the plan's host staging (valid until the next call). Counted
 * as traffic to the host. */
status model_raw_output_host(const model *m, const float **out);
/* The last forward's output (model_forward's *out: [B, A, 4 + nc] in eval
 * plans), readable on the host the same way (validation, prediction). */
status model_output_host(const model *m, const float **out);
/* Copies n floats between the host and the model's backend memory (src/dst
 * a pointer into the model's parameters, gradients, buffers or
 * activations, e.g. model_forward's *out). */
status model_to_host(const model *m, float *dst_host, const float *src, size_t n);
status model_from_host(const model *m, float *dst, const float *src_host, size_t n);
/* A host-readable view of n floats of the model's backend memory (weight
 * files, checkpoints): src itself on a host-memory backend (*owned = 0),
 * else a malloc'd copy (*owned = 1; free it with model_host_view_free). */
status model_host_view(const model *m, const float *src, size_t n, float **out, int *owned);
void model_host_view_free(float *view, int owned);
/* Its channels: 4*reg_max + nc (v8), 5 + nc (v5). */
int model_raw_channels(const model *m);
/* YOLOv5 only (NULL otherwise): the decoded [B, A, 5 + nc] of the last eval
 * forward (NULL in training plans), as YOLOv5's ONNX export outputs it:
 * xy = (2 sigmoid - 0.5 + cell) * stride, wh = (2 sigmoid)^2 * anchor
 * pixels, objectness and class probabilities after the sigmoid. */
const float *model_v5_decoded(const model *m);
/* YOLOv5 only (NULL otherwise): the anchor sizes [nlevels, na, 2] (w, h)
 * in grid units of their level (pixels / stride), the `model.N.anchors`
 * buffer as YOLOv5 stores it (loaded weights bring their own). */
const float *model_anchor_sizes(const model *m);
/* The same copied to the host: dst holds SPEC_MAX_LEVELS * SPEC_MAX_ANCHORS
 * * 2 floats; nlevels * na * 2 are written. */
status model_anchor_sizes_host(const model *m, float *dst);
/* Anchors per cell of an anchor-based (v5) head; 0 for the v8 head. */
int model_na(const model *m);
/* Freezes the parameters of layers 0..k-1 (Ultralytics' freeze=k): their
 * group becomes PG_FROZEN, which the optimizer skips (no update, no decay;
 * call before optim_init). Backward still computes their gradients and
 * BatchNorm still updates its running statistics, as in PyTorch. Returns
 * the number of tensors newly frozen. */
size_t model_freeze_layers(model *m, int k);
status model_zero_grad(model *m);
/* The reduction SyncBatchNorm layers use (sum in place across processes). */
void model_set_reducer(model *m, ops_reducer r);
/* on = 1: training forwards normalise BatchNorm layers with their running
 * statistics, which stay as they are, and backward treats them as
 * constants, so every image's gradient is independent of the others in its
 * batch (the gradient-noise probe of `yoloc plan noise=True`). Needs the
 * cpu backend (a training forward of a reference-backend BatchNorm fails,
 * saying so); GroupNorm layers are unaffected. */
void model_set_bn_frozen(model *m, int on);
/* The BatchNorm momentum of training forwards: running = (1 - momentum) x
 * running + momentum x the batch statistic (the variance unbiased).
 * MODEL_BN_MOMENTUM (Ultralytics' 0.03) unless set; a value outside (0, 1]
 * restores it. Precise statistics (train/bnstats.h) set 1/(k+1) at the k-th
 * batch, which makes the running values the mean over the batches seen. */
#define MODEL_BN_MOMENTUM 0.03f
void model_set_bn_momentum(model *m, double momentum);
double model_bn_momentum(const model *m);
/* on = 1 promises that the parameters and buffers will not change until
 * the next call (inference: predict, validation): eval plans then fold
 * BatchNorm into the convolutions and reorder their weights once instead of
 * at every forward. on = 0 (the default) withdraws the promise; the next
 * forward redoes both. */
void model_set_static_weights(model *m, int on);
/* Called after each layer's backward (layer index, in decreasing order),
 * e.g. to start all-reducing the gradients that are final; NULL: none. */
void model_set_backward_hook(model *m, void (*fn)(void *ctx, int layer), void *ctx);
/* The range [*lo, *hi) of the flat parameter buffer holding layer i's
 * parameters (empty when it has none). */
void model_layer_param_range(const model *m, int layer, size_t *lo, size_t *hi);

/* Accessors. */
const model_spec *model_get_spec(const model *m);
size_t model_num_tensors(const model *m); /* parameters + buffers */
const param_info *model_tensor(const model *m, size_t i);
const param_info *model_find(const model *m, const char *name);
/* Pointer to a tensor's data (params or bufs). */
float *model_tensor_data(model *m, const param_info *p);
float *model_tensor_grad(model *m, const param_info *p); /* NULL for buffers */
float *model_params(model *m);
float *model_grads(model *m);
float *model_bufs(model *m);
size_t model_num_params(const model *m); /* floats in params (all parameters) */
size_t model_num_bufs(const model *m);
/* Number of batches BatchNorm has been trained on (num_batches_tracked). */
int64_t model_bn_batches(const model *m);
void model_set_bn_batches(model *m, int64_t n);
int model_nc(const model *m);
int model_reg_max(const model *m);
int model_nlevels(const model *m);
int model_stride(const model *m, int level);
/* Anchors and level sizes of the current plan. */
int model_anchors(const model *m);
void model_level_shape(const model *m, int level, int *h, int *w);
/* Output channels of the current plan's output (4*reg_max+nc or 4+nc). */
int model_out_channels(const model *m);
int model_planned_batch(const model *m);
backend model_backend(const model *m);
/* What crosses between the host and the model's backend: the input batch
 * (model_forward) and the loss's targets into it (model_note_to_backend),
 * and what the host reads of it (model_note_to_host: the loss's scalars,
 * the eval output).
 * Copies on a backend with its own memory; reads and writes in place on a
 * host-memory backend (ref, cpu), counted the same. yoloc bench reports it
 * per step. */
typedef struct {
    uint64_t to_backend, to_host;
} model_traffic;
void model_traffic_get(const model *m, model_traffic *out);
void model_traffic_reset(model *m);
void model_note_to_host(const model *m, size_t bytes);
void model_note_to_backend(const model *m, size_t bytes);
/* Its context (ops/backend.h), for buffers that live beside the model's
 * (optimizer state, EMA, snapshots). */
void *model_backend_ctx(const model *m);

/* Prints the layer table (from, repeats, params, module, arguments, output
 * shape at imgsz), then totals with GFLOPs at imgsz. */
status model_print_info(model *m, FILE *f, int imgsz);

/* Profiling (`yoloc bench`). While on, model_forward and model_backward
 * time each layer's call, and the Conv blocks time their convolution,
 * normalisation and activation kernels (wall time; every kernel returns
 * once its work is done) and count the convolution FLOPs: 2 per
 * multiply-add; in backward the weight gradient, plus the data gradient
 * where the layer's input needs one, each as many FLOPs as the forward.
 * Off (the default), nothing is timed. Counters add up over calls until
 * model_profile_reset; index [0] is forward, [1] backward. */
typedef struct {
    double fwd_s, bwd_s;   /* the layer's forward / backward call */
    double conv_s[2];      /* of which in convolutions */
    double norm_s[2];      /* in BatchNorm / GroupNorm */
    double act_s[2];       /* in SiLU */
    double conv_flops[2];  /* FLOPs of those convolutions */
    long calls[2];
} layer_prof;

/* on = 1 allocates zeroed counters (or keeps existing ones); 0 frees them. */
status model_profile_enable(model *m, int on);
void model_profile_reset(model *m);
/* One entry per layer (model_get_spec(m)->nlayers); NULL when off. */
const layer_prof *model_profile(const model *m);

#endif
