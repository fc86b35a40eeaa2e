/* Numerical kernels, each with forward and backward, in two implementations:
 *   ops/ref/  plain single-threaded C, the oracle kept forever;
 *   ops/cpu/  the fast path: oneDNN where it has the primitive, OpenMP +
 *             vectorisable C where that is enough.
 * behind one interface (ops/backend.h: a table of functions per backend),
 * and a small dispatcher (ops/ops.c, ops/conv2d.c) so that nn/ calls one API
 * per op and picks the backend once, when a layer is planned.
 *
 * Layout: activations are NHWC float32, contiguous ([n][h][w][c], channel
 * fastest). On this project's CPUs oneDNN's jit convolutions run on NHWC at
 * nearly the speed of its blocked formats (no per-layer reorder), while
 * strided channel views fall back to its slow reference kernels; so concat
 * and split copy channels (chcopy) instead of aliasing.
 * Convolution weights are PyTorch's OIHW ([co][ci/groups][kh][kw]), biases
 * [co]; normalisation parameters are [c].
 *
 * Backward conventions (same in both backends):
 *   - parameter gradients (dw, db, dgamma, dbeta) ACCUMULATE (+=);
 *   - the input gradient dx is dx = beta_dx * dx + grad with beta_dx 0
 *     (overwrite: the caller knows dx holds nothing yet) or 1 (accumulate:
 *     the tensor feeds several consumers);
 *   - any gradient pointer may be NULL: that gradient is not computed.
 * Kernels never allocate in forward/backward: plans allocate what they need
 * when created; oneDNN scratch comes from the shared cpu_ctx buffer.
 * Forward/backward functions return YOLOC_OK or YOLOC_ERR_BACKEND (oneDNN
 * failure, message set). */
#ifndef YOLOC_OPS_H
#define YOLOC_OPS_H

#include "core/status.h"

#include <stddef.h>
#include <stdint.h>

/* A backend: a table of functions (ops/backend.h), one folder per backend
 * (ops/ref/, ops/cpu/), chosen once per model. */
typedef struct ops_backend ops_backend;
typedef const ops_backend *backend;

/* "ref" / "cpu" ("none" for NULL). */
const char *backend_name(backend be);
/* The backend built in under this name ("onednn" also names cpu); NULL when
 * there is none. */
backend backend_find(const char *name);

/* ------------------------------------------------------------------------ */
/* The oneDNN context: engine, stream and a scratch buffer shared by every
 * plan made with it (plans run one at a time). Grown by plan creation, never
 * during forward/backward. */
typedef struct cpu_ctx cpu_ctx;
status cpu_ctx_create(cpu_ctx **out);
void cpu_ctx_free(cpu_ctx *ctx);
/* Ensures the shared scratch buffer holds at least `bytes`. */
status cpu_ctx_reserve_scratch(cpu_ctx *ctx, size_t bytes);
/* Number of OpenMP threads used by kernels (0 = leave as is). */
void ops_set_threads(int n);
int ops_get_threads(void);

/* ------------------------------------------------------------------------ */
/* conv2d: y[n,oh,ow,co] = sum x[n, ih, iw, g*cig + ci] * w[co, ci, ky, kx] + b[co]
 * with ih = oy*sh - ph + ky*dh, iw = ox*sw - pw + kx*dw (zero padding). */
typedef struct {
    int n, h, w, ci; /* input NHWC */
    int co;          /* output channels */
    int kh, kw;      /* kernel */
    int sh, sw;      /* stride */
    int ph, pw;      /* zero padding on both sides */
    int dh, dw;      /* dilation, 1 = none */
    int groups;      /* ci % groups == 0 and co % groups == 0 */
    int bias;        /* 1: a bias vector of co values */
    int act;         /* 1: SiLU applied to the output (inference only: the Conv block with
                        BatchNorm folded into the weights and bias); 0: none */
    int bf16;        /* 1: bf16 mixed precision (amp): x, w and dy are rounded to bf16
                        (nearest even) and multiplied with fp32 accumulation; y, dx, dw,
                        db, the bias and the caller's arrays stay fp32. 0: fp32 */
} conv2d_desc;

int conv2d_out_h(const conv2d_desc *d);
int conv2d_out_w(const conv2d_desc *d);
/* Checks sizes (positive, divisible groups, output >= 1): YOLOC_ERR_SHAPE
 * with a message otherwise. */
status conv2d_desc_check(const conv2d_desc *d);
/* Forward FLOPs (2 per multiply-add; the bias add is not counted). */
double conv2d_flops(const conv2d_desc *d);

void conv2d_ref_forward(const conv2d_desc *d, const float *x, const float *w, const float *b,
                        float *y);
