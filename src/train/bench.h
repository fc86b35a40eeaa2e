/* `yoloc bench`: where a training step's time goes, on a fixed synthetic
 * batch (random images in [0, 1], random boxes as targets; no loader, no
 * augmentation), so that the figures are those of the model, the loss and
 * the optimizer alone and compare with other frameworks
 * (tools/bench_torch.py, bench/compare.sh).
 *
 * Measured, each as the median over `reps` repeats after one warm-up:
 *   - the full training step as the trainer runs it with accumulate = 1:
 *     model_plan (a no-op once planned), zero gradients, training forward,
 *     the detection loss and its gradient (train/detloss.h), backward, the
 *     step's gradient scaling, norm and clipping (max_norm), the optimizer
 *     step (train/optim.h) and the EMA update (train/ema.h); and each of
 *     these phases;
 *   - the eval forward at the same batch (running BatchNorm statistics);
 *   - the predict latency: one eval forward of one image at imgsz, as
 *     `yoloc predict` runs the model (letterbox and NMS not included), the
 *     median of max(reps, 10) runs.
 * Means over the timed repeats (model profiling, nn/model.h): per layer
 * forward and backward time, convolution FLOPs and GFLOP/s; the step's time
 * by kind (convolutions, normalisation, activation, Concat and Upsample
 * layers, the other work inside modules, loss, optimizer, EMA).
 * Peak RSS: the process's VmHWM at the end. The FP32 FMA peak of the CPU on
 * the same threads (ops_fp32_peak_gflops), measured before the model runs,
 * and the convolutions' share of it.
 *
 * On the cpu backend the eval forward (and predict) folds BatchNorm into
 * the convolutions and runs SiLU as their post-op (bench_result.bn_folded
 * is 1), as PyTorch's model.fuse() folds it; training runs BatchNorm+SiLU
 * as one fused kernel, whose time is counted as normalisation. */
#ifndef YOLOC_TRAIN_BENCH_H
#define YOLOC_TRAIN_BENCH_H

#include "core/status.h"
#include "nn/model.h"
#include "train/detloss.h"
#include "train/optim.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Random boxes per image of the synthetic batch (tools/bench_torch.py uses
 * the same). */
#define BENCH_TARGETS_PER_IMAGE 10
/* Layers of the per-layer table (the slowest first). */
#define BENCH_TOP_LAYERS 10

typedef struct {
    const char *model;   /* model YAML (built-in or file) or .safetensors */
    const char *weights; /* optional weights loaded into it (NULL/empty: seeded init) */
    int imgsz, batch;    /* batch >= 1 */
    int reps;            /* timed repeats (>= 1) after one warm-up */
    uint64_t seed;       /* weights, images and boxes */
    model_options mopt;
    optim_kind optimizer;
    double lr, momentum, weight_decay; /* weight decay of pg1 only, as the trainer */
    double max_norm;     /* 0: no clipping */
    int nbs;             /* the trainer's gradient normalisation (nbs x the step) */
    detloss_cfg loss;    /* gains and label smoothing (the train keys box, cls, dfl) */
    int box_given, cls_given; /* 0: a YOLOv5 head takes its own default box/cls gains,
                                 as the trainer does */
    int amp_requested;   /* amp=True was given (mopt.bf16 says what runs: precision_resolve) */
} bench_options;

/* One layer's means per training step. */
typedef struct {
    int index;
    const char *module;  /* static name ("C2f") */
    double fwd_s, bwd_s; /* the layer's forward and backward */
    double conv_s;       /* of which in convolutions (forward + backward) */
    double conv_flops;   /* convolution FLOPs (forward + backward) */
} bench_layer;

/* Time of one training step by kind (means, seconds). */
typedef struct {
    double conv_fwd, conv_bwd; /* convolutions */
    double norm;               /* BatchNorm / GroupNorm, forward + backward (with SiLU where fused) */
    double act;                /* SiLU, forward + backward */
    double concat;             /* Concat layers */
    double upsample;           /* Upsample layers */
    double module_other;       /* other work inside modules: channel split/concat copies of
                                  C2f/C3/SPPF, max-pooling, residual adds, the Detect output */
    double model_other;        /* model_forward/backward outside the layers (NCHW -> NHWC input) */
    double loss, optim, ema;   /* loss + its gradient; scaling, norm, clipping and the
                                  optimizer step; EMA */
    double rest;               /* the step minus all of the above (zeroing gradients, timing) */
} bench_kinds;

typedef struct {
    /* what ran */
    char model[256];
    int imgsz, batch, reps, threads;
    int amp_requested;
    const char *dtype;         /* "bf16" (convolutions, amp) or "fp32" */
    char cpu_line[320];        /* precision_describe: CPU, oneDNN isa, yoloc kernels' isa, precision */
    int bn_folded;             /* 1: BatchNorm folded in the eval forward (cpu backend) */
    size_t params;             /* trainable + frozen parameters */
    double model_gflops;       /* forward GFLOPs of one image at imgsz */
    size_t train_act_bytes;    /* activation arena of the training plan */
    /* bytes across the host/backend boundary per training step (model_traffic) */
    double to_backend_bytes, to_host_bytes;
    int host_memory;           /* the backend's memory is host memory (the traffic is in place) */
    const char *backend_name;
    char optimizer[128];
    /* medians (seconds) */
    double step_s, fwd_s, loss_s, bwd_s, optim_s, ema_s;
    double train_img_s;        /* batch / step_s */
    double eval_s, eval_img_s; /* eval forward at the batch */
    double eval_gflops;        /* model_gflops x batch / eval_s */
    double predict_ms;         /* batch 1, eval */
    /* means over the timed repeats */
    double step_mean_s;
    bench_kinds kinds;
    double conv_flops_fwd, conv_flops_bwd; /* per step */
    double conv_gflops;        /* (forward + backward conv FLOPs) / their time */
    double conv_fwd_gflops, conv_bwd_gflops;
    double non_conv_share;     /* 1 - convolution time / step time (means) */
    int nlayers;
    bench_layer layers[SPEC_MAX_LAYERS]; /* sorted, slowest (fwd + bwd) first */
    size_t peak_rss;           /* bytes (VmHWM), 0 when unknown */
    double fp32_peak_gflops;   /* measured FMA peak on `threads` threads (ops_fp32_peak_gflops) */
    const char *peak_isa;      /* the instructions of that measurement */
    double conv_peak_share;    /* conv_gflops / fp32_peak_gflops */
} bench_result;

/* Runs the benchmark (prints nothing). Errors name the model or the phase
 * that failed. */
status bench_run(const bench_options *o, bench_result *r);
/* The report: the summary, the top `top` layers and the time by kind. */
void bench_print(const bench_result *r, FILE *f, int top);
/* Writes the result as JSON (atomically): step_s, train_img_s, predict_ms,
 * peak_rss_mb, conv_gflops, non_conv_share and the details. */
status bench_write_json(const bench_result *r, const char *path);


#endif
