/* The memory model of a training process (plan/memory.h):
 *  - its terms follow the formulas (activation arenas are model_plan_bytes
 *    of the training plan at batch and imgsz, and of the eval plan at 2 x
 *    batch and the largest rectangular validation shape (352 for 320);
 *    loader buffers (prefetch + 1) x (batch + 2 batch) images; the optimizer adds
 *    one parameter copy for SGD and two for AdamW to the state and the
 *    snapshot) and grow with the batch;
 *  - a real training step plus validation forward (yolov8n at 320 on
 *    synthetic images, batch 2: about 0.5 GiB) peaks within 15 % of the
 *    prediction, measured from VmHWM in this fresh process (under a
 *    sanitizer, whose shadow memory is resident too, only above it and
 *    below twice it);
 *  - mem= overrides what the machine reports.
 * ctest-labels: plan */
#include "harness.h"
#include "ops/backend.h"
#include "plan/plan.h"
#include "train/weights.h"

#include <stdlib.h>
#include <string.h>

static status make_config(config *c, const char *args) {
    char all[1024];
    snprintf(all, sizeof all, "%s", args);
    char *toks[32];
    int n = 0;
    for (char *s = strtok(all, " "); s && n < 32; s = strtok(NULL, " ")) toks[n++] = strdup(s);
    kv_args a;
    status st = config_init(c);
    if (st == YOLOC_OK) st = kv_parse(&a, n, toks);
    if (st == YOLOC_OK) st = config_apply_args(c, &a);
    for (int i = 0; i < n; i++) free(toks[i]);
    return st;
}

static void test_terms(void) {
    model_options mo = {.be = &OPS_BACKEND_CPU, .norm = NORM_BN, .gn_groups = 32};
    model *m = NULL;
    CHECK(weights_open_model("yolov8n.yaml", NULL, 3, &mo, 0, &m, NULL, NULL) == YOLOC_OK);
    if (!m) return;
    mem_input in = {.batch = 4, .imgsz = 320, .optimizer = OPTIM_SGD, .workers = 2, .val_images = 100, .max_det = 300,
                    .base = 1000};
    mem_estimate e4, e8, ea;
    CHECK(mem_predict(m, &in, &e4) == YOLOC_OK);
    size_t tb, vb;
    CHECK(model_plan_bytes(m, 4, 320, 320, 1, &tb) == YOLOC_OK);
    CHECK(model_plan_bytes(m, 8, 352, 352, 0, &vb) == YOLOC_OK); /* validation: ceil(320/32 + 0.5) x 32 */
    CHECK_EQ_INT(mem_val_imgsz(m, 320), 352);
    CHECK_EQ_INT(mem_val_imgsz(m, 640), 672);
    CHECK_EQ_INT(e4.act_train, tb);
    CHECK_EQ_INT(e4.act_val, vb);
    CHECK_EQ_INT(e4.val_batch, 8);
    CHECK_EQ_INT(e4.val_imgsz, 352);
    CHECK_EQ_INT(e4.loaders, 3 * 3 * 4 * (4 * 320 * 320 + 8 * 352 * 352));
    CHECK_EQ_INT(e4.dets, 100 * 300 * 64);
    CHECK_EQ_INT(e4.base, 1000);
    CHECK_EQ_INT(e4.total, e4.act_train + e4.act_val + e4.weights + e4.onednn + e4.loss + e4.loaders + e4.augment +
                               e4.dets + e4.base);
    in.optimizer = OPTIM_ADAMW;
    CHECK(mem_predict(m, &in, &ea) == YOLOC_OK);
    CHECK_EQ_INT(ea.weight_copies, e4.weight_copies + 2); /* second moment, and its snapshot */
    CHECK_EQ_INT(ea.weights - e4.weights, 2 * model_num_params(m) * sizeof(float));
    in.optimizer = OPTIM_SGD;
    in.batch = 8;
    CHECK(mem_predict(m, &in, &e8) == YOLOC_OK);
    CHECK(e8.total > e4.total && e8.act_train > e4.act_train && e8.loss > e4.loss);
    CHECK_EQ_INT(e8.weights, e4.weights);
    in.batch = 0;
    CHECK(mem_predict(m, &in, &e8) == YOLOC_ERR_INVALID);
    model_free(m);

    size_t avail;
    char src[256];
    CHECK(sys_mem_available(2.5, &avail, src, sizeof src) == YOLOC_OK);
    CHECK_EQ_INT(avail, (size_t)(2.5 * 1024 * 1024 * 1024));
    CHECK_CONTAINS(src, "mem=2.5 GiB");
    CHECK(sys_mem_available(0, &avail, src, sizeof src) == YOLOC_OK && avail > 0);
    CHECK(sys_rss_now() > 0 && sys_rss_peak() >= sys_rss_now());
}