void conv2d_ref_backward(const conv2d_desc *d, const float *x, const float *w, const float *dy,
                         float *dx, float beta_dx, float *dw, float *db);

typedef struct conv2d_cpu conv2d_cpu;
/* training = 0 creates only the forward (inference) primitive. */
status conv2d_cpu_create(conv2d_cpu **out, cpu_ctx *ctx, const conv2d_desc *d, int training);
status conv2d_cpu_forward(conv2d_cpu *p, const float *x, const float *w, const float *b, float *y);
/* weights_unchanged = 1: w holds what it held at the previous call with the
 * same pointer, so the weights reorder of that call is reused. */
status conv2d_cpu_forward_ex(conv2d_cpu *p, const float *x, const float *w, const float *b, float *y,
                             int weights_unchanged);
status conv2d_cpu_backward(conv2d_cpu *p, const float *x, const float *w, const float *dy,
                           float *dx, float beta_dx, float *dw, float *db);
void conv2d_cpu_free(conv2d_cpu *p);

/* ------------------------------------------------------------------------ */
/* Batch normalisation over (n, h, w) per channel, PyTorch semantics:
 * normalise with the biased batch variance; running_mean/var updated as
 * r = (1 - momentum) * r + momentum * batch_stat, the variance unbiased
 * (times m/(m-1), m = n*h*w). yoloc's defaults: eps 1e-3, momentum 0.03. */
typedef struct {
    int n, h, w, c;
    float eps;
    float momentum;
} bn_desc;

/* save_mean/save_var [c] receive the batch mean and biased variance (for
 * backward). running_* may be NULL (no update). */
void bn_ref_forward_train(const bn_desc *d, const float *x, const float *gamma, const float *beta,
                          float *y, float *save_mean, float *save_var, float *running_mean,
                          float *running_var);
void bn_ref_forward_eval(const bn_desc *d, const float *x, const float *gamma, const float *beta,
                         const float *running_mean, const float *running_var, float *y);
/* Backward of the training forward (batch statistics). */
void bn_ref_backward(const bn_desc *d, const float *x, const float *gamma, const float *save_mean,
                     const float *save_var, const float *dy, float *dx, float beta_dx,
                     float *dgamma, float *dbeta);

/* Backward with the running statistics as constants (frozen statistics,
 * the noise-scale probe; the forward is bn_*_forward_eval): with rstd =
 * 1/sqrt(running_var + eps) and xhat = (x - running_mean) rstd,
 * dx = beta_dx dx + gamma rstd dy, dgamma += sum dy xhat, dbeta += sum dy. */
void bn_ref_backward_frozen(const bn_desc *d, const float *x, const float *gamma, const float *running_mean,
                            const float *running_var, const float *dy, float *dx, float beta_dx, float *dgamma,
                            float *dbeta);

typedef struct bn_cpu bn_cpu;
status bn_cpu_create(bn_cpu **out, cpu_ctx *ctx, const bn_desc *d, int training);
status bn_cpu_forward_train(bn_cpu *p, const float *x, const float *gamma, const float *beta,
                            float *y, float *save_mean, float *save_var, float *running_mean,
                            float *running_var);
status bn_cpu_forward_eval(bn_cpu *p, const float *x, const float *gamma, const float *beta,
                           const float *running_mean, const float *running_var, float *y);
status bn_cpu_backward(bn_cpu *p, const float *x, const float *gamma, const float *save_mean,
                       const float *save_var, const float *dy, float *dx, float beta_dx,
                       float *dgamma, float *dbeta);
void bn_cpu_free(bn_cpu *p);

/* ------------------------------------------------------------------------ */
/* SyncBatchNorm: batch normalisation whose batch statistics are those of
 * every process together (PyTorch SyncBatchNorm). The per-channel sums are
 * reduced through `reduce` (sum in place across processes; identity for
 * one), so N processes x batch b compute what one process with batch N*b
 * would. Sums are taken around the running mean (a shift every process
 * holds identically) in double, over fixed pixel chunks combined in order:
 * results do not depend on the thread count. Forward: one reduction of
 * 2c+1 doubles; backward: one of 2c. dgamma/dbeta are this process's own
 * sums (the gradient all-reduce adds the processes). save_mean/save_var and
 * the running statistics follow bn_desc's conventions. */
/* The reducer sums n doubles in place across the processes; x is host
 * memory (the transport's): a backend whose work buffer is its own copies
 * the sums (2c+1 or 2c doubles, a few KB) to the host around the call. */
typedef struct {
    status (*fn)(void *ctx, double *x, size_t n);
    void *ctx;
} ops_reducer;

