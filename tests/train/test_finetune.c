/* Weights for fine-tuning: the strict loader and the partial one on bad
 * files (a missing tensor, a wrong shape — another nc —, an I64 tensor where
 * F32 is expected, a file for another model), the counts the partial loader
 * reports and what it leaves at the fresh initialisation; the official
 * yolov5n.safetensors into a 3-class yolov5n (when ../shared/data is there:
 * 343 of 349 items, the class outputs re-initialised); freezing: the
 * optimizer leaves frozen tensors alone. */
#include "core/rng.h"
#include "ops/backend.h"
#include "harness.h"
#include "io/safetensors.h"
#include "train/optim.h"
#include "train/weights.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const TINY_V5 = "nc: %d\n"
                                   "depth_multiple: 0.33\n"
                                   "width_multiple: 0.0625\n"
                                   "anchors:\n"
                                   "  - [10, 13, 16, 30, 33, 23]\n"
                                   "  - [30, 61, 62, 45, 59, 119]\n"
                                   "  - [116, 90, 156, 198, 373, 326]\n"
                                   "backbone:\n"
                                   "  - [-1, 1, Conv, [64, 6, 2, 2]]\n"
                                   "  - [-1, 1, Conv, [128, 3, 2]]\n"
                                   "  - [-1, 3, C3, [128]]\n"
                                   "  - [-1, 1, Conv, [256, 3, 2]]\n"
                                   "  - [-1, 1, SPPF, [256, 5]]\n"
                                   "head:\n"
                                   "  - [-1, 1, Conv, [128, 1, 1]]\n"
                                   "  - [-1, 1, nn.Upsample, [None, 2, 'nearest']]\n"
                                   "  - [[-1, 2], 1, Concat, [1]]\n"
                                   "  - [-1, 1, C3, [128, False]]\n"
                                   "  - [[8, 4], 1, Detect, [nc, anchors]]\n";

static model *tiny(int nc, uint64_t seed) {
    char yaml[2048];
    snprintf(yaml, sizeof yaml, TINY_V5, nc);
    /* the anchors list has 3 levels; this head has 2: use the first two */
    char *third = strstr(yaml, "  - [116");
    if (third) memmove(third, strchr(third, '\n') + 1, strlen(strchr(third, '\n') + 1) + 1);
    model_spec spec;
    status st = model_spec_parse(&spec, yaml, strlen(yaml), "tiny_v5.yaml", 0, 0);
    if (st < 0) {
        fprintf(stderr, "spec: %s\n", yoloc_last_error());
        return NULL;
    }
    model_options opt = {.be = &OPS_BACKEND_REF, .norm = NORM_BN, .gn_groups = 4};
    model *m = NULL;
    st = model_create(&m, &spec, &opt, seed);
    model_spec_free(&spec);
    if (st < 0) fprintf(stderr, "create: %s\n", yoloc_last_error());
    return m;
}

/* Writes the tensors of `src` to path, dropping `drop`, and storing `as_i64`
 * as I64 (same shape). */
static void write_variant(model *src, const char *path, const char *drop, const char *as_i64) {
    size_t nt = model_num_tensors(src), k = 0;
    st_tensor *ts = calloc(2 * nt, sizeof *ts);
    char(*names)[WEIGHTS_NAME_CAP] = calloc(2 * nt, sizeof *names);
    int64_t nbt = 7;
    size_t n = weights_tensor_list(src, model_params(src), model_bufs(src), &nbt, "", ts, names);
    int64_t *i64 = NULL;
    for (size_t i = 0; i < n; i++) {
        if (drop && strcmp(ts[i].name, drop) == 0) continue;
        st_tensor t = ts[i];
        if (as_i64 && strcmp(t.name, as_i64) == 0) {
            size_t numel = 1;
            for (int d = 0; d < t.ndim; d++) numel *= (size_t)t.shape[d];
            i64 = calloc(numel, sizeof *i64);
            t.dt = DT_I64;
            t.data = i64;
        }
        ts[k++] = t;
    }
    CHECK_MSG(st_write(path, ts, k, NULL, NULL, 0) == YOLOC_OK, "%s", yoloc_last_error());
    free(i64);
    free(ts);
    free(names);
}

static int same_tensor(model *a, model *b, const char *name) {
    const param_info *p = model_find(a, name), *q = model_find(b, name);
    return p && q && p->numel == q->numel &&
           memcmp(model_tensor_data(a, p), model_tensor_data(b, q), p->numel * sizeof(float)) == 0;
}

