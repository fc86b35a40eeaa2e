/* yoloc forward model=... [weights=W.safetensors] input=X.npy out=Y.npy
 *   [train=True grad_in=G.npy grads_out=grads.safetensors] [backend=cpu|ref]
 *   [seed=0] [nc=N] [threads=N] [save_weights=W.safetensors]
 * One forward (and optionally one backward) in the Ultralytics tensor
 * layouts: input [B, 3, H, W]; eval output [B, 4+nc, A] decoded; training
 * output the raw head [B, 4*reg_max+nc, A]; grad_in has the training
 * output's shape; grads_out holds every parameter gradient by name;
 * save_weights writes the weights used (seeded or loaded), e.g. for a parity
 * check in another framework. */
#include "cli/commands.h"
#include "core/kv.h"
#include "core/log.h"
#include "core/timer.h"
#include "io/npy.h"
#include "io/safetensors.h"
#include "nn/model.h"
#include "ops/backend.h"
#include "train/weights.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* [B, A, C] <-> [B, C, A] */
static void transpose_bac(const float *src, float *dst, int b, int a, int c, int to_bca) {
    for (int i = 0; i < b; i++)
        for (int j = 0; j < a; j++)
            for (int k = 0; k < c; k++) {
                size_t bac = ((size_t)i * a + j) * c + k, bca = ((size_t)i * c + k) * a + j;
                if (to_bca) dst[bca] = src[bac];
                else dst[bac] = src[bca];
            }
}