/* Doubles of workspace the two functions need: 2c + 1 plus per-chunk sums. */
size_t syncbn_workspace(const bn_desc *d);
status syncbn_forward_train(const bn_desc *d, const ops_reducer *r, const float *x, const float *gamma,
                            const float *beta, float *y, float *save_mean, float *save_var,
                            float *running_mean, float *running_var, double *work);
status syncbn_backward(const bn_desc *d, const ops_reducer *r, const float *x, const float *gamma,
                       const float *save_mean, const float *save_var, const float *dy, float *dx,
                       float beta_dx, float *dgamma, float *dbeta, double *work);

/* The reference implementation (ops/ref/syncbn_ref.c): the same contract,
 * plain C, the sums taken pixel after pixel; work needs 2c + 1 doubles. */
status syncbn_ref_forward_train(const bn_desc *d, const ops_reducer *r, const float *x, const float *gamma,
                                const float *beta, float *y, float *save_mean, float *save_var,
                                float *running_mean, float *running_var, double *work);
status syncbn_ref_backward(const bn_desc *d, const ops_reducer *r, const float *x, const float *gamma,
                           const float *save_mean, const float *save_var, const float *dy, float *dx,
                           float beta_dx, float *dgamma, float *dbeta, double *work);

/* ------------------------------------------------------------------------ */
/* BatchNorm (batch statistics, optionally synchronised through `r` as
 * SyncBatchNorm; r = NULL for plain BN) fused with the SiLU after it, the
 * Conv block's norm+act. Forward writes only y = silu(bn(x)); backward
 * recomputes bn(x) from x and save_mean/save_var, so training keeps x and y
 * and no BN output. Statistics, running-stat update, dgamma/dbeta (+=) and
 * work follow syncbn_* above. The references are bn_ref_* then silu_ref_*
 * (tmp: n*h*w*c floats). */
void bnsilu_ref_forward_train(const bn_desc *d, const float *x, const float *gamma, const float *beta, float *y,
                              float *save_mean, float *save_var, float *running_mean, float *running_var);
void bnsilu_ref_forward_eval(const bn_desc *d, const float *x, const float *gamma, const float *beta,
                             const float *running_mean, const float *running_var, float *y);
void bnsilu_ref_backward(const bn_desc *d, const float *x, const float *gamma, const float *beta,
                         const float *save_mean, const float *save_var, const float *dy, float *dx, float beta_dx,
                         float *dgamma, float *dbeta, float *tmp);
status bnsilu_cpu_forward_train(const bn_desc *d, const ops_reducer *r, const float *x, const float *gamma,
                                const float *beta, float *y, float *save_mean, float *save_var,
                                float *running_mean, float *running_var, double *work);
status bnsilu_cpu_backward(const bn_desc *d, const ops_reducer *r, const float *x, const float *gamma,
                           const float *beta, const float *save_mean, const float *save_var, const float *dy,
                           float *dx, float beta_dx, float *dgamma, float *dbeta, double *work);
/* Frozen statistics (the noise-scale probe, model_set_bn_frozen): forward
 * is the eval forward (running statistics, not updated); backward treats
 * them as constants: dx = dy silu'(bn(x)) gamma rstd, dgamma += sum
 * ds xhat, dbeta += sum ds. No reduction across processes. */
void bnsilu_ref_backward_frozen(const bn_desc *d, const float *x, const float *gamma, const float *beta,
                                const float *running_mean, const float *running_var, const float *dy, float *dx,
                                float beta_dx, float *dgamma, float *dbeta, float *tmp);
status bnsilu_cpu_backward_frozen(const bn_desc *d, const float *x, const float *gamma, const float *beta,
                                  const float *running_mean, const float *running_var, const float *dy, float *dx,
                                  float beta_dx, float *dgamma, float *dbeta, double *work);
/* Inference with the running statistics, one pass. */
void bnsilu_cpu_forward_eval(const bn_desc *d, const float *x, const float *gamma, const float *beta,
                             const float *running_mean, const float *running_var, float *y);

/* ------------------------------------------------------------------------ */
/* Group normalisation (PyTorch GroupNorm): c split into `groups` groups of
 * c/groups channels; statistics per (image, group) over h, w and the
 * group's channels; biased variance; per-channel affine gamma, beta. */
typedef struct {
    int n, h, w, c, groups;
    float eps; /* PyTorch default 1e-5 */
} gn_desc;

/* save_mean/save_rstd: [n * groups]. */
void gn_ref_forward(const gn_desc *d, const float *x, const float *gamma, const float *beta,
                    float *y, float *save_mean, float *save_rstd);