static void test_bad_files(const char *dir) {
    model *src = tiny(3, 1), *fresh = tiny(3, 2), *m = tiny(3, 2), *src5 = tiny(5, 1);
    CHECK(src && fresh && m && src5);
    if (!src || !fresh || !m || !src5) return;
    char good[600], missing[600], other_nc[600], i64[600], junk[600];
    snprintf(good, sizeof good, "%s/good.safetensors", dir);
    snprintf(missing, sizeof missing, "%s/missing.safetensors", dir);
    snprintf(other_nc, sizeof other_nc, "%s/nc5.safetensors", dir);
    snprintf(i64, sizeof i64, "%s/i64.safetensors", dir);
    snprintf(junk, sizeof junk, "%s/junk.safetensors", dir);
    write_variant(src, good, NULL, NULL);
    write_variant(src, missing, "model.9.m.0.bias", NULL);
    write_variant(src5, other_nc, NULL, NULL);
    write_variant(src, i64, NULL, "model.0.bn.running_mean");
    float one = 1;
    st_tensor jt = {.name = "foo", .dt = DT_F32, .ndim = 1, .shape = {1}, .data = &one};
    CHECK(st_write(junk, &jt, 1, NULL, NULL, 0) == YOLOC_OK);

    /* strict: each is an error naming the file and the tensor; the model is unchanged */
    CHECK_EQ_INT(weights_load(m, good), YOLOC_OK);
    CHECK(memcmp(model_params(m), model_params(src), model_num_params(m) * sizeof(float)) == 0);
    CHECK_EQ_INT(model_bn_batches(m), 7);
    model_init_params(m, 2);
    CHECK_EQ_INT(weights_load(m, missing), YOLOC_ERR_NOT_FOUND);
    CHECK_CONTAINS(yoloc_last_error(), "missing.safetensors: missing tensor 'model.9.m.0.bias'");
    CHECK_EQ_INT(weights_load(m, other_nc), YOLOC_ERR_SHAPE);
    CHECK_CONTAINS(yoloc_last_error(), "tensor 'model.9.m.0.weight' has shape [30, 8, 1, 1]");
    CHECK_CONTAINS(yoloc_last_error(), "needs [24, 8, 1, 1]");
    CHECK_EQ_INT(weights_load(m, i64), YOLOC_ERR_SHAPE);
    CHECK_CONTAINS(yoloc_last_error(), "tensor 'model.0.bn.running_mean' is I64, expected F32");
    CHECK_EQ_INT(weights_load(m, junk), YOLOC_ERR_SHAPE);
    CHECK_CONTAINS(yoloc_last_error(), "'foo' is not in model");
    CHECK(memcmp(model_params(m), model_params(fresh), model_num_params(m) * sizeof(float)) == 0);

    /* partial: the matching tensors load, the others keep the fresh values, with counts */
    weights_report r;
    size_t items = 0, params = 0, bns = 0;
    for (size_t t = 0; t < model_num_tensors(m); t++) {
        const param_info *p = model_tensor(m, t);
        items++;
        if (!p->buffer) params += p->numel;
        if (strstr(p->name, "running_var")) bns++;
    }
    items += bns;
    CHECK_EQ_INT(weights_load_partial(m, good, &r), YOLOC_OK);
    CHECK_EQ_INT(r.items, items);
    CHECK_EQ_INT(r.items_loaded, items);
    CHECK_EQ_INT(r.params_loaded, params);
    CHECK(memcmp(model_params(m), model_params(src), model_num_params(m) * sizeof(float)) == 0);

    model_init_params(m, 2);
    CHECK_EQ_INT(weights_load_partial(m, missing, &r), YOLOC_OK);
    CHECK_EQ_INT(r.missing, 1);
    CHECK_EQ_INT(r.items_loaded, items - 1);
    CHECK_EQ_INT(r.params_loaded, params - 24);
    CHECK(same_tensor(m, fresh, "model.9.m.0.bias"));
    CHECK(same_tensor(m, src, "model.9.m.0.weight"));
    CHECK_CONTAINS(r.skipped[0], "model.9.m.0.bias (not in the file)");

    model_init_params(m, 2);
    CHECK_EQ_INT(weights_load_partial(m, other_nc, &r), YOLOC_OK);
    CHECK_EQ_INT(r.shape_mismatch, 4); /* m.0 and m.1: weight and bias */
    CHECK_EQ_INT(r.items_loaded, items - 4);
    CHECK(same_tensor(m, fresh, "model.9.m.1.weight"));
    CHECK(same_tensor(m, src5, "model.8.cv3.conv.weight"));
    CHECK(same_tensor(m, src5, "model.9.anchors"));
    CHECK_CONTAINS(r.skipped[0],
                   "model.9.m.0.weight ([30, 8, 1, 1] in the file, [24, 8, 1, 1] in the model)");
    char line[1200];
    weights_report_format(&r, "nc5.safetensors", line, sizeof line);
    printf("  %s\n", line);
    CHECK_CONTAINS(line, "re-initialised 4 (0 missing, 4 of another shape, 0 of another dtype)");

    model_init_params(m, 2);
    CHECK_EQ_INT(weights_load_partial(m, i64, &r), YOLOC_OK);
    CHECK_EQ_INT(r.dtype_mismatch, 1);
    CHECK(same_tensor(m, fresh, "model.0.bn.running_mean"));
    CHECK(same_tensor(m, src, "model.0.bn.running_var"));
    CHECK_CONTAINS(r.skipped[0], "model.0.bn.running_mean (I64 in the file, a float expected)");

    model_init_params(m, 2);
    CHECK_EQ_INT(weights_load_partial(m, junk, &r), YOLOC_ERR_SHAPE);
    CHECK_CONTAINS(yoloc_last_error(), "no tensor matches");
    CHECK_EQ_INT(r.unused, 1);
    CHECK(memcmp(model_params(m), model_params(fresh), model_num_params(m) * sizeof(float)) == 0);
    char nofile[600];
    snprintf(nofile, sizeof nofile, "%s/none.safetensors", dir);
    CHECK(weights_load_partial(m, nofile, &r) < 0);
    CHECK_CONTAINS(yoloc_last_error(), "none.safetensors");

    unlink(good);
    unlink(missing);
    unlink(other_nc);
    unlink(i64);
    unlink(junk);
    model_free(src);
    model_free(fresh);
    model_free(m);
    model_free(src5);
}