/* The real step against the prediction. */
static void test_real_step(void) {
    config c;
    if (make_config(&c, "model=yolov8n.yaml data=synth:classes=3,images=16,val=8,imgsz=320 imgsz=320 batch=2 "
                        "optimizer=SGD workers=2 mem=64") != YOLOC_OK) {
        CHECK_MSG(0, "%s", yoloc_last_error());
        return;
    }
    plan *p = calloc(1, sizeof *p);
    status st = plan_make(&c, p);
    CHECK_MSG(st == YOLOC_OK, "%s", yoloc_last_error());
    if (st == YOLOC_OK) {
        st = plan_check(p, 0);
        CHECK_MSG(st == YOLOC_OK, "%s", yoloc_last_error());
        double d = (double)p->check.peak / (double)p->check_pred.total - 1;
        printf("  yolov8n 320, batch 2 (+ validation forward of 4): peak %.1f MiB measured (VmHWM, %s), %.1f MiB "
               "predicted (%+.1f%%; base %.1f MiB), %.1f s\n",
               p->check.peak / 1048576.0, p->check.peak_reset ? "reset before" : "since the start",
               p->check_pred.total / 1048576.0, 100 * d, p->check.base / 1048576.0, p->check.seconds);
        CHECK(p->checked && p->check_batch == 2);
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
        /* a sanitizer's shadow memory and quarantine are resident too: only the order of magnitude */
        CHECK_MSG(d > -0.15 && d < 1.0, "measured %zu vs predicted %zu", p->check.peak, p->check_pred.total);
#else
        CHECK_MSG(fabs(d) < 0.15, "measured %zu vs predicted %zu", p->check.peak, p->check_pred.total);
#endif
        CHECK(p->check_pred.act_train + p->check_pred.act_val > p->check_pred.total / 2); /* the model dominates */
        char *text = NULL;
        size_t len;
        FILE *f = open_memstream(&text, &len);
        plan_print(p, f);
        fclose(f);
        CHECK_CONTAINS(text, "memory check: one real training step at batch 2 and a validation forward at batch 4 (352x352)");
        free(text);
    }
    /* a check batch beyond the memory is not run */
    plan_free(p);
    config_free(&c);
    CHECK(make_config(&c, "model=yolov8n.yaml data=synth:classes=3,images=16,val=8,imgsz=320 imgsz=320 batch=1 "
                          "optimizer=SGD mem=0.9") == YOLOC_OK);
    if (plan_make(&c, p) == YOLOC_OK) {
        CHECK_EQ_INT(plan_check(p, 64), YOLOC_ERR_INVALID);
        CHECK_CONTAINS(yoloc_last_error(), "check_batch 64: its predicted peak");
    } else {
        CHECK_MSG(0, "%s", yoloc_last_error());
    }
    plan_free(p);
    free(p);
    config_free(&c);
}

int main(void) {
    test_real_step(); /* first: the peak of this process is still its own */
    test_terms();
    return test_finish("test_memory");
}