void gn_ref_backward(const gn_desc *d, const float *x, const float *gamma, const float *save_mean,
                     const float *save_rstd, const float *dy, float *dx, float beta_dx,
                     float *dgamma, float *dbeta);
void gn_cpu_forward(const gn_desc *d, const float *x, const float *gamma, const float *beta,
                    float *y, float *save_mean, float *save_rstd);
void gn_cpu_backward(const gn_desc *d, const float *x, const float *gamma, const float *save_mean,
                     const float *save_rstd, const float *dy, float *dx, float beta_dx,
                     float *dgamma, float *dbeta);

/* ------------------------------------------------------------------------ */
/* SiLU y = x * sigmoid(x) on n elements; backward needs the input x. */
void silu_ref_forward(size_t n, const float *x, float *y);
void silu_ref_backward(size_t n, const float *x, const float *dy, float *dx, float beta_dx);
typedef struct silu_cpu silu_cpu;
status silu_cpu_create(silu_cpu **out, cpu_ctx *ctx, size_t n, int training);
status silu_cpu_forward(silu_cpu *p, const float *x, float *y);
status silu_cpu_backward(silu_cpu *p, const float *x, const float *dy, float *dx, float beta_dx);
void silu_cpu_free(silu_cpu *p);

/* ------------------------------------------------------------------------ */
/* Max pooling, square window k, stride s, padding p (padding never wins:
 * it counts as -inf). Output (h + 2p - k)/s + 1. On ties the first maximum
 * in window order (ky, then kx) takes the gradient in both backends. */
typedef struct {
    int n, h, w, c;
    int k, s, p;
} pool_desc;

int pool_out_h(const pool_desc *d);
int pool_out_w(const pool_desc *d);
void maxpool_ref_forward(const pool_desc *d, const float *x, float *y);
/* Recomputes the argmax from x. */
void maxpool_ref_backward(const pool_desc *d, const float *x, const float *dy, float *dx,
                          float beta_dx);
typedef struct maxpool_cpu maxpool_cpu;
status maxpool_cpu_create(maxpool_cpu **out, cpu_ctx *ctx, const pool_desc *d, int training);
/* Bytes of the per-call workspace that forward fills and backward reads
 * (argmax indices); 0 for inference plans. The caller keeps one per layer. */
size_t maxpool_cpu_workspace_size(const maxpool_cpu *p);
status maxpool_cpu_forward(maxpool_cpu *p, const float *x, float *y, void *ws);
status maxpool_cpu_backward(maxpool_cpu *p, const float *dy, float *dx, float beta_dx,
                            const void *ws);
void maxpool_cpu_free(maxpool_cpu *p);

/* ------------------------------------------------------------------------ */
/* Nearest-neighbour upsampling by an integer factor f (YOLO uses 2):
 * y[n, oy, ox, c] = x[n, oy/f, ox/f, c]; backward sums f*f gradients. */
void upsample_ref_forward(int n, int h, int w, int c, int f, const float *x, float *y);
void upsample_ref_backward(int n, int h, int w, int c, int f, const float *dy, float *dx,
                           float beta_dx);
void upsample_cpu_forward(int n, int h, int w, int c, int f, const float *x, float *y);
void upsample_cpu_backward(int n, int h, int w, int c, int f, const float *dy, float *dx,
                           float beta_dx);

/* ------------------------------------------------------------------------ */
/* Channel copy, the building block of concat and split in NHWC: for each of
 * npix pixels, dst[p*dst_ct + dst_off + j] = beta*dst[...] + src[p*src_ct + src_off + j]
 * for j < c. Concat forward copies each input into its slice; its backward
 * copies slices out (beta as the consumer needs); split is the reverse. */
void chcopy_ref(size_t npix, int c, const float *src, int src_ct, int src_off, float *dst,
                int dst_ct, int dst_off, float beta);
void chcopy_cpu(size_t npix, int c, const float *src, int src_ct, int src_off, float *dst,
                int dst_ct, int dst_off, float beta);

/* ------------------------------------------------------------------------ */
/* fp32 -> bf16 (round to nearest even, NaN kept a quiet NaN: core/tensor.h's
 * f32_to_bf16 per element) over n values. The bf16 convolutions convert
 * their fp32 inputs with it. */
void f32_to_bf16_ref(size_t n, const float *x, uint16_t *y);
void f32_to_bf16_cpu(size_t n, const float *x, uint16_t *y);

/* ------------------------------------------------------------------------ */
/* Element-wise: y = a + b; and the backward/accumulate helper
 * dst = beta*dst + src (used for the add's two input gradients). */
void add_ref_forward(size_t n, const float *a, const float *b, float *y);
void add_cpu_forward(size_t n, const float *a, const float *b, float *y);
void acc_ref(size_t n, const float *src, float *dst, float beta);
void acc_cpu(size_t n, const float *src, float *dst, float beta);