/* yolov5n.pt's tensors into a 3-class yolov5n: all but the six class-output
 * tensors of the Detect (shape [24, c, 1, 1] here, [255, c, 1, 1] there). */
static void test_pretrained(void) {
    char w[512];
    if (!test_shared_data("weights/yolov5n.safetensors", w, sizeof w)) {
        printf(
            "  (../shared/data/weights/yolov5n.safetensors is absent: pretrained case skipped)\n");
        return;
    }
    model_spec spec;
    CHECK(model_spec_load(&spec, "yolov5n.yaml", 3) == YOLOC_OK);
    model_options opt = {.be = &OPS_BACKEND_REF, .norm = NORM_BN, .gn_groups = 32};
    model *m = NULL;
    CHECK(model_create(&m, &spec, &opt, 0) == YOLOC_OK);
    model_spec_free(&spec);
    if (!m) return;
    weights_report r;
    CHECK_EQ_INT(weights_load_partial(m, w, &r), YOLOC_OK);
    char line[1200];
    weights_report_format(&r, "yolov5n.safetensors", line, sizeof line);
    printf("  %s\n", line);
    CHECK_EQ_INT(r.items, 349);
    CHECK_EQ_INT(r.items_loaded, 343);
    CHECK_EQ_INT(r.shape_mismatch, 6);
    CHECK_EQ_INT(r.params, 1767976);
    CHECK_EQ_INT(r.params_loaded, 1767976 - 24 * (64 + 128 + 256) - 3 * 24);
    CHECK_EQ_INT(r.unused, 0);
    CHECK_EQ_INT(model_bn_batches(m), 1);
    const param_info *a = model_find(m, "model.24.anchors");
    CHECK(a && model_tensor_data(m, a)[17] == 10.1875f);
    /* and the strict loader refuses it for nc = 3, naming the first mismatch */
    CHECK_EQ_INT(weights_load(m, w), YOLOC_ERR_SHAPE);
    CHECK_CONTAINS(yoloc_last_error(), "model.24.m.0.weight' has shape [255, 64, 1, 1]");
    model_free(m);
}

/* freeze: SGD steps with every gradient 1 change exactly the unfrozen tensors. */
static void test_freeze_optim(void) {
    model *m = tiny(3, 3);
    CHECK(m != NULL);
    if (!m) return;
    size_t nf = model_freeze_layers(m, 4);
    CHECK(nf > 0);
    optim o;
    CHECK_EQ_INT(optim_init(&o, OPTIM_SGD, m), YOLOC_OK);
    size_t np = model_num_params(m);
    float *before = malloc(np * sizeof(float));
    memcpy(before, model_params(m), np * sizeof(float));
    float *g = model_grads(m);
    for (size_t i = 0; i < np; i++) g[i] = 1.0f;
    optim_group_hp hp[3];
    for (int k = 0; k < 3; k++)
        hp[k] = (optim_group_hp){.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01};
    CHECK_EQ_INT(optim_step(&o, model_params(m), g, hp), YOLOC_OK);
    size_t bad = 0, moved = 0;
    for (size_t t = 0; t < model_num_tensors(m); t++) {
        const param_info *p = model_tensor(m, t);
        if (p->buffer) continue;
        int same = memcmp(model_params(m) + p->off, before + p->off, p->numel * sizeof(float)) == 0;
        if (p->layer < 4 && !same) bad++;
        if (p->layer >= 4 && same) bad++;
        moved += !same;
    }
    CHECK_EQ_INT(bad, 0);
    printf("  freeze=4: %zu tensors frozen, %zu updated by an SGD step\n", nf, moved);
    optim_free(&o);
    free(before);
    model_free(m);
}

int main(void) {
    char dir[] = "/tmp/yoloc_finetune_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    test_bad_files(dir);
    test_pretrained();
    test_freeze_optim();
    rmdir(dir);
    return test_finish("test_finetune");
}