static status write_grads(model *m, const char *path) {
    size_t n = model_num_tensors(m), k = 0;
    float *g = NULL; /* the gradients, readable on the host */
    int own = 0;
    TRY(model_host_view(m, model_grads(m), model_num_params(m), &g, &own));
    st_tensor *ts = calloc(n ? n : 1, sizeof *ts);
    if (!ts) {
        model_host_view_free(g, own);
        return err_set(YOLOC_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        const param_info *p = model_tensor(m, i);
        if (p->buffer) continue;
        st_tensor *t = &ts[k++];
        t->name = p->name;
        t->dt = DT_F32;
        t->ndim = p->ndim;
        for (int d = 0; d < p->ndim; d++) t->shape[d] = p->shape[d];
        t->data = g + p->off;
    }
    const char *keys[] = {"format"}, *vals[] = {"yoloc-gradients"};
    status st = st_write(path, ts, k, keys, vals, 1);
    free(ts);
    model_host_view_free(g, own);
    return st;
}

int cmd_forward(int argc, char **argv) {
    static const char *const keys[] = {"model", "weights", "input", "out", "train", "grad_in", "grads_out",
                                       "backend", "seed", "nc", "threads", "save_weights", NULL};
    kv_args a;
    const char *mname = "yolov8n.yaml", *wpath = NULL, *in = NULL, *out = NULL, *gin = NULL, *gout = NULL,
               *be = "cpu", *wout = NULL;
    int train = 0;
    long seed = 0, nc = 0, threads = 0;
    status st = kv_parse(&a, argc, argv);
    if (st == YOLOC_OK) st = kv_str(&a, "model", NULL, &mname);
    if (st == YOLOC_OK) st = kv_str(&a, "weights", NULL, &wpath);
    if (st == YOLOC_OK) st = kv_str(&a, "input", NULL, &in);
    if (st == YOLOC_OK) st = kv_str(&a, "out", NULL, &out);
    if (st == YOLOC_OK) st = kv_bool(&a, "train", &train);
    if (st == YOLOC_OK) st = kv_str(&a, "grad_in", NULL, &gin);
    if (st == YOLOC_OK) st = kv_str(&a, "grads_out", NULL, &gout);
    if (st == YOLOC_OK) st = kv_str(&a, "backend", NULL, &be);
    if (st == YOLOC_OK) st = kv_int(&a, "seed", 0, 0x7fffffff, &seed);
    if (st == YOLOC_OK) st = kv_int(&a, "nc", 1, 100000, &nc);
    if (st == YOLOC_OK) st = kv_int(&a, "threads", 0, 1024, &threads);
    if (st == YOLOC_OK) st = kv_str(&a, "save_weights", NULL, &wout);
    if (st == YOLOC_OK) st = kv_unused(&a, "forward", keys);
    if (st == YOLOC_OK && (!in || !out)) st = err_set(YOLOC_ERR_INVALID, "yoloc forward needs input=X.npy and out=Y.npy");
    if (st == YOLOC_OK && (gin || gout) && !(train && gin && gout))
        st = err_set(YOLOC_ERR_INVALID, "a backward pass needs train=True, grad_in=G.npy and grads_out=F.safetensors");
    if (st < 0) return cli_fail(st);
    if (threads > 0) ops_set_threads((int)threads);
    backend bk;
    if ((st = backend_select("cpu", be, &bk)) < 0) return cli_fail(st);

    float *x = NULL, *g = NULL, *y = NULL, *gt = NULL;
    int xnd = 0, gnd = 0;
    int64_t xs[TENSOR_MAX_DIMS], gs[TENSOR_MAX_DIMS];
    model *m = NULL;
    model_spec spec;
    int have_spec = 0;
    TRY_GOTO(st, npy_read_f32(in, &x, &xnd, xs));
    if (xnd != 4 || xs[1] != 3) {
        st = err_set(YOLOC_ERR_SHAPE, "%s: expected an input of shape [B, 3, H, W]", in);
        goto fail;
    }
    TRY_GOTO(st, weights_model_spec(mname, (int)nc, &spec));
    have_spec = 1;
    model_options opt = {.be = bk, .norm = NORM_BN, .gn_groups = 32};
    TRY_GOTO(st, model_create(&m, &spec, &opt, (uint64_t)seed));
    if (!wpath && weights_is_file(mname)) wpath = mname; /* model=W.safetensors / W.pt: its own weights */
    if (wpath) TRY_GOTO(st, weights_load(m, wpath));
    if (wout) TRY_GOTO(st, weights_save(m, wout, NULL, 0));
    TRY_GOTO(st, model_plan(m, (int)xs[0], (int)xs[2], (int)xs[3], train));
    const float *o;
    double t0 = time_now();
    TRY_GOTO(st, model_forward(m, x, &o));
    double t1 = time_now();
    int B = (int)xs[0], A = model_anchors(m), C = model_out_channels(m);
    y = malloc((size_t)B * A * C * sizeof(float));
    if (!y) {
        st = err_set(YOLOC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    TRY_GOTO(st, model_output_host(m, &o));
    transpose_bac(o, y, B, A, C, 1);
    int64_t ys[3] = {B, C, A};
    TRY_GOTO(st, npy_write_f32(out, y, 3, ys));
    log_info("forward: %s %s, input [%d, 3, %lld, %lld] -> %s [%d, %d, %d] in %.3f s", spec.name,
             train ? "train" : "eval", B, (long long)xs[2], (long long)xs[3], out, B, C, A, t1 - t0);
    if (gin) {
        TRY_GOTO(st, npy_read_f32(gin, &g, &gnd, gs));
        if (gnd != 3 || gs[0] != B || gs[1] != C || gs[2] != A) {
            st = err_set(YOLOC_ERR_SHAPE, "%s: grad_in must have the output's shape [%d, %d, %d]", gin, B, C, A);
            goto fail;
        }
        gt = malloc((size_t)B * A * C * sizeof(float));
        if (!gt) {
            st = err_set(YOLOC_ERR_NOMEM, "out of memory");
            goto fail;
        }
        transpose_bac(g, gt, B, A, C, 0);
        TRY_GOTO(st, model_zero_grad(m));
        double t2 = time_now();
        TRY_GOTO(st, model_backward_host(m, gt));
        log_info("backward: %.3f s -> %s", time_now() - t2, gout);
        TRY_GOTO(st, write_grads(m, gout));
    }
    free(x);
    free(g);
    free(y);
    free(gt);
    model_free(m);
    model_spec_free(&spec);
    return 0;
fail:
    free(x);
    free(g);
    free(y);
    free(gt);
    model_free(m);
    if (have_spec) model_spec_free(&spec);
    return cli_fail(st);
}