/* ------------------------------------------------------------------------ */
/* Batched matrix product (the attention of YOLO11's C2PSA): for each
 * b < batch,
 *     C_b = alpha * op(A_b) op(B_b) + beta * C_b,
 * with op(A_b) m x k, op(B_b) k x n and C_b m x n, all row-major: element
 * (i, j) of a matrix with leading dimension ld is at [i*ld + j]. ta: A_b is
 * stored k x m and op transposes it; tb: B_b is stored n x k. Matrix b
 * starts at A + b*sa, B + b*sb, C + b*sc. beta == 0: C is not read (it may
 * hold garbage or NaN). fp32 in, fp32 out; the reference accumulates in
 * double, the fast paths in fp32 (oneDNN's sgemm on the CPU).
 * bmm_check validates a descriptor (sizes >= 1, leading dimensions that
 * hold a row); the dispatcher calls it. */
typedef struct {
    int batch, m, n, k;
    int ta, tb;
    int lda, ldb, ldc;
    size_t sa, sb, sc;
} bmm_desc;
status bmm_check(const bmm_desc *d);
void bmm_ref(const bmm_desc *d, float alpha, const float *A, const float *B, float beta, float *C);
status bmm_cpu(const bmm_desc *d, float alpha, const float *A, const float *B, float beta, float *C);

/* Softmax over rows: `rows` rows of n contiguous values,
 *     y_i = exp(x_i - max x) / sum_j exp(x_j - max x);
 * backward from the output y: dx_i = beta_dx*dx_i + y_i (dy_i - sum_j dy_j y_j).
 * y may be x, and dx may be dy when beta_dx == 0 (in place). */
void softmax_ref_forward(size_t rows, int n, const float *x, float *y);
void softmax_ref_backward(size_t rows, int n, const float *y, const float *dy, float *dx, float beta_dx);
void softmax_cpu_forward(size_t rows, int n, const float *x, float *y);
void softmax_cpu_backward(size_t rows, int n, const float *y, const float *dy, float *dx, float beta_dx);

/* ------------------------------------------------------------------------ */
/* The heads' eval decode, one level at a time, into rows [a0, a0 + h*w*na)
 * of each image's `anchors` output rows.
 *
 * YOLOv8 (anchor-free, DFL): box [n, h, w, 4*reg_max] and cls [n, h, w, nc]
 * (NHWC, the level's two branch outputs); per side the softmax of its
 * reg_max logits weighted by dfl_w (the DFL weights, 0..reg_max-1) gives a
 * distance d; with the anchor at the cell centre (x + 0.5, y + 0.5):
 * out = [cx, cy, w, h] * stride of the box (ax - d0, ay - d1, ax + d2,
 * ay + d3), then the nc class sigmoids: [n, anchors, 4 + nc]. */
typedef struct {
    int n, h, w, reg_max, nc, stride;
    int anchors, a0; /* output rows per image, and this level's first */
} dfl_decode_desc;
void dfl_decode_ref(const dfl_decode_desc *d, const float *box, const float *cls, const float *dfl_w, float *out);
void dfl_decode_cpu(const dfl_decode_desc *d, const float *box, const float *cls, const float *dfl_w, float *out);
/* YOLOv5 (anchor-based): raw [n, anchors, 5 + nc] rows; this level's rows
 * a0 + a*h*w + y*w + x hold anchor a of cell (y, x). With s = sigmoid:
 * xy = (2 s - 0.5 + cell) * stride, wh = (2 s)^2 * anchor * stride
 * (anchors: the level's na (w, h) in grid units), objectness s(z4), class
 * s(z). dec receives [xy, wh, obj, classes] (YOLOv5's ONNX output), out
 * [xy, wh, classes * obj]. */
typedef struct {
    int n, h, w, na, nc, stride;
    int anchors, a0;
} v5_decode_desc;
void v5_decode_ref(const v5_decode_desc *d, const float *raw, const float *anchors, float *dec, float *out);
void v5_decode_cpu(const v5_decode_desc *d, const float *raw, const float *anchors, float *dec, float *out);

/* BatchNorm folded into the convolution before it (eval plans): per output
 * channel o of co, s = gamma / sqrt(running_var + eps) (in double),
 * wf = w s over its `per` weights, bf = beta - running_mean s. */
/* The reference's per-row kernels, rows [i0, i1) (channels for the fold):
 * the fast path runs them in parallel blocks. */
void dfl_decode_range(const dfl_decode_desc *d, const float *box, const float *cls, const float *dfl_w, float *out,
                      int i0, int i1);
void v5_decode_range(const v5_decode_desc *d, const float *raw, const float *anchors, float *dec, float *out, int i0,
                     int i1);
void bn_fold_range(int o0, int o1, size_t per, float eps, const float *w, const float *gamma, const float *beta,
                   const float *running_mean, const float *running_var, float *wf, float *bf);
void bn_fold_ref(int co, size_t per, float eps, const float *w, const float *gamma, const float *beta,
                 const float *running_mean, const float *running_var, float *wf, float *bf);
void bn_fold_cpu(int co, size_t per, float eps, const float *w, const float *gamma, const float *beta,
                 const float *running_mean, const float *running_var, float *wf, float *bf);

/* ------------------------------------------------------------------------ */
/* Host memory of the host backends (ref and cpu share it, and these are
 * their table's buffer entries): zeroed, 64-byte aligned, large blocks
 * untouched until used; copies in any direction are memmove; nothing is
 * queued, so sync has nothing to wait for. */
status ops_host_alloc(void *ctx, size_t bytes, void **out);
void ops_host_free(void *ctx, void *p);
status ops_host_copy(void *ctx, void *dst, const void *src, size_t bytes);
status ops_host_zero(void *ctx, void *p, size_t bytes);
status ops_host_sync(void *ctx);

/* ------------------------------------------------------------------------ */
/* Multi-tensor ops: the optimizer's update, EMA and the gradient utilities
 * over the model's flat buffers, as a list of chunks (runs of floats
 * [off, off + len) of one group; the list itself is host memory, the
 * buffers are the backend's). `numel` (the chunks' floats in all) only
 * decides whether a pass is worth threads, never the result: element-wise
 * updates do not depend on the thread count, and the sum of squares is
 * taken per chunk in double and added in chunk order. */
typedef struct {
    size_t off, len;
} ops_chunk;

/* SGD (torch.optim.SGD, dampening 0): g = grad + wd p; mu = 0: p -= lr g
 * (b untouched); else b = mu b + g, p -= lr (g + mu b) with Nesterov, or
 * lr b without. b = 0 before the first step gives b = g there. */
typedef struct {
    float lr, mu, wd;
    int nesterov;
} ops_sgd_hp;
/* Adam/AdamW per element, in float: th = p shrink; g = grad + l2 th;
 * m = b1 m + omb1 g; v = b2 v + omb2 g^2; p = th - step_size m / (sqrt(v) /
 * bc2_sqrt + eps). AdamW: shrink = 1 - lr wd, l2 = 0; Adam: shrink 1, l2 =
 * wd. The step's scalars (bias corrections) come from the caller. */
typedef struct {
    float shrink, l2, b1, omb1, b2, omb2, step_size, bc2_sqrt, eps;
} ops_adam_hp;

void sgd_update_ref(const ops_chunk *ch, size_t nch, size_t numel, float *p, const float *g, float *b,
                    const ops_sgd_hp *hp);
void sgd_update_cpu(const ops_chunk *ch, size_t nch, size_t numel, float *p, const float *g, float *b,
                    const ops_sgd_hp *hp);
void adam_update_ref(const ops_chunk *ch, size_t nch, size_t numel, float *p, const float *g, float *m, float *v,
                     const ops_adam_hp *hp);
void adam_update_cpu(const ops_chunk *ch, size_t nch, size_t numel, float *p, const float *g, float *m, float *v,
                     const ops_adam_hp *hp);
/* Sum of squares of the chunks' floats, in double: partials[c] (backend
 * memory, nch doubles) receives chunk c's sum; returns their sum in chunk
 * order. */
double chunk_sumsq_ref(const ops_chunk *ch, size_t nch, size_t numel, const float *x, double *partials);
double chunk_sumsq_cpu(const ops_chunk *ch, size_t nch, size_t numel, const float *x, double *partials);
/* x *= f over the chunks. */
void chunk_scale_ref(const ops_chunk *ch, size_t nch, size_t numel, float *x, float f);
void chunk_scale_cpu(const ops_chunk *ch, size_t nch, size_t numel, float *x, float f);
/* 1 when every float of the chunks is finite. */
int chunk_all_finite_ref(const ops_chunk *ch, size_t nch, size_t numel, const float *x);
int chunk_all_finite_cpu(const ops_chunk *ch, size_t nch, size_t numel, const float *x);
/* The noise-scale probe: sum of (g - prev)^2 over the chunks' floats (in
 * double, per chunk into partials, added in chunk order), then prev = g. */
double chunk_sqdiff_copy_ref(const ops_chunk *ch, size_t nch, size_t numel, const float *g, float *prev,
                             double *partials);
double chunk_sqdiff_copy_cpu(const ops_chunk *ch, size_t nch, size_t numel, const float *g, float *prev,
                             double *partials);
/* EMA: x = x d + omd y over n floats, in PyTorch's order ((x*d) + (omd*y)). */
void ema_blend_ref(size_t n, float *x, const float *y, float d, float omd);
void ema_blend_cpu(size_t n, float *x, const float *y, float d, float omd);

/* ------------------------------------------------------------------------ */
/* CPU paths and bf16. oneDNN picks its kernels at run time; these say which. */

/* The instruction set oneDNN's kernels use on this CPU: "avx2",
 * "avx512_core", "avx512_core_vnni", "avx512_core_bf16",
 * "avx512_core_amx", "avx2_vnni", "sse41", ... (static string). */
const char *ops_dnnl_isa(void);

/* What bf16 convolutions (conv2d_desc.bf16) do on this CPU:
 *   OPS_BF16_NATIVE:   bf16 dot products in hardware (AVX512-BF16 or AMX):
 *                      faster than fp32;
 *   OPS_BF16_EMULATED: AVX-512 without them: oneDNN emulates bf16, correct
 *                      but slower than fp32 (tests use it);
 *   OPS_BF16_NONE:     no AVX-512: oneDNN has no bf16 convolutions. */
typedef enum { OPS_BF16_NONE = 0, OPS_BF16_EMULATED = 1, OPS_BF16_NATIVE = 2 } ops_bf16_level;
ops_bf16_level ops_bf16_support(void);

/* The amp rule, the one place it is decided: with amp requested, returns 1
 * (convolutions in bf16) where the CPU computes bf16 natively, else 0 with
 * the reason in why ("this CPU has no bf16 instructions (oneDNN isa avx2)",
 * ...). Without amp: 0 and why empty. why may be NULL. */
int ops_amp_bf16(int amp_requested, char *why, size_t cap);

/* ------------------------------------------------------------------------ */
/* The measured FP32 peak of this CPU in GFLOP/s: `threads` threads (0: the
 * OpenMP default) each running register-only chains of the widest vector
 * FMA available, best of 5 rounds over about `seconds` in all. *isa (may be
 * NULL) names the instructions used ("avx512", "avx2+fma", "scalar fmaf"). */
double ops_fp32_peak_gflops(int threads, double seconds, const char **isa);

/* ------------------------------------------------------------------------ */
/* Dispatch: one handle per layer instance, backend chosen at init. */
typedef struct {
    conv2d_desc d;
    backend be;
    void *impl; /* the backend's plan */
} conv2d_op;
/* ctx: the backend's context (backend_ctx_create; a cpu_ctx for cpu). */
status conv2d_op_init(conv2d_op *op, void *ctx, backend be, const conv2d_desc *d, int training);
status conv2d_op_forward(conv2d_op *op, const float *x, const float *w, const float *b, float *y);
/* The same; weights_unchanged = 1 lets the cpu backend reuse its reorder of
 * w from the previous call (the caller guarantees w did not change). */
status conv2d_op_forward_ex(conv2d_op *op, const float *x, const float *w, const float *b, float *y,
                            int weights_unchanged);
status conv2d_op_backward(conv2d_op *op, const float *x, const float *w, const float *dy, float *dx,
                          float beta_dx, float *dw, float *db);
void conv2d_op_free(conv2d_op *op);

typedef struct {
    bn_desc d;
    backend be;
    void *impl;
} bn_op;
status bn_op_init(bn_op *op, void *ctx, backend be, const bn_desc *d, int training);
status bn_op_forward_train(bn_op *op, const float *x, const float *gamma, const float *beta,
                           float *y, float *save_mean, float *save_var, float *running_mean,
                           float *running_var);
status bn_op_forward_eval(bn_op *op, const float *x, const float *gamma, const float *beta,
                          const float *running_mean, const float *running_var, float *y);
status bn_op_backward(bn_op *op, const float *x, const float *gamma, const float *save_mean,
                      const float *save_var, const float *dy, float *dx, float beta_dx,
                      float *dgamma, float *dbeta);
/* Frozen statistics (bn_ref_backward_frozen); the forward is
 * bn_op_forward_eval. */
status bn_op_backward_frozen(bn_op *op, const float *x, const float *gamma, const float *running_mean,
                             const float *running_var, const float *dy, float *dx, float beta_dx, float *dgamma,
                             float *dbeta);
void bn_op_free(bn_op *op);

typedef struct {
    gn_desc d;
    backend be;
} gn_op;
status gn_op_init(gn_op *op, backend be, const gn_desc *d);
status gn_op_forward(gn_op *op, const float *x, const float *gamma, const float *beta, float *y,
                     float *save_mean, float *save_rstd);
status gn_op_backward(gn_op *op, const float *x, const float *gamma, const float *save_mean,
                      const float *save_rstd, const float *dy, float *dx, float beta_dx,
                      float *dgamma, float *dbeta);

typedef struct {
    size_t n;
    backend be;
    void *impl;
} silu_op;
status silu_op_init(silu_op *op, void *ctx, backend be, size_t n, int training);
status silu_op_forward(silu_op *op, const float *x, float *y);
status silu_op_backward(silu_op *op, const float *x, const float *dy, float *dx, float beta_dx);
void silu_op_free(silu_op *op);

typedef struct {
    pool_desc d;
    backend be;
    void *impl;
} maxpool_op;
status maxpool_op_init(maxpool_op *op, void *ctx, backend be, const pool_desc *d, int training);
/* Workspace bytes the caller keeps per layer between forward and backward. */
size_t maxpool_op_workspace_size(const maxpool_op *op);
status maxpool_op_forward(maxpool_op *op, const float *x, float *y, void *ws);
/* x is the forward input (the reference backend recomputes the argmax). */
status maxpool_op_backward(maxpool_op *op, const float *x, const float *dy, float *dx,
                           float beta_dx, const void *ws);
void maxpool_op_free(maxpool_op *op);

/* SyncBatchNorm and the fused BatchNorm/SyncBN + SiLU through the backend
 * (the arguments of syncbn_* and bnsilu_* above). backend_fuses_bnsilu says
 * whether the backend offers the fused ops (the frozen-statistics backward
 * among them); else the callers run bn, then silu. */
int backend_fuses_bnsilu(backend be);
status syncbn_op_forward_train(backend be, const bn_desc *d, const ops_reducer *r, const float *x,
                               const float *gamma, const float *beta, float *y, float *save_mean, float *save_var,
                               float *running_mean, float *running_var, double *work);
status syncbn_op_backward(backend be, const bn_desc *d, const ops_reducer *r, const float *x, const float *gamma,
                          const float *save_mean, const float *save_var, const float *dy, float *dx, float beta_dx,
                          float *dgamma, float *dbeta, double *work);
status bnsilu_op_forward_train(backend be, const bn_desc *d, const ops_reducer *r, const float *x,
                               const float *gamma, const float *beta, float *y, float *save_mean, float *save_var,
                               float *running_mean, float *running_var, double *work);
status bnsilu_op_forward_eval(backend be, const bn_desc *d, const float *x, const float *gamma, const float *beta,
                              const float *running_mean, const float *running_var, float *y);
status bnsilu_op_backward(backend be, const bn_desc *d, const ops_reducer *r, const float *x, const float *gamma,
                          const float *beta, const float *save_mean, const float *save_var, const float *dy,
                          float *dx, float beta_dx, float *dgamma, float *dbeta, double *work);
status bnsilu_op_backward_frozen(backend be, const bn_desc *d, const float *x, const float *gamma,
                                 const float *beta, const float *running_mean, const float *running_var,
                                 const float *dy, float *dx, float beta_dx, float *dgamma, float *dbeta,
                                 double *work);

/* Stateless ops go straight to the backend's function. */
void upsample_forward(backend be, int n, int h, int w, int c, int f, const float *x, float *y);
void upsample_backward(backend be, int n, int h, int w, int c, int f, const float *dy, float *dx,
                       float beta_dx);
void chcopy(backend be, size_t npix, int c, const float *src, int src_ct, int src_off, float *dst,
            int dst_ct, int dst_off, float beta);
void add_forward(backend be, size_t n, const float *a, const float *b, float *y);
void acc(backend be, size_t n, const float *src, float *dst, float beta);
/* bmm_check'd here: YOLOC_ERR_INVALID for a bad descriptor, else the
 * backend's own errors. */
status bmm(backend be, const bmm_desc *d, float alpha, const float *A, const float *B, float beta, float *C);
void softmax_forward(backend be, size_t rows, int n, const float *x, float *y);
void softmax_backward(backend be, size_t rows, int n, const float *y, const float *dy, float *dx, float beta_dx);
void f32_to_bf16_op(backend be, size_t n, const float *x, uint16_t *y);
void dfl_decode(backend be, const dfl_decode_desc *d, const float *box, const float *cls, const float *dfl_w,
                float *out);
void v5_decode(backend be, const v5_decode_desc *d, const float *raw, const float *anchors, float *dec, float *out);
void bn_fold(backend be, int co, size_t per, float eps, const float *w, const float *gamma, const float *beta,
             const float *running_mean, const float *running_var, float *wf, float *bf);

#endif
